package beneath

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/beneath/beneathtest"
)

// bothWays runs fn once resolving with openat2 and once with the
// component-by-component fallback.
func bothWays(t *testing.T, fn func(t *testing.T)) {
	for _, tt := range []struct {
		name    string
		openat2 bool
	}{{"openat2", true}, {"fallback", false}} {
		t.Run(tt.name, func(t *testing.T) {
			withOpenat2(t, tt.openat2)
			fn(t)
		})
	}
}

// withOpenat2 sets the package switch for the rest of the test.
func withOpenat2(t testing.TB, on bool) {
	old := useOpenat2.Load()
	useOpenat2.Store(on)
	t.Cleanup(func() { useOpenat2.Store(old) })
}

func mustOpen(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var snapshot = beneathtest.Snapshot

// fixture is a root with the tree a/b/c/data, a mirror of it inside the
// root (x/a/b/c/data) and one outside (outside/a/b/c/data), each with a
// canary file, so that following a link anywhere would succeed and show.
type fixture struct {
	root, outside string
	rootDir       *os.File
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	tmp := t.TempDir()
	f := fixture{root: filepath.Join(tmp, "root"), outside: filepath.Join(tmp, "outside")}
	for _, d := range []string{filepath.Join(f.root, "a/b/c/data"), filepath.Join(f.root, "x/a/b/c/data"), filepath.Join(f.outside, "a/b/c/data")} {
		must(t, os.MkdirAll(d, 0o755))
		must(t, os.WriteFile(filepath.Join(d, "canary"), []byte("keep "+d), 0o644))
	}
	f.rootDir = mustOpen(t, f.root)
	return f
}

const deepPath = "a/b/c/data"

func TestEveryOperationRefusesASymlinkInEveryComponent(t *testing.T) {
	comps := strings.Split(deepPath, "/")
	targets := []struct {
		name   string
		target func(f fixture, prefix string, depth int) string
	}{
		{"a relative link that stays inside", func(f fixture, prefix string, depth int) string {
			return strings.Repeat("../", depth) + "x/" + prefix
		}},
		{"an absolute link into the root", func(f fixture, prefix string, _ int) string { return filepath.Join(f.root, "x", prefix) }},
		{"an absolute link outside", func(f fixture, prefix string, _ int) string { return filepath.Join(f.outside, prefix) }},
		{"a link to ..", func(fixture, string, int) string { return ".." }},
		{"a link to /", func(fixture, string, int) string { return "/" }},
		{"a dangling link", func(fixture, string, int) string { return "nowhere" }},
		{"a link to itself", func(_ fixture, prefix string, _ int) string { return filepath.Base(prefix) }},
	}
	ops := []struct {
		name string
		rel  func(prefix string) string // the path operated on, given the link's position
		do   func(dir *os.File, rel string) error
	}{
		{"OpenDir", func(string) string { return deepPath }, func(dir *os.File, rel string) error {
			f, err := OpenDir(dir, rel)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"OpenParent", func(string) string { return deepPath + "/new" }, func(dir *os.File, rel string) error {
			f, _, err := OpenParent(dir, rel)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"Lstat", func(string) string { return deepPath + "/canary" }, func(dir *os.File, rel string) error {
			_, err := Lstat(dir, rel)
			return err
		}},
		{"Mkdir", func(string) string { return deepPath + "/new" }, func(dir *os.File, rel string) error {
			return Mkdir(dir, rel, 0o755)
		}},
		{"CreateFile", func(string) string { return deepPath + "/new" }, func(dir *os.File, rel string) error {
			f, err := CreateFile(dir, rel, os.O_WRONLY, 0o644)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"RemoveAll below the link", func(prefix string) string { return deepPath + "/canary" }, func(dir *os.File, rel string) error {
			parent, name, err := OpenParent(dir, rel)
			if err != nil {
				return err
			}
			defer parent.Close()
			return RemoveAll(parent, name)
		}},
	}
	bothWays(t, func(t *testing.T) {
		for depth := range comps {
			prefix := strings.Join(comps[:depth+1], "/")
			for _, tg := range targets {
				for _, op := range ops {
					t.Run(fmt.Sprintf("%s at %s is refused by %s", tg.name, prefix, op.name), func(t *testing.T) {
						f := newFixture(t)
						link := filepath.Join(f.root, prefix)
						must(t, os.RemoveAll(link))
						must(t, os.Symlink(tg.target(f, prefix, depth), link))
						beforeOut, beforeRoot := snapshot(t, f.outside), snapshot(t, f.root)

						rel := op.rel(prefix)
						err := op.do(f.rootDir, rel)
						var se *SymlinkError
						if !errors.As(err, &se) || !errors.Is(err, ErrSymlink) {
							t.Fatalf("err = %v, want a *SymlinkError", err)
						}
						if se.Component != prefix || se.Path != rel {
							t.Errorf("SymlinkError{Path: %q, Component: %q}, want component %q of %q", se.Path, se.Component, prefix, rel)
						}
						if want := "component " + prefix + " of " + rel + " is a symlink"; err.Error() != want {
							t.Errorf("message %q, want %q", err.Error(), want)
						}
						if after := snapshot(t, f.outside); after != beforeOut {
							t.Errorf("outside the root changed:\n%s\nwas\n%s", after, beforeOut)
						}
						if after := snapshot(t, f.root); after != beforeRoot {
							t.Errorf("the root changed:\n%s\nwas\n%s", after, beforeRoot)
						}
					})
				}
			}
		}
	})
}

func TestPathsThatAreNotSingleNamesAreRefusedBeforeAnythingIsOpened(t *testing.T) {
	f := newFixture(t)
	for _, rel := range []string{"", ".", "..", "a/..", "../a", "a/./b", "a//b", "a/", "/a", "/"} {
		if _, err := OpenDir(f.rootDir, rel); err == nil || errors.Is(err, ErrSymlink) {
			t.Errorf("OpenDir(%q) = %v, want a refusal", rel, err)
		}
		if err := Mkdir(f.rootDir, rel, 0o755); err == nil {
			t.Errorf("Mkdir(%q) succeeded", rel)
		}
	}
	for _, name := range []string{"a/b", "", "..", "."} {
		if err := RemoveAll(f.rootDir, name); err == nil {
			t.Errorf("RemoveAll(%q) succeeded", name)
		}
		if err := Rename(f.rootDir, "a", f.rootDir, name, 0); err == nil {
			t.Errorf("Rename to %q succeeded", name)
		}
	}
	if _, err := os.Stat(filepath.Join(f.root, "a/b/c/data/canary")); err != nil {
		t.Errorf("the tree was touched: %v", err)
	}
}

func TestResolvingRealDirectories(t *testing.T) {
	bothWays(t, func(t *testing.T) {
		f := newFixture(t)
		must(t, os.WriteFile(filepath.Join(f.root, "a/file"), nil, 0o644))
		must(t, os.Symlink("canary", filepath.Join(f.root, deepPath, "last-link")))

		t.Run("a directory opens as itself", func(t *testing.T) {
			d, err := OpenDir(f.rootDir, deepPath)
			must(t, err)
			defer d.Close()
			var got, want unix.Stat_t
			must(t, unix.Fstat(int(d.Fd()), &got))
			must(t, unix.Lstat(filepath.Join(f.root, deepPath), &want))
			if got.Dev != want.Dev || got.Ino != want.Ino {
				t.Errorf("opened %d/%d, want %d/%d", got.Dev, got.Ino, want.Dev, want.Ino)
			}
		})
		t.Run("a missing component is not-exist", func(t *testing.T) {
			if _, err := OpenDir(f.rootDir, "a/missing/c"); !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrSymlink) {
				t.Errorf("err = %v", err)
			}
		})
		t.Run("a file where a directory is needed names the file", func(t *testing.T) {
			_, err := OpenDir(f.rootDir, "a/file/x")
			var pe *fs.PathError
			if !errors.Is(err, unix.ENOTDIR) || !errors.As(err, &pe) || pe.Path != "a/file" || errors.Is(err, ErrSymlink) {
				t.Errorf("err = %#v", err)
			}
		})
		t.Run("Lstat describes a last-component link without following it", func(t *testing.T) {
			st, err := Lstat(f.rootDir, deepPath+"/last-link")
			if err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
				t.Errorf("Lstat = %o, %v", st.Mode, err)
			}
		})
		t.Run("OpenParent of a single name is the directory itself", func(t *testing.T) {
			p, name, err := OpenParent(f.rootDir, "a")
			must(t, err)
			defer p.Close()
			var got, want unix.Stat_t
			must(t, unix.Fstat(int(p.Fd()), &got))
			must(t, unix.Fstat(int(f.rootDir.Fd()), &want))
			if name != "a" || got.Ino != want.Ino {
				t.Errorf("OpenParent = %d %q", got.Ino, name)
			}
		})
		t.Run("Mkdir and CreateFile make what they are asked below real directories", func(t *testing.T) {
			must(t, Mkdir(f.rootDir, deepPath+"/new", 0o750))
			if err := Mkdir(f.rootDir, deepPath+"/new", 0o750); !errors.Is(err, fs.ErrExist) {
				t.Errorf("a second Mkdir = %v, want ErrExist", err)
			}
			w, err := CreateFile(f.rootDir, deepPath+"/new/file", os.O_WRONLY, 0o600)
			must(t, err)
			_, err = w.WriteString("hello")
			must(t, err)
			must(t, w.Close())
			if b, _ := os.ReadFile(filepath.Join(f.root, deepPath, "new/file")); string(b) != "hello" {
				t.Errorf("file = %q", b)
			}
			if _, err := CreateFile(f.rootDir, deepPath+"/last-link", os.O_WRONLY, 0o600); !errors.Is(err, fs.ErrExist) {
				t.Errorf("CreateFile over a link = %v, want ErrExist", err)
			}
		})
		t.Run("Rename with RENAME_NOREPLACE keeps what is there", func(t *testing.T) {
			must(t, os.Mkdir(filepath.Join(f.root, "taken"), 0o755))
			if err := Rename(f.rootDir, "x", f.rootDir, "taken", unix.RENAME_NOREPLACE); !errors.Is(err, fs.ErrExist) {
				t.Errorf("err = %v, want ErrExist", err)
			}
			must(t, Rename(f.rootDir, "x", f.rootDir, "y", unix.RENAME_NOREPLACE))
			if _, err := os.Stat(filepath.Join(f.root, "y/a/b/c/data/canary")); err != nil {
				t.Error(err)
			}
		})
	})
}

// A component that flips between a directory and a symlink while we
// resolve: every success must be the real directory, every failure a
// symlink or a missing entry. Nothing is ever reached through the link.
func TestResolutionRacingASwapNeverFollowsTheLink(t *testing.T) {
	bothWays(t, func(t *testing.T) {
		f := newFixture(t)
		var want unix.Stat_t
		must(t, unix.Lstat(filepath.Join(f.root, deepPath), &want))
		b, held := filepath.Join(f.root, "a/b"), filepath.Join(f.root, "held")
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Go(func() {
			for !stop.Load() {
				_ = os.Rename(b, held)
				_ = os.Symlink(filepath.Join(f.outside, "a/b"), b)
				_ = os.Remove(b)
				_ = os.Rename(held, b)
			}
		})
		defer func() { stop.Store(true); wg.Wait() }()
		ok := 0
		for range 3000 {
			d, err := OpenDir(f.rootDir, deepPath)
			if err != nil {
				if !errors.Is(err, ErrSymlink) && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.EAGAIN) {
					t.Fatalf("err = %v", err)
				}
				continue
			}
			var got unix.Stat_t
			must(t, unix.Fstat(int(d.Fd()), &got))
			d.Close()
			if got.Dev != want.Dev || got.Ino != want.Ino {
				t.Fatal("resolved through the symlink")
			}
			ok++
		}
		t.Logf("%d of 3000 resolutions met the real directory", ok)
	})
}

func TestRemoveAllRemovesDeepTreesOfAnyOwnerWithoutFollowing(t *testing.T) {
	f := newFixture(t)
	vol := filepath.Join(f.root, "vol")
	deep := filepath.Join(vol, strings.Repeat("d/", 60))
	must(t, os.MkdirAll(deep, 0o755))
	must(t, os.WriteFile(filepath.Join(deep, "f"), []byte("x"), 0o644))
	for name, target := range map[string]string{
		"to-outside": f.outside, "to-canary": filepath.Join(f.outside, "a/b/c/data/canary"), "to-root": "/",
		"up": "../../..", "dangling": "nowhere", "loop": "loop", "to-sibling": "../x",
	} {
		must(t, os.Symlink(target, filepath.Join(vol, name)))
	}
	must(t, unix.Mkfifo(filepath.Join(vol, "fifo"), 0o600))
	ro := filepath.Join(vol, "readonly")
	must(t, os.MkdirAll(filepath.Join(ro, "x"), 0o755))
	must(t, os.WriteFile(filepath.Join(ro, "x/f"), nil, 0o400))
	must(t, os.Chmod(ro, 0o500))
	if os.Geteuid() == 0 {
		must(t, os.Lchown(ro, 1234, 5678))
		must(t, os.Chmod(filepath.Join(ro, "x"), 0))
	}
	before, beforeX := snapshot(t, f.outside), snapshot(t, filepath.Join(f.root, "x"))

	must(t, RemoveAll(f.rootDir, "vol"))
	if _, err := os.Lstat(vol); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("vol is still there: %v", err)
	}
	if snapshot(t, f.outside) != before || snapshot(t, filepath.Join(f.root, "x")) != beforeX {
		t.Error("something a link pointed to was changed")
	}
	if err := RemoveAll(f.rootDir, "vol"); err != nil {
		t.Errorf("removing what is gone = %v, want success", err)
	}
	// A link at the top is removed as a link.
	must(t, os.Symlink(f.outside, filepath.Join(f.root, "link")))
	must(t, RemoveAll(f.rootDir, "link"))
	if snapshot(t, f.outside) != before {
		t.Error("RemoveAll of a link followed it")
	}
}

func TestRemoveAllUnlinksADirectorySwappedForASymlinkInsteadOfFollowingIt(t *testing.T) {
	for _, swapAt := range []string{"victim", "inner"} {
		t.Run("swapping "+swapAt, func(t *testing.T) {
			f := newFixture(t)
			must(t, os.MkdirAll(filepath.Join(f.root, "vol/victim/inner"), 0o755))
			must(t, os.WriteFile(filepath.Join(f.root, "vol/victim/inner/f"), nil, 0o644))
			before := snapshot(t, f.outside)
			swapped := false
			testHookBeforeOpenDir = func(dir int, name string) {
				if name != swapAt || swapped {
					return
				}
				swapped = true
				// The directory moves away (still inside the root) and a
				// link to the outside takes its name.
				must(t, unix.Renameat(dir, name, int(f.rootDir.Fd()), "moved-away"))
				must(t, unix.Symlinkat(filepath.Join(f.outside, "a"), dir, name))
			}
			defer func() { testHookBeforeOpenDir = nil }()

			must(t, RemoveAll(f.rootDir, "vol"))
			if !swapped {
				t.Fatal("the hook never ran")
			}
			if after := snapshot(t, f.outside); after != before {
				t.Errorf("the canary directory changed:\n%s\nwas\n%s", after, before)
			}
			if _, err := os.Lstat(filepath.Join(f.root, "vol")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("vol is still there: %v", err)
			}
		})
	}
}

func TestSymlinkErrorWithoutAComponent(t *testing.T) {
	err := error(&SymlinkError{Path: "a/b"})
	if err.Error() != "a component of a/b is a symlink" || !errors.Is(err, ErrSymlink) {
		t.Errorf("%v", err)
	}
	if errors.Is(fmt.Errorf("wrapped: %w", err), fs.ErrNotExist) || !errors.Is(fmt.Errorf("wrapped: %w", err), ErrSymlink) {
		t.Error("matching through a wrap")
	}
	if bytes.Contains([]byte(err.Error()), []byte("%!")) {
		t.Error(err)
	}
}

func TestOpenDirAtOpensOnlyARealDirectoryAndSaysWhyNot(t *testing.T) {
	root := t.TempDir()
	must(t, os.Mkdir(filepath.Join(root, "dir"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "file"), nil, 0o644))
	must(t, os.Symlink("dir", filepath.Join(root, "link")))
	must(t, os.Symlink(t.TempDir(), filepath.Join(root, "outside")))
	top := mustOpen(t, root)
	for _, tt := range []struct {
		name string
		want []unix.Errno // any of these; nil: it opens
	}{
		{"dir", nil},
		{"file", []unix.Errno{unix.ENOTDIR}},
		{"link", []unix.Errno{unix.ENOTDIR, unix.ELOOP}},
		{"outside", []unix.Errno{unix.ENOTDIR, unix.ELOOP}},
		{"missing", []unix.Errno{unix.ENOENT}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fd, err := OpenDirAt(int(top.Fd()), tt.name)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("OpenDirAt(%s) = %v", tt.name, err)
				}
				unix.Close(fd)
				return
			}
			if err == nil {
				unix.Close(fd)
				t.Fatalf("OpenDirAt(%s) opened it", tt.name)
			}
			matches := false
			for _, w := range tt.want {
				matches = matches || errors.Is(err, w)
			}
			// Bare: the caller's message names the entry, once.
			var errno unix.Errno
			if !matches || !errors.As(err, &errno) || err.Error() != errno.Error() {
				t.Errorf("OpenDirAt(%s) = %q, want the bare errno, one of %v", tt.name, err, tt.want)
			}
		})
	}
}
