package framework

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

type mountEntry struct {
	point  string
	fstype string
}

// readMounts parses /proc/self/mountinfo, in mount order.
func readMounts() []mountEntry {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []mountEntry
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		// Optional fields end with "-", followed by the filesystem type.
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 5 || sep < 0 || sep+1 >= len(f) {
			continue
		}
		out = append(out, mountEntry{point: unescapeMount(f[4]), fstype: f[sep+1]})
	}
	return out
}

// unescapeMount decodes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountsUnder returns the mount points at or below dir, in mount order.
func mountsUnder(dir string) []string {
	var out []string
	for _, m := range readMounts() {
		if m.point == dir || strings.HasPrefix(m.point, strings.TrimSuffix(dir, "/")+"/") {
			out = append(out, m.point)
		}
	}
	return out
}

// unmountUnder unmounts everything at or below dir, newest first; a busy
// mount is detached lazily, which is enough to delete the directory tree
// without touching what was mounted.
func unmountUnder(dir string) error {
	var errs []error
	// Repeat: a detached parent can reveal mounts that were shadowed by it.
	for round := 0; round < 5; round++ {
		points := mountsUnder(dir)
		if len(points) == 0 {
			return nil
		}
		errs = errs[:0]
		for i := len(points) - 1; i >= 0; i-- {
			p := points[i]
			err := syscall.Unmount(p, 0)
			if errors.Is(err, syscall.EBUSY) {
				err = syscall.Unmount(p, syscall.MNT_DETACH)
			}
			if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
			}
		}
	}
	if left := mountsUnder(dir); len(left) > 0 {
		errs = append(errs, fmt.Errorf("still mounted under %s: %s", dir, strings.Join(left, ", ")))
	}
	return errors.Join(errs...)
}
