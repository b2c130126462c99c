package beneath

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

var fuzzNames = []string{"a", "b", "c", "d"}

// fuzzPath is the relative path spelled by b: one name per byte, at most
// four.
func fuzzPath(b []byte) string {
	var names []string
	for i, c := range b {
		if i == 4 {
			break
		}
		names = append(names, fuzzNames[int(c)%len(fuzzNames)])
	}
	return strings.Join(names, "/")
}

// buildFuzzTree plants what spec says below root: each entry is three
// bytes (what, where, a path length), a directory, a file or a symlink
// with one of the targets a tenant would try. Nothing is made where a
// parent is not a real directory (the test must not follow links either).
func buildFuzzTree(t *testing.T, root, outside string, spec []byte) {
	targets := []string{"a", "b/c", "..", "../..", "../../..", "/", outside, filepath.Join(outside, "a"),
		root, filepath.Join(root, "a"), "nowhere", "", "a/../..", "."}
	for len(spec) >= 3 {
		what, where, n := spec[0], spec[1:], int(spec[2]%4)+1
		spec = spec[3:]
		rel := fuzzPath(where[:min(n, len(where))])
		comps := strings.Split(rel, "/")
		dir := root
		ok := true
		for _, c := range comps[:len(comps)-1] {
			dir = filepath.Join(dir, c)
			var st unix.Stat_t
			err := unix.Lstat(dir, &st)
			if errors.Is(err, unix.ENOENT) {
				err = unix.Mkdir(dir, 0o755)
			} else if err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
				ok = false
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !ok {
			continue
		}
		p := filepath.Join(dir, comps[len(comps)-1])
		switch what % 4 {
		case 0, 1:
			_ = unix.Mkdir(p, 0o755)
		case 2:
			_ = unix.Mknodat(unix.AT_FDCWD, p, unix.S_IFREG|0o644, 0)
		case 3:
			target := targets[int(what/4)%len(targets)]
			if target == "" {
				target = comps[len(comps)-1] // a loop
			}
			_ = unix.Symlink(target, p)
		}
	}
}

// expectation is what resolving rel must give, found by lstat on each
// prefix of it in the (static) tree.
type expectation struct {
	symlinkAt, notDirAt string // the first component that is a link / a non-directory
	missing             bool
	st                  unix.Stat_t // of the directory reached, if any
}

func expect(t *testing.T, root, rel string) expectation {
	comps := strings.Split(rel, "/")
	for i := range comps {
		prefix := strings.Join(comps[:i+1], "/")
		var st unix.Stat_t
		err := unix.Lstat(filepath.Join(root, prefix), &st)
		switch {
		case errors.Is(err, unix.ENOENT):
			return expectation{missing: true}
		case err != nil:
			t.Fatal(err)
		case st.Mode&unix.S_IFMT == unix.S_IFLNK:
			return expectation{symlinkAt: prefix}
		case st.Mode&unix.S_IFMT != unix.S_IFDIR:
			return expectation{notDirAt: prefix}
		case i == len(comps)-1:
			return expectation{st: st}
		}
	}
	panic("unreachable")
}

func (e expectation) check(t *testing.T, op, rel string, err error, got *unix.Stat_t) {
	t.Helper()
	var se *SymlinkError
	var pe *fs.PathError
	switch {
	case e.symlinkAt != "":
		if !errors.As(err, &se) || se.Component != e.symlinkAt {
			t.Fatalf("%s(%q) = %v, want a symlink at %q", op, rel, err, e.symlinkAt)
		}
	case e.notDirAt != "":
		if !errors.Is(err, unix.ENOTDIR) || !errors.As(err, &pe) || pe.Path != e.notDirAt || errors.Is(err, ErrSymlink) {
			t.Fatalf("%s(%q) = %v, want %q not a directory", op, rel, err, e.notDirAt)
		}
	case e.missing:
		if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrSymlink) {
			t.Fatalf("%s(%q) = %v, want not-exist", op, rel, err)
		}
	default:
		if err != nil {
			t.Fatalf("%s(%q) = %v, want the directory", op, rel, err)
		}
		if got != nil && (got.Dev != e.st.Dev || got.Ino != e.st.Ino) {
			t.Fatalf("%s(%q) reached %d/%d, want the real directory %d/%d", op, rel, got.Dev, got.Ino, e.st.Dev, e.st.Ino)
		}
	}
}

// FuzzResolve builds a small tree with symlinks in arbitrary places and
// resolves a path in it both ways: each answer is a symlink error naming
// the first link, a not-a-directory or not-exist error, or the real
// directory reached through no link. Then it creates and removes below
// that path; nothing outside the root may ever change.
func FuzzResolve(f *testing.F) {
	f.Add([]byte{0, 0, 1, 3, 0, 0}, []byte{0, 1})       // a/b below a link a -> a
	f.Add([]byte{0, 0, 2, 27, 1, 1}, []byte{0, 1, 2})   // a/b/c, then b -> outside/a
	f.Add([]byte{0, 0, 3, 11, 0, 1}, []byte{0, 0, 0})   // a link to / in the middle
	f.Add([]byte{0, 0, 2, 2, 0, 2}, []byte{0, 0, 0, 1}) // a file in the middle
	f.Add([]byte{3, 0, 0}, []byte{0})                   // a link to "a" named a: a loop
	f.Add([]byte{0, 1, 2, 15, 1, 1}, []byte{1, 1, 0})   // b -> ".."
	f.Fuzz(func(t *testing.T, spec, query []byte) {
		if len(query) == 0 || len(spec) > 60 {
			return
		}
		tmp := t.TempDir()
		root, outside := filepath.Join(tmp, "root"), filepath.Join(tmp, "outside")
		for _, d := range []string{filepath.Join(root, "a"), filepath.Join(outside, "a/b/c/d")} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(outside, "a/canary"), []byte("outside"), 0o644); err != nil {
			t.Fatal(err)
		}
		buildFuzzTree(t, root, outside, spec)
		rootDir := mustOpen(t, root)
		before := snapshot(t, outside) + "\n" + topLevel(t, tmp)
		rel := fuzzPath(query)

		for _, viaOpenat2 := range []bool{true, false} {
			useOpenat2.Store(viaOpenat2)
			e := expect(t, root, rel)
			d, err := OpenDir(rootDir, rel)
			var st unix.Stat_t
			if err == nil {
				if err := unix.Fstat(int(d.Fd()), &st); err != nil {
					t.Fatal(err)
				}
				d.Close()
				e.check(t, "OpenDir", rel, nil, &st)
			} else {
				e.check(t, "OpenDir", rel, err, nil)
			}
			if parent, _, perr := OpenParent(rootDir, rel+"/x"); perr == nil {
				parent.Close()
				e.check(t, "OpenParent", rel+"/x", nil, nil)
			} else {
				e.check(t, "OpenParent", rel+"/x", perr, nil)
			}
		}
		useOpenat2.Store(true)

		// Changes below the path: each lands below the root or nowhere.
		_ = Mkdir(rootDir, rel, 0o755)
		_ = Mkdir(rootDir, rel+"/made", 0o755)
		if w, err := CreateFile(rootDir, rel+"/made/file", os.O_WRONLY, 0o644); err == nil {
			w.Close()
		}
		if parent, name, err := OpenParent(rootDir, rel); err == nil {
			_ = RemoveAll(parent, name)
			parent.Close()
		}
		_ = RemoveAll(rootDir, "a")
		if after := snapshot(t, outside) + "\n" + topLevel(t, tmp); after != before {
			t.Fatalf("outside the root changed:\n%s\nwas\n%s", after, before)
		}
	})
}

// topLevel lists the entries of dir (the parent of the root: a link to
// ".." from the root leads there).
func topLevel(t *testing.T, dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}
