package quota

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/quota/quotatest"
)

func TestBtrfsSubvolumeWithLimitRefusesWritesBeyondIt(t *testing.T) {
	mnt := quotatest.MountBtrfs(t, true)
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
	mnt := quotatest.MountBtrfs(t, false)
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
