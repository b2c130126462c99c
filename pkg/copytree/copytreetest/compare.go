package copytreetest

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// CompareTrees checks that every entry of src has its twin in dst with the
// same type, mode, owner, mtime and content (or link text); sockets and
// devices are skipped unless carried, as a snapshot does.
func CompareTrees(t testing.TB, src, dst string, specialsCarried bool) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		twin := filepath.Join(dst, rel)
		sfi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		dfi, err := os.Lstat(twin)
		special := sfi.Mode()&(fs.ModeSocket|fs.ModeDevice|fs.ModeCharDevice) != 0
		if special && !specialsCarried {
			if err == nil {
				t.Errorf("%s: a %v was copied", rel, sfi.Mode().Type())
			}
			return nil
		}
		if err != nil {
			t.Errorf("%s: missing in the clone: %v", rel, err)
			return nil
		}
		if sfi.Mode() != dfi.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, dfi.Mode(), sfi.Mode())
		}
		sst, dst := sfi.Sys().(*syscall.Stat_t), dfi.Sys().(*syscall.Stat_t)
		if sst.Uid != dst.Uid || sst.Gid != dst.Gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", rel, dst.Uid, dst.Gid, sst.Uid, sst.Gid)
		}
		if !sfi.ModTime().Equal(dfi.ModTime()) {
			t.Errorf("%s: mtime %v, want %v", rel, dfi.ModTime(), sfi.ModTime())
		}
		switch {
		case sfi.Mode().IsRegular():
			a, _ := os.ReadFile(path)
			b, _ := os.ReadFile(twin)
			if !bytes.Equal(a, b) {
				t.Errorf("%s: content differs (%d vs %d bytes)", rel, len(b), len(a))
			}
		case sfi.Mode()&fs.ModeSymlink != 0:
			a, _ := os.Readlink(path)
			b, _ := os.Readlink(twin)
			if a != b {
				t.Errorf("%s: link text %q, want %q", rel, b, a)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
