package copytree

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/beneath/beneathtest"
	"github.com/mazdermind/hostpath-provisioner/pkg/copytree/copytreetest"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func lstat(t testing.TB, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Lstat(path, &st))
	return st
}

func mustOpen(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// copyTree copies the directory src into dst, a new empty directory, as a
// caller of Copy would.
func copyTree(t *testing.T, src, dst string, opt Options) (Progress, error) {
	t.Helper()
	must(t, os.Mkdir(dst, 0o700))
	return Copy(mustOpen(t, src), mustOpen(t, dst), opt)
}

// outsideDir is a directory beyond the source with a file in it, which no
// copy may read or change.
func outsideDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "secret"), []byte("not yours"), 0o600))
	return dir
}

func TestCopyKeepsModesOwnersAndTimes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: the source tree needs root (chown to other users, device nodes)")
	}
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	must(t, os.Mkdir(src, 0o755))
	copytreetest.FillSource(t, src, outsideDir(t))

	got, err := copyTree(t, src, dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Every entry: type, mode with setuid, setgid and sticky, owner, mtime,
	// content or link text; the top directory too.
	copytreetest.CompareTrees(t, src, dst, false)
	if st := lstat(t, dst); st.Mode&0o7777 != 0o750 || st.Uid != 1234 || st.Gid != 5678 {
		t.Errorf("the top directory is %o %d:%d, want the source's 0750 1234:5678", st.Mode, st.Uid, st.Gid)
	}
	if got.Copied.Skipped != 2 || got.Copied.Fifos != 1 || got.Total != (Counts{}) {
		t.Errorf("copied %+v, total %+v: want the socket and the device skipped, the fifo copied, nothing counted beforehand", got.Copied, got.Total)
	}
}

func TestASymlinkIsCopiedAsALinkAndNeverFollowed(t *testing.T) {
	dir, outside := t.TempDir(), outsideDir(t)
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	must(t, os.MkdirAll(filepath.Join(src, "in"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "in", "f"), []byte("f"), 0o644))
	links := map[string]string{
		"to-inside":  "in",
		"to-outside": outside,
		"to-secret":  filepath.Join(outside, "secret"),
		"to-root":    "/",
		"dangling":   "nowhere",
	}
	for name, target := range links {
		must(t, os.Symlink(target, filepath.Join(src, name)))
	}
	before := beneathtest.Snapshot(t, outside)

	got, err := copyTree(t, src, dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range links {
		fi, err := os.Lstat(filepath.Join(dst, name))
		text, _ := os.Readlink(filepath.Join(dst, name))
		if err != nil || fi.Mode()&os.ModeSymlink == 0 || text != want {
			t.Errorf("%s: %v -> %q, %v; want a link to %q", name, fi, text, err, want)
		}
	}
	if after := beneathtest.Snapshot(t, outside); after != before {
		t.Errorf("outside the source changed:\n%s\nwas\n%s", after, before)
	}
	if want := (Counts{Dirs: 1, Files: 1, Symlinks: int64(len(links)), Bytes: 1}); got.Copied != want {
		t.Errorf("copied %+v, want %+v: nothing behind a link", got.Copied, want)
	}
}

func TestAHardLinkInsideTheTreeStaysAHardLink(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	for _, d := range []string{"a", "b"} {
		must(t, os.MkdirAll(filepath.Join(src, d), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(src, "a", "x"), []byte("linked"), 0o644))
	must(t, os.Link(filepath.Join(src, "a", "x"), filepath.Join(src, "b", "y")))
	must(t, os.Link(filepath.Join(src, "a", "x"), filepath.Join(src, "z")))
	// Linked from outside the tree only: a file of its own in the copy.
	must(t, os.WriteFile(filepath.Join(src, "lonely"), []byte("one"), 0o644))
	must(t, os.Link(filepath.Join(src, "lonely"), filepath.Join(dir, "outside-link")))

	got, err := copyTree(t, src, dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stat := func(rel string) unix.Stat_t { return lstat(t, filepath.Join(dst, rel)) }
	x, y, z, lonely := stat("a/x"), stat("b/y"), stat("z"), stat("lonely")
	if x.Ino != y.Ino || x.Ino != z.Ino {
		t.Error("a/x, b/y and z are separate files in the copy")
	}
	if x.Nlink != 3 {
		t.Errorf("a/x has %d links in the copy, want 3", x.Nlink)
	}
	if lonely.Nlink != 1 {
		t.Errorf("lonely has %d links in the copy, want 1: its other link is outside the tree", lonely.Nlink)
	}
	if srcX := lstat(t, filepath.Join(src, "a", "x")); x.Dev == srcX.Dev && x.Ino == srcX.Ino {
		t.Error("the copy is linked to the source")
	}
	if got.Copied.Files != 4 || got.Copied.Bytes != 3*6+3 {
		t.Errorf("copied %+v: want 4 files of 21 bytes, each link counted", got.Copied)
	}
}

// swapOnOpen swaps the source directory name for a symlink to target just
// before the copy opens it, after its listing said it is a directory.
func swapOnOpen(t *testing.T, src, name, target string) {
	t.Helper()
	swapped := false
	testHookBeforeOpenDir = func(dir *os.File, n string) {
		if n != name || swapped {
			return
		}
		swapped = true
		p := filepath.Join(src, name)
		must(t, os.Rename(p, p+"-moved"))
		must(t, os.Symlink(target, p))
	}
	t.Cleanup(func() { testHookBeforeOpenDir = nil })
}

func TestASourceDirectorySwappedForASymlinkMidCopyDoesNotEscape(t *testing.T) {
	for _, tt := range []struct {
		name     string
		target   func(outside string) string
		progress func(Progress)
	}{
		{"to a directory outside, while copying", func(outside string) string { return outside }, nil},
		{"to a directory outside, while counting", func(outside string) string { return outside }, func(Progress) {}},
		{"to a directory inside the source, while copying", func(string) string { return "keep" }, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, outside := t.TempDir(), outsideDir(t)
			src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
			for _, d := range []string{"keep", "victim"} {
				must(t, os.MkdirAll(filepath.Join(src, d), 0o755))
				must(t, os.WriteFile(filepath.Join(src, d, "f"), []byte(d), 0o644))
			}
			before := beneathtest.Snapshot(t, outside)
			swapOnOpen(t, src, "victim", tt.target(outside))

			_, err := copyTree(t, src, dst, Options{Progress: tt.progress})
			if !errors.Is(err, unix.ENOTDIR) && !errors.Is(err, unix.ELOOP) || !strings.Contains(err.Error(), `"victim"`) {
				t.Fatalf("err = %v, want one naming victim as no directory", err)
			}
			if after := beneathtest.Snapshot(t, outside); after != before {
				t.Errorf("outside the source changed:\n%s\nwas\n%s", after, before)
			}
			must(t, filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.Name() == "secret" {
					t.Errorf("the copy holds %s from outside", p)
				}
				if strings.HasPrefix(p, filepath.Join(dst, "victim")+"/") {
					t.Errorf("the copy holds %s, read through the swapped link", p)
				}
				return nil
			}))
		})
	}
}

func TestTheDestinationInsideTheSourceIsNotCopiedIntoItself(t *testing.T) {
	src := t.TempDir()
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("f"), 0o644))
	dst := filepath.Join(src, "copy")
	_, err := copyTree(t, src, dst, Options{})
	if err == nil || !strings.Contains(err.Error(), "the destination lies inside the source") || !strings.Contains(err.Error(), `"copy"`) {
		t.Fatalf("err = %v, want the destination refused by name", err)
	}
	if _, err := os.Lstat(filepath.Join(dst, "copy")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the destination was copied into itself: %v", err)
	}
}
