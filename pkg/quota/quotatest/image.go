package quotatest

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// MountImage formats a sparse image of size bytes with mkfs (the command
// and its flags; the image path is appended), loop-mounts it as fsType
// with the extra mount options opts and returns the mount point; it is
// unmounted at cleanup. Where that is impossible it skips, saying which
// step failed and, for a refused mount, what the kernel logged about it.
func MountImage(t testing.TB, fsType string, size int64, mkfs []string, opts string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting a filesystem image needs root")
	}
	if _, err := exec.LookPath(mkfs[0]); err != nil {
		t.Skipf("skipping: %s not installed (Debian: e2fsprogs / xfsprogs)", mkfs[0])
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Truncate(size)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs[0], append(mkfs[1:], img)...).CombinedOutput(); err != nil {
		t.Skipf("skipping: %s refused: %v %s", strings.Join(mkfs, " "), err, out)
	}
	mountOpts := "loop"
	if opts != "" {
		mountOpts += "," + opts
	}
	klog := followKernelLog()
	defer klog.close()
	if out, err := exec.Command("mount", "-t", fsType, "-o", mountOpts, img, mnt).CombinedOutput(); err != nil {
		t.Skipf("skipping: the kernel refuses to mount %s with -o %s: %v: %s; kernel log: %s",
			fsType, mountOpts, err, strings.TrimSpace(string(out)), klog.about(fsType))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", mnt, err, strings.TrimSpace(string(out)))
		}
	})
	return mnt
}

// kernelLog reads what the kernel logs from the moment it is opened: the
// reason for a refused mount is only there.
type kernelLog struct{ fd int }

func followKernelLog() kernelLog {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return kernelLog{fd: -1}
	}
	if _, err := unix.Seek(fd, 0, io.SeekEnd); err != nil {
		unix.Close(fd)
		return kernelLog{fd: -1}
	}
	return kernelLog{fd: fd}
}

// about returns the new records that mention fsType (the log is shared
// with everything else happening on the machine).
func (k kernelLog) about(fsType string) string {
	if k.fd < 0 {
		return "(unavailable)"
	}
	var found []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(k.fd, buf)
		if errors.Is(err, unix.EPIPE) { // records overwritten while we read
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		// A record is "prio,seq,time,flags;message\n" plus
		// continuation lines.
		rec := string(buf[:n])
		msg, _, _ := strings.Cut(rec[strings.IndexByte(rec, ';')+1:], "\n")
		if strings.Contains(strings.ToLower(msg), fsType) {
			found = append(found, msg)
		}
	}
	if len(found) == 0 {
		return "(nothing about " + fsType + ")"
	}
	return strings.Join(found, " | ")
}

func (k kernelLog) close() {
	if k.fd >= 0 {
		unix.Close(k.fd)
	}
}

// MountProjectQuota mounts a fresh XFS or ext4 image ("xfs" or "ext4") with
// project quotas on (-o prjquota), or skips saying why not.
func MountProjectQuota(t testing.TB, fsType string) string {
	t.Helper()
	switch fsType {
	case "ext4":
		return MountImage(t, "ext4", 64<<20, []string{"mkfs.ext4", "-q", "-F", "-I", "256", "-O", "project,quota"}, "prjquota")
	case "xfs":
		return MountImage(t, "xfs", 320<<20, []string{"mkfs.xfs", "-q", "-f"}, "prjquota")
	}
	t.Fatalf("MountProjectQuota: %q is not xfs or ext4", fsType)
	return ""
}
