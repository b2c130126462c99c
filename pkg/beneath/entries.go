package beneath

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// EntryError names the entry of a tree that an operation failed on, once:
// an error deep in a tree is passed up unchanged rather than wrapped per
// level.
type EntryError struct {
	Op, Entry string
	Err       error
}

func (e *EntryError) Error() string { return fmt.Sprintf("%s %q: %v", e.Op, e.Entry, e.Err) }
func (e *EntryError) Unwrap() error { return e.Err }

// ForEachEntry calls fn with the lstat of every entry of dir (rel is its
// path in the tree being walked; entry is rel joined with name), reading
// the directory in batches so a huge one does not sit in memory at once.
// An entry gone before its lstat is passed over: the tree may be in use.
// With OpenDirAt for the directories it lists, this is a walk that follows
// no symlink.
func ForEachEntry(dir *os.File, rel string, fn func(name, entry string, st *unix.Stat_t) error) error {
	fd := int(dir.Fd())
	for {
		names, err := dir.Readdirnames(1024)
		for _, name := range names {
			var st unix.Stat_t
			if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				if errors.Is(err, unix.ENOENT) {
					continue
				}
				return &EntryError{Op: "inspecting", Entry: path.Join(rel, name), Err: err}
			}
			if err := fn(name, path.Join(rel, name), &st); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && len(names) == 0) {
			return nil
		}
		if err != nil {
			return &EntryError{Op: "listing", Entry: rel, Err: err}
		}
	}
}
