package quota

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/quota/quotatest"
)

// The kernel checks the size encoded in the ioctl number, so a struct that
// is a byte off fails every call with ENOTTY; pin both to linux/btrfs.h.
func TestSnapshotIoctlsMatchTheKernelHeaders(t *testing.T) {
	tests := []struct {
		name       string
		size       uintptr
		wantSize   uintptr
		number     uintptr
		wantNumber uintptr
	}{
		{"BTRFS_IOC_SNAP_CREATE_V2", unsafe.Sizeof(btrfsVolArgsV2{}), 4096, iocSnapCreateV2, 0x50009417},
		{"BTRFS_IOC_GET_SUBVOL_ROOTREF", unsafe.Sizeof(btrfsGetSubvolRootrefArgs{}), 4096, iocGetSubvolRootref, 0xd000943d},
	}
	for _, tt := range tests {
		if tt.size != tt.wantSize {
			t.Errorf("%s: argument is %d bytes, want %d", tt.name, tt.size, tt.wantSize)
		}
		if tt.number != tt.wantNumber {
			t.Errorf("%s: number %#x, want %#x", tt.name, tt.number, tt.wantNumber)
		}
	}
	if off := unsafe.Offsetof(btrfsVolArgsV2{}.Name); off != 56 {
		t.Errorf("btrfs_ioctl_vol_args_v2.name at offset %d, want 56", off)
	}
}

func TestSnapshotCopiesASubvolumeAndTheCopiesStaySeparate(t *testing.T) {
	mnt := quotatest.MountBtrfs(t, true)
	parent := mustOpenDir(t, mnt)
	if err := CreateSubvolume(int(parent.Fd()), "src"); err != nil {
		t.Fatal(err)
	}
	srcDir := filepath.Join(mnt, "src")
	must(t, os.MkdirAll(filepath.Join(srcDir, "sub"), 0o755))
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	must(t, os.WriteFile(filepath.Join(srcDir, "sub", "big"), big, 0o640))
	must(t, os.WriteFile(filepath.Join(srcDir, "small"), []byte("original"), 0o600))
	must(t, os.Symlink("/", filepath.Join(srcDir, "to-root")))

	src := mustOpenDir(t, srcDir)
	if err := Snapshot(int(src.Fd()), int(parent.Fd()), "snap"); err != nil {
		t.Fatal(err)
	}
	snapDir := filepath.Join(mnt, "snap")
	if b, err := os.ReadFile(filepath.Join(snapDir, "sub", "big")); err != nil || !bytes.Equal(b, big) {
		t.Errorf("snapshot's big file differs (%d bytes, %v)", len(b), err)
	}
	if l, err := os.Readlink(filepath.Join(snapDir, "to-root")); err != nil || l != "/" {
		t.Errorf("snapshot's symlink = %q, %v", l, err)
	}
	if fi, err := os.Stat(filepath.Join(snapDir, "sub", "big")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("snapshot's file mode = %v, %v", fi, err)
	}

	if err := os.WriteFile(filepath.Join(snapDir, "small"), []byte("changed in the snapshot"), 0o600); err != nil {
		t.Fatalf("the snapshot must be writable: %v", err)
	}
	must(t, os.WriteFile(filepath.Join(snapDir, "new"), []byte("x"), 0o600))
	if b, _ := os.ReadFile(filepath.Join(srcDir, "small")); string(b) != "original" {
		t.Errorf("writing the snapshot changed the source: %q", b)
	}
	if _, err := os.Stat(filepath.Join(srcDir, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file made in the snapshot appeared in the source: %v", err)
	}

	if err := Snapshot(int(src.Fd()), int(parent.Fd()), "snap"); !errors.Is(err, unix.EEXIST) {
		t.Errorf("snapshot onto an existing name: %v, want EEXIST", err)
	}
}

func TestSnapshotRefusesNamesThatAreNotOneComponent(t *testing.T) {
	for _, name := range []string{"", ".", "..", "a/b", "nul\x00"} {
		if err := Snapshot(-1, -1, name); err == nil {
			t.Errorf("Snapshot(%q) succeeded", name)
		}
	}
}

func TestIsSubvolumeTellsSubvolumesFromDirectories(t *testing.T) {
	mnt := quotatest.MountBtrfs(t, false)
	parent := mustOpenDir(t, mnt)
	if err := CreateSubvolume(int(parent.Fd()), "vol"); err != nil {
		t.Fatal(err)
	}
	must(t, os.Mkdir(filepath.Join(mnt, "dir"), 0o755))
	tests := []struct {
		name string
		path string
		want bool
	}{
		{"a created subvolume is one", filepath.Join(mnt, "vol"), true},
		{"the top of the filesystem is one", mnt, true},
		{"a plain directory on btrfs is not", filepath.Join(mnt, "dir"), false},
		{"a directory on another filesystem is not", t.TempDir(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsSubvolume(int(mustOpenDir(t, tt.path).Fd())); got != tt.want {
				t.Errorf("IsSubvolume = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHasNestedSubvolumesSeesSubvolumesAnywhereBelow(t *testing.T) {
	mnt := quotatest.MountBtrfs(t, false)
	parent := mustOpenDir(t, mnt)
	for _, name := range []string{"plain", "outer"} {
		if err := CreateSubvolume(int(parent.Fd()), name); err != nil {
			t.Fatal(err)
		}
	}
	must(t, os.MkdirAll(filepath.Join(mnt, "outer", "deep", "er"), 0o755))
	if err := CreateSubvolume(int(mustOpenDir(t, filepath.Join(mnt, "outer", "deep", "er")).Fd()), "inner"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want bool
	}{
		{"a subvolume without children has none", "plain", false},
		{"a subvolume with one deep inside has one", "outer", true},
		{"asked from a directory inside, the answer is the subvolume's", "outer/deep", true},
		{"the nested subvolume itself has none", "outer/deep/er/inner", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HasNestedSubvolumes(int(mustOpenDir(t, filepath.Join(mnt, tt.path)).Fd()))
			if err != nil || got != tt.want {
				t.Errorf("HasNestedSubvolumes = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
