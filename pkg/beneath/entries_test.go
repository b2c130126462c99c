package beneath

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestForEachEntryDescribesEveryEntryWithoutFollowingIt(t *testing.T) {
	root := t.TempDir()
	const files = 2500 // more than one batch of names
	for i := range files {
		must(t, os.WriteFile(filepath.Join(root, fmt.Sprint("f", i)), nil, 0o644))
	}
	must(t, os.Mkdir(filepath.Join(root, "dir"), 0o755))
	must(t, os.Symlink("dir", filepath.Join(root, "link")))

	seen := map[string]uint32{}
	err := ForEachEntry(mustOpen(t, root), "top", func(name, entry string, st *unix.Stat_t) error {
		if entry != "top/"+name {
			t.Errorf("entry %q for the name %q, want it below top", entry, name)
		}
		seen[name] = st.Mode & unix.S_IFMT
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != files+2 {
		t.Errorf("%d entries seen, want %d", len(seen), files+2)
	}
	if seen["link"] != unix.S_IFLNK || seen["dir"] != unix.S_IFDIR || seen["f0"] != unix.S_IFREG {
		t.Errorf("link %o, dir %o, f0 %o: want the entries themselves described", seen["link"], seen["dir"], seen["f0"])
	}
}

func TestForEachEntryPassesOverWhatGoesAndStopsAtTheFirstError(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"a", "b", "c"} {
		must(t, os.WriteFile(filepath.Join(root, name), nil, 0o644))
	}
	var seen []string
	stop := errors.New("stop")
	err := ForEachEntry(mustOpen(t, root), ".", func(name, _ string, _ *unix.Stat_t) error {
		seen = append(seen, name)
		if len(seen) == 1 {
			// The others are listed already: one removed now is gone
			// before its lstat, as when the tree is in use.
			for _, other := range []string{"a", "b", "c"} {
				if other != name {
					must(t, os.Remove(filepath.Join(root, other)))
					return nil
				}
			}
		}
		return stop
	})
	if !errors.Is(err, stop) || len(seen) != 2 {
		t.Errorf("err %v after %v: want the removed entry passed over and fn's error at the next", err, seen)
	}
}

func TestEntryErrorNamesTheEntryOnce(t *testing.T) {
	err := error(&EntryError{Op: "copying", Entry: "a/b", Err: unix.EACCES})
	if err.Error() != `copying "a/b": permission denied` || !errors.Is(err, unix.EACCES) {
		t.Errorf("%v", err)
	}
}
