package beneath

import (
	"errors"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// testHookBeforeOpenDir, if set, runs before removeDir opens a directory,
// so a test can swap it for a symlink at the worst moment.
var testHookBeforeOpenDir func(dir int, name string)

// RemoveAll removes the entry name of parent and, if it is a directory,
// everything below it, of any depth and any owner (as far as the caller's
// privileges go). Each directory is opened with O_NOFOLLOW relative to the
// descriptor of its parent and emptied by single names, so no symlink is
// ever followed: an entry that became a symlink between listing and
// opening is unlinked as the link it now is. What is already gone is
// success.
func RemoveAll(parent *os.File, name string) error {
	if names, err := components(name); err != nil || len(names) != 1 {
		return &fs.PathError{Op: "remove", Path: name, Err: errors.New("not a single name")}
	}
	return removeEntry(int(parent.Fd()), name, name, false)
}

// removeEntry removes name in dir; isDir says the listing called it a
// directory, which saves trying to unlink it first. rel is its path from
// where RemoveAll started, for messages.
func removeEntry(dir int, name, rel string, isDir bool) error {
	for range 16 { // bounded: each round is a swap someone made meanwhile
		if !isDir {
			err := unix.Unlinkat(dir, name, 0)
			if err == nil || errors.Is(err, unix.ENOENT) {
				return nil
			}
			if !errors.Is(err, unix.EISDIR) {
				return &fs.PathError{Op: "remove", Path: rel, Err: err}
			}
		}
		notDir, err := removeDir(dir, name, rel)
		if !notDir {
			return err
		}
		isDir = false // not a directory (any more): unlink it as what it is
	}
	return &fs.PathError{Op: "remove", Path: rel, Err: errors.New("it keeps changing between a directory and something else")}
}

// removeDir empties the directory name in dir and removes it. notDir says
// name is not a directory, or is a symlink, and was left alone.
func removeDir(dir int, name, rel string) (notDir bool, err error) {
	for range 16 { // rmdir finds new entries only if something keeps writing
		if testHookBeforeOpenDir != nil {
			testHookBeforeOpenDir(dir, name)
		}
		fd, err := OpenDirAt(dir, name)
		switch {
		case errors.Is(err, unix.ENOENT):
			return false, nil
		case errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.ELOOP):
			return true, nil
		case err != nil:
			return false, &fs.PathError{Op: "open", Path: rel, Err: err}
		}
		if err := empty(os.NewFile(uintptr(fd), rel), rel); err != nil {
			return false, err
		}
		err = unix.Unlinkat(dir, name, unix.AT_REMOVEDIR)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		if errors.Is(err, unix.ENOTDIR) {
			return true, nil // swapped for something else after emptying
		}
		if !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
			return false, &fs.PathError{Op: "remove", Path: rel, Err: err}
		}
	}
	return false, &fs.PathError{Op: "remove", Path: rel, Err: unix.ENOTEMPTY}
}

// empty removes every entry of the open directory d (at rel) and closes it.
func empty(d *os.File, rel string) error {
	defer d.Close()
	fd := int(d.Fd())
	for {
		entries, err := d.ReadDir(1024)
		for _, e := range entries {
			if err := removeEntry(fd, e.Name(), rel+"/"+e.Name(), e.IsDir()); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && len(entries) == 0) {
			return nil
		}
		if err != nil {
			return &fs.PathError{Op: "readdir", Path: rel, Err: err}
		}
	}
}
