package quota

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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

func TestBtrfsSubvolumeWithLimitRefusesWritesBeyondIt(t *testing.T) {
	mnt := MountBtrfs(t, true)
	parent, err := os.Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Close()
	if k, name, err := Detect(int(parent.Fd())); err != nil || k != Btrfs {
		t.Fatalf("Detect = %v %s %v", k, name, err)
	}
	if err := CreateSubvolume(int(parent.Fd()), "vol"); err != nil {
		t.Fatal(err)
	}
	vol, err := os.Open(filepath.Join(mnt, "vol"))
	if err != nil {
		t.Fatal(err)
	}
	defer vol.Close()
	if err := SetLimit(int(vol.Fd()), 10<<20); err != nil {
		t.Fatal(err)
	}
	err = writeMiB(filepath.Join(mnt, "vol", "big"), 20)
	if !errors.Is(err, unix.EDQUOT) {
		t.Fatalf("writing 20MiB into a 10MiB subvolume: %v, want EDQUOT", err)
	}
	if err := writeMiB(filepath.Join(mnt, "neighbour"), 20); err != nil {
		t.Fatalf("outside the subvolume the limit must not apply: %v", err)
	}
	if err := CreateSubvolume(int(parent.Fd()), "vol"); !errors.Is(err, unix.EEXIST) {
		t.Errorf("creating an existing subvolume: %v, want EEXIST", err)
	}
	// An empty subvolume is removed like a directory (kernel >= 4.18).
	os.Remove(filepath.Join(mnt, "vol", "big"))
	if err := os.Remove(filepath.Join(mnt, "vol")); err != nil {
		t.Errorf("removing the subvolume: %v", err)
	}
}

func TestSetLimitSaysWhenQuotasAreOff(t *testing.T) {
	mnt := MountBtrfs(t, false)
	parent, _ := os.Open(mnt)
	defer parent.Close()
	if err := CreateSubvolume(int(parent.Fd()), "vol"); err != nil {
		t.Fatal(err)
	}
	vol, _ := os.Open(filepath.Join(mnt, "vol"))
	defer vol.Close()
	if err := SetLimit(int(vol.Fd()), 1<<20); !errors.Is(err, ErrQuotaDisabled) {
		t.Fatalf("err = %v, want ErrQuotaDisabled", err)
	}
}

func writeMiB(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	for range n {
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
