// Package beneath resolves relative paths below an open directory without
// following a symlink in any component, and does file operations relative
// to the directory it resolved.
//
// os.Root keeps a path inside its root, but it follows symlinks that stay
// inside: whoever can write below the root can redirect an operation to
// another place below it. Here every component must be a real directory
// (the last one may be anything the operation allows); a symlink anywhere
// is refused with a *SymlinkError that names the component.
//
// Paths are resolved with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
// RESOLVE_NO_MAGICLINKS). Where the kernel lacks openat2 (before 5.6, or
// filtered by seccomp as ENOSYS), each component is opened in turn with
// openat(O_NOFOLLOW|O_DIRECTORY) relative to the descriptor of the one
// before, so nothing can be swapped between a check and a use. Paths are
// relative and made of single names: "", ".", "..", an absolute path or an
// empty component is refused before anything is opened.
//
// Trees are walked the same way, one name at a time from a held
// descriptor: ForEachEntry lists a directory with the lstat of each entry,
// OpenDirAt opens one entry as a directory and refuses a symlink, and
// RemoveAll removes a tree so. Package copytree copies trees with them,
// package volume measures them.
//
// Linux only, like the rest of the provisioner.
package beneath

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrSymlink is matched (errors.Is) by every *SymlinkError.
var ErrSymlink = errors.New("is a symlink")

// SymlinkError says that resolving Path met a symlink at Component, a
// prefix of Path ("ns/a/l" of "ns/a/l/data"). Component is empty only when
// the kernel refused a symlink that was gone again when we looked for it.
type SymlinkError struct {
	Path, Component string
}

func (e *SymlinkError) Error() string {
	if e.Component == "" {
		return fmt.Sprintf("a component of %s is a symlink", e.Path)
	}
	return fmt.Sprintf("component %s of %s is a symlink", e.Component, e.Path)
}

// Is makes errors.Is(err, ErrSymlink) true.
func (e *SymlinkError) Is(target error) bool { return target == ErrSymlink }

// useOpenat2 is cleared once the kernel says it has no openat2, and by
// tests of the fallback.
var useOpenat2 atomic.Bool

func init() { useOpenat2.Store(true) }

const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// dirFlags open a directory to work in.
const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC

// components splits rel into single names, refusing what is not one.
func components(rel string) ([]string, error) {
	if rel == "" || strings.HasPrefix(rel, "/") {
		return nil, &fs.PathError{Op: "resolve", Path: rel, Err: errors.New("not a relative path")}
	}
	names := strings.Split(rel, "/")
	for _, n := range names {
		if n == "" || n == "." || n == ".." {
			return nil, &fs.PathError{Op: "resolve", Path: rel, Err: fmt.Errorf("path component %q is not a single name", n)}
		}
	}
	return names, nil
}

// openat opens rel below dirfd with flags (which include O_NOFOLLOW for
// the last component where that matters), following no symlink on the
// way. rel must be valid (see components).
func openat(dirfd int, rel string, flags int, mode uint32) (int, error) {
	if useOpenat2.Load() {
		fd, err := openat2(dirfd, rel, flags, mode)
		if !errors.Is(err, unix.ENOSYS) {
			return fd, err
		}
		useOpenat2.Store(false) // this kernel has none; walk from now on
	}
	return walk(dirfd, rel, flags, mode)
}

func openat2(dirfd int, rel string, flags int, mode uint32) (int, error) {
	how := &unix.OpenHow{Flags: uint64(flags), Mode: uint64(mode), Resolve: resolveFlags}
	for try := 0; ; try++ {
		fd, err := unix.Openat2(dirfd, rel, how)
		switch {
		case err == nil:
			return fd, nil
		case (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)) && try < 8:
			// The kernel saw a rename race during the lookup; try again.
		case errors.Is(err, unix.ENOSYS):
			return -1, err
		case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
			return -1, explain(dirfd, rel, err)
		default:
			return -1, &fs.PathError{Op: "open", Path: rel, Err: err}
		}
	}
}

// walk is openat without openat2: one component at a time, each opened
// with O_NOFOLLOW relative to the one before.
func walk(dirfd int, rel string, flags int, mode uint32) (int, error) {
	names, err := components(rel)
	if err != nil {
		return -1, err
	}
	cur := dirfd
	defer func() {
		if cur != dirfd {
			unix.Close(cur)
		}
	}()
	for i, name := range names {
		f, m := dirFlags|unix.O_NOFOLLOW, uint32(0)
		if i == len(names)-1 {
			f, m = flags|unix.O_NOFOLLOW, mode
		}
		fd, err := openComponent(cur, name, rel, strings.Join(names[:i+1], "/"), f, m)
		if err != nil {
			return -1, err
		}
		if cur != dirfd {
			unix.Close(cur)
		}
		cur = fd
	}
	fd := cur
	cur = dirfd // keep it open for the caller
	return fd, nil
}

// openComponent opens name, the component prefix of rel, in dir with
// O_NOFOLLOW in flags. Where that fails because name is not a directory
// (a symlink makes O_NOFOLLOW|O_DIRECTORY say ENOTDIR, or ELOOP without
// O_DIRECTORY), a look at the entry says what it is: a symlink is a
// *SymlinkError; an entry that is a directory again was being swapped and
// is opened again.
func openComponent(dir int, name, rel, prefix string, flags int, mode uint32) (int, error) {
	for range 8 {
		fd, err := unix.Openat(dir, name, flags, mode)
		if err == nil {
			return fd, nil
		}
		if !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.ENOTDIR) {
			return -1, &fs.PathError{Op: "open", Path: rel, Err: err}
		}
		var st unix.Stat_t
		serr := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case errors.Is(serr, unix.ENOENT), serr == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
			continue // it changed since the open
		case serr == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK:
			return -1, &SymlinkError{Path: rel, Component: prefix}
		}
		return -1, &fs.PathError{Op: "open", Path: prefix, Err: err} // names the component that is not a directory
	}
	return -1, &fs.PathError{Op: "open", Path: prefix, Err: fmt.Errorf("it keeps changing: %w", unix.EAGAIN)}
}

// explain finds, for the message only, which component of rel made
// openat2 fail with ELOOP or ENOTDIR: it walks rel's parents again without
// openat2 and looks at the last component without opening it (a fifo
// could block an open). Should the path have become clean meanwhile, the
// kernel's answer stands.
func explain(dirfd int, rel string, err error) error {
	names, cerr := components(rel)
	if cerr != nil {
		return cerr
	}
	parent, last := dirfd, names[len(names)-1]
	if len(names) > 1 {
		fd, werr := walk(dirfd, rel[:len(rel)-len(last)-1], dirFlags, 0)
		var se *SymlinkError
		switch {
		case errors.As(werr, &se):
			se.Path = rel
			return se
		case errors.Is(werr, unix.ENOTDIR):
			return werr // names the component that is not a directory
		case werr == nil:
			defer unix.Close(fd)
			parent = fd
		}
	}
	var st unix.Stat_t
	serr := unix.Fstatat(parent, last, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case serr == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return &SymlinkError{Path: rel, Component: rel}
	case errors.Is(err, unix.ELOOP):
		return &SymlinkError{Path: rel}
	default:
		return &fs.PathError{Op: "open", Path: rel, Err: err}
	}
}

// OpenDir opens the directory rel below dir.
func OpenDir(dir *os.File, rel string) (*os.File, error) {
	if _, err := components(rel); err != nil {
		return nil, err
	}
	fd, err := openat(int(dir.Fd()), rel, dirFlags|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), rel), nil
}

// OpenDirAt opens the directory name, a single entry of the directory
// open as dirfd, and fails rather than follow it should it be a symlink.
// It is the step of every walk from a descriptor, one name at a time. The
// error is the kernel's errno, unwrapped, so that callers tell an entry
// gone meanwhile (ENOENT) from one that is not a directory or is a
// symlink (ENOTDIR, ELOOP) and name the entry in their own words.
func OpenDirAt(dirfd int, name string) (int, error) {
	return unix.Openat(dirfd, name, dirFlags|unix.O_NOFOLLOW, 0)
}

// OpenParent opens the directory that holds rel's last component and
// returns it with that component's name, for operations on a single name
// in a directory we hold. For a single-name rel the parent is dir itself,
// opened again (the caller closes what it gets either way).
func OpenParent(dir *os.File, rel string) (parent *os.File, name string, err error) {
	names, err := components(rel)
	if err != nil {
		return nil, "", err
	}
	name = names[len(names)-1]
	if len(names) == 1 {
		fd, err := unix.Openat(int(dir.Fd()), ".", dirFlags, 0)
		if err != nil {
			return nil, "", &fs.PathError{Op: "open", Path: ".", Err: err}
		}
		return os.NewFile(uintptr(fd), "."), name, nil
	}
	prefix := rel[:len(rel)-len(name)-1]
	fd, err := openat(int(dir.Fd()), prefix, dirFlags|unix.O_NOFOLLOW, 0)
	if err != nil {
		// Name the whole path, not only its parent, in a symlink's message.
		var se *SymlinkError
		if errors.As(err, &se) {
			se.Path = rel
		}
		return nil, "", err
	}
	return os.NewFile(uintptr(fd), prefix), name, nil
}

// inParent calls fn with rel's parent, open, and rel's last component.
func inParent(dir *os.File, rel string, fn func(parent int, name string) error) error {
	parent, name, err := OpenParent(dir, rel)
	if err != nil {
		return err
	}
	defer parent.Close()
	return fn(int(parent.Fd()), name)
}

// Lstat is the status of rel below dir; a symlink as the last component is
// described, not followed, and one before it is a *SymlinkError.
func Lstat(dir *os.File, rel string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := inParent(dir, rel, func(parent int, name string) error {
		if err := unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &fs.PathError{Op: "lstat", Path: rel, Err: err}
		}
		return nil
	})
	return st, err
}

// Mkdir makes the directory rel below dir (its parent must exist). An
// existing rel is an error matching fs.ErrExist.
func Mkdir(dir *os.File, rel string, mode uint32) error {
	return inParent(dir, rel, func(parent int, name string) error {
		if err := unix.Mkdirat(parent, name, mode); err != nil {
			return &fs.PathError{Op: "mkdir", Path: rel, Err: err}
		}
		return nil
	})
}

// CreateFile creates the file rel below dir, which must not exist
// (O_CREAT|O_EXCL|O_NOFOLLOW), and opens it with flag (O_WRONLY, O_RDWR).
func CreateFile(dir *os.File, rel string, flag int, mode uint32) (*os.File, error) {
	if _, err := components(rel); err != nil {
		return nil, err
	}
	fd, err := openat(int(dir.Fd()), rel, flag|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), rel), nil
}

// Rename moves the entry oldname of olddir to newname in newdir. Both are
// single names in directories the caller holds; flags are renameat2's
// (unix.RENAME_NOREPLACE: an existing newname is an error matching
// fs.ErrExist instead of being replaced).
func Rename(olddir *os.File, oldname string, newdir *os.File, newname string, flags uint) error {
	for _, n := range []string{oldname, newname} {
		if names, err := components(n); err != nil || len(names) != 1 {
			return &fs.PathError{Op: "rename", Path: n, Err: errors.New("not a single name")}
		}
	}
	if err := unix.Renameat2(int(olddir.Fd()), oldname, int(newdir.Fd()), newname, flags); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return nil
}
