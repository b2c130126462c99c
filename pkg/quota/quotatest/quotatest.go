// Package quotatest provides real filesystems for tests: sparse images,
// formatted and loop-mounted (btrfs with or without quotas, XFS and ext4
// with project quotas), skipping with the reason where the kernel or the
// machine cannot.
package quotatest

import (
	"os/exec"
	"testing"
)

// MountBtrfs formats a sparse image as btrfs, mounts it through a loop
// device and returns the mount point; it is unmounted at cleanup. It skips
// (saying why) where that is impossible: not root, no mkfs.btrfs, no loop
// devices or no btrfs in the kernel.
func MountBtrfs(t testing.TB, quotas bool) string {
	t.Helper()
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil {
		t.Skip("skipping: mkfs.btrfs not installed (Debian package btrfs-progs; `make apt-deps` installs it)")
	}
	mnt := MountImage(t, "btrfs", 512<<20, []string{"mkfs.btrfs", "-q"}, "")
	if quotas {
		if out, err := exec.Command("btrfs", "quota", "enable", mnt).CombinedOutput(); err != nil {
			t.Fatalf("btrfs quota enable %s: %v\n%s", mnt, err, out)
		}
	}
	return mnt
}
