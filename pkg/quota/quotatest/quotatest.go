// Package quotatest provides a real btrfs filesystem for tests: a sparse
// image, formatted and loop-mounted, with or without quotas.
package quotatest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// MountBtrfs formats a sparse image as btrfs, mounts it through a loop
// device and returns the mount point; it is unmounted at cleanup. It skips
// (saying why) where that is impossible: not root, no mkfs.btrfs, no loop
// devices or no btrfs in the kernel.
func MountBtrfs(t testing.TB, quotas bool) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting a btrfs image needs root")
	}
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil {
		t.Skip("skipping: mkfs.btrfs not installed (Debian package btrfs-progs; `make apt-deps` installs it)")
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(512 << 20)
	f.Close()
	run("mkfs.btrfs", "-q", img)
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot loop-mount a btrfs image here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	if quotas {
		run("btrfs", "quota", "enable", mnt)
	}
	return mnt
}
