// Package copytreetest has the trees that tests of a copy (package
// copytree's own, and package volume's of a clone) fill their sources with
// and compare their copies against.
package copytreetest

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stamp is the time every entry of a FillSource tree has, so a copy that
// loses times shows.
var stamp = time.Date(2024, 2, 29, 12, 34, 56, 789, time.UTC)

// FillSource puts one of everything a copy must carry (or must not) into
// dir; outside is a directory beyond the base path with a canary in it.
func FillSource(t testing.TB, dir, outside string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	p := func(rel string) string { return filepath.Join(dir, rel) }
	for _, d := range []string{"data", "shared", "links", "hard", "readonly", "deep/" + strings.Repeat("d/", 30)} {
		must(os.MkdirAll(p(d), 0o755))
	}
	must(os.WriteFile(p("data/hello.txt"), []byte("hello"), 0o644))
	must(os.WriteFile(p("data/empty"), nil, 0o600))
	must(os.WriteFile(p("deep/"+strings.Repeat("d/", 30)+"bottom"), []byte("deep"), 0o644))
	must(os.WriteFile(p("readonly/x"), []byte("x"), 0o444))

	// Owner before mode: chown clears setuid and setgid.
	must(os.Lchown(p("shared"), 1234, 5678))
	must(os.Chmod(p("shared"), 0o770|fs.ModeSetgid))
	must(os.WriteFile(p("shared/bin"), []byte("#!/bin/true\n"), 0o755))
	must(os.Lchown(p("shared/bin"), 1234, 5678))
	must(os.Chmod(p("shared/bin"), 0o755|fs.ModeSetuid))
	must(os.Mkdir(p("sticky"), 0o755))
	must(os.Chmod(p("sticky"), 0o777|fs.ModeSticky))

	sparse, err := os.Create(p("data/sparse"))
	must(err)
	_, err = sparse.WriteAt([]byte("head"), 0)
	must(err)
	_, err = sparse.WriteAt([]byte("tail"), 100<<20)
	must(err)
	must(sparse.Close())

	for name, target := range map[string]string{
		"to-root": "/", "to-etc": "../../etc", "dangling": "nowhere", "loop": "loop",
		"to-outside": outside, "to-canary": filepath.Join(outside, "canary"),
	} {
		must(os.Symlink(target, p("links/"+name)))
	}
	must(os.Lchown(p("links/to-root"), 1234, 5678))

	must(os.WriteFile(p("hard/a"), []byte("linked"), 0o644))
	must(os.Link(p("hard/a"), p("hard/b")))

	must(unix.Mkfifo(p("fifo"), 0o640))
	must(unix.Mknod(p("socket"), unix.S_IFSOCK|0o600, 0))
	must(unix.Mknod(p("null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))

	// Times last, deepest first: each entry made above changed its parent's.
	var all []string
	must(filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		all = append(all, path)
		return err
	}))
	ts := []unix.Timespec{unix.NsecToTimespec(stamp.UnixNano()), unix.NsecToTimespec(stamp.UnixNano())}
	for i := len(all) - 1; i >= 0; i-- {
		must(unix.UtimesNanoAt(unix.AT_FDCWD, all[i], ts, unix.AT_SYMLINK_NOFOLLOW))
	}
	must(os.Chmod(p("readonly"), 0o500))
	must(os.Lchown(dir, 1234, 5678))
	must(os.Chmod(dir, 0o750))
	must(unix.UtimesNanoAt(unix.AT_FDCWD, dir, ts, 0))
}
