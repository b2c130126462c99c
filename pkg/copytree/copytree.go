// Package copytree copies a directory tree that someone else controls and
// may change while it is copied, without ever following a symlink.
//
// Every entry is reached by its single name relative to an open directory
// (package beneath: ForEachEntry, OpenDirAt), so a symlink is copied as a
// link with its target text verbatim, wherever it points, and a directory
// swapped for a symlink while the copy runs is an error, not a detour.
// Copied are directories, regular files (sparse files stay sparse),
// symlinks and fifos, each with its owner, permission bits (setuid, setgid
// and sticky included) and times; hard links inside the tree stay hard
// links, so the copy takes no more space than the source. File data shares
// extents (FICLONE) where the filesystem can. Extended attributes and ACLs
// are not copied; sockets and device nodes are skipped and counted.
//
// It knows nothing of volumes: package volume decides where a clone is
// prepared, how it is limited and when it takes its place, and calls Copy
// for what is in it.
package copytree

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/beneath"
)

// Counts counts the entries of a tree by kind.
type Counts struct {
	Dirs, Files, Symlinks, Fifos int64
	// Skipped are sockets and device nodes, which are not copied: a socket
	// means nothing without its process, and a device node would hand a
	// tenant a device.
	Skipped int64
	// Bytes is the apparent size of regular files, holes included.
	Bytes int64
}

// Progress is what a long copy reports, so the caller can tell the user
// that something is happening.
type Progress struct {
	Copied Counts
	// Total is the source as counted before the copy starts (while
	// Scanning, the count so far). A copy of a source in use may end with
	// Copied differing from Total.
	Total    Counts
	Scanning bool
}

// Options are the optional parts of a copy.
type Options struct {
	// Progress, if not nil, is called at most once every Every while the
	// source is counted (first, for Total) and then copied. Without it
	// nothing is counted beforehand.
	Progress func(Progress)
	Every    time.Duration
}

// testHookBeforeOpenDir, if set, runs before a directory of the source is
// opened, so a test can swap it for a symlink at the worst moment.
var testHookBeforeOpenDir func(dir *os.File, name string)

// Copy copies the entries of the directory src into the directory dst,
// which should be empty (an entry already there is an error, EEXIST),
// then gives dst the owner, mode and times of src. It returns what it
// copied and, with opt.Progress, what it counted first. Should src hold
// dst itself (dst reached through a symlinked parent inside src), that
// subdirectory is refused rather than copied into itself. src is listed
// from where its offset stands: pass it freshly opened.
func Copy(src, dst *os.File, opt Options) (Progress, error) {
	c := &copier{
		dstTop:     dst,
		links:      map[fileID]string{},
		tryReflink: true, tryCopyRange: true,
		report: &reporter{fn: opt.Progress, every: opt.Every, next: time.Now().Add(opt.Every)},
	}
	var dstSt unix.Stat_t
	if err := unix.Fstat(int(dst.Fd()), &dstSt); err != nil {
		return Progress{}, fmt.Errorf("inspecting %q: %w", dst.Name(), err)
	}
	c.self = fileID{dstSt.Dev, dstSt.Ino}
	if opt.Progress != nil {
		c.report.p.Scanning = true
		if err := c.scan(src, "."); err != nil {
			return c.report.p, err
		}
		c.report.p.Scanning = false
		if _, err := src.Seek(0, io.SeekStart); err != nil { // list it again for the copy
			return c.report.p, fmt.Errorf("rewinding the source: %w", err)
		}
	}
	if err := c.copyDir(src, dst, "."); err != nil {
		return c.report.p, err
	}
	var srcSt unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &srcSt); err != nil {
		return c.report.p, fmt.Errorf("inspecting the source: %w", err)
	}
	if err := setMeta(int(dst.Fd()), &srcSt); err != nil {
		return c.report.p, fmt.Errorf("copying the attributes of the top directory: %w", err)
	}
	return c.report.p, nil
}

// fileID identifies an inode.
type fileID struct{ dev, ino uint64 }

// copier copies one tree. Every entry is reached by its single name
// relative to an open directory, with O_NOFOLLOW: no symlink is ever
// followed, and a directory swapped for a symlink while we copy is an
// error, not a detour (not even a detour inside the source, which could
// loop).
type copier struct {
	dstTop       *os.File          // the copy's top directory, for hard links by path inside the copy
	self         fileID            // the copy's top directory: it must not be inside the source
	links        map[fileID]string // first copy of each source file with more than one link
	tryReflink   bool              // FICLONE is still worth trying here
	tryCopyRange bool              // copy_file_range is still worth trying here
	buf          []byte            // for the read/write fallback
	report       *reporter
}

// scan counts the source before the copy, for progress totals.
func (c *copier) scan(dir *os.File, rel string) error {
	return beneath.ForEachEntry(dir, rel, func(name, entry string, st *unix.Stat_t) error {
		t := &c.report.p.Total
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			t.Dirs++
			sub, err := openSub(dir, name, c.self)
			if err != nil {
				return &beneath.EntryError{Op: "counting", Entry: entry, Err: err}
			}
			if sub == nil {
				return nil
			}
			defer sub.Close()
			c.report.tick()
			return c.scan(sub, entry)
		case unix.S_IFREG:
			t.Files++
			t.Bytes += st.Size
		case unix.S_IFLNK:
			t.Symlinks++
		case unix.S_IFIFO:
			t.Fifos++
		default:
			t.Skipped++
		}
		c.report.tick()
		return nil
	})
}

// copyDir copies the entries of src into dst; rel is src's path inside the
// source, for messages and hard links.
func (c *copier) copyDir(src, dst *os.File, rel string) error {
	sfd, dfd := int(src.Fd()), int(dst.Fd())
	return beneath.ForEachEntry(src, rel, func(name, entry string, st *unix.Stat_t) error {
		var err error
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			err = c.copySubdir(src, dst, name, entry)
		case unix.S_IFREG:
			err = c.copyFile(sfd, dfd, name, entry, st)
		case unix.S_IFLNK:
			err = c.copySymlink(sfd, dfd, name, st)
			if err == nil {
				c.report.p.Copied.Symlinks++
			}
		case unix.S_IFIFO:
			err = c.copyFifo(dfd, name, st)
			if err == nil {
				c.report.p.Copied.Fifos++
			}
		default:
			c.report.p.Copied.Skipped++
		}
		var nested *beneath.EntryError
		switch {
		case errors.As(err, &nested):
			return err // already names its entry
		case errors.Is(err, unix.ENOENT):
			return nil // removed from the source while we copied
		case err != nil:
			return &beneath.EntryError{Op: "copying", Entry: entry, Err: err}
		}
		c.report.tick()
		return nil
	})
}

func (c *copier) copySubdir(src, dst *os.File, name, entry string) error {
	sub, err := openSub(src, name, c.self)
	if err != nil || sub == nil {
		return err
	}
	defer sub.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(sub.Fd()), &st); err != nil {
		return err
	}
	// Private while it fills; its own mode (maybe read-only) comes last.
	if err := unix.Mkdirat(int(dst.Fd()), name, 0o700); err != nil {
		return err
	}
	fd, err := beneath.OpenDirAt(int(dst.Fd()), name)
	if err != nil {
		return err
	}
	dsub := os.NewFile(uintptr(fd), entry)
	defer dsub.Close()
	if err := c.copyDir(sub, dsub, entry); err != nil {
		return err
	}
	// After the entries, whose creation would change the times.
	if err := setMeta(fd, &st); err != nil {
		return err
	}
	c.report.p.Copied.Dirs++
	return nil
}

func (c *copier) copyFile(sfd, dfd int, name, entry string, lst *unix.Stat_t) error {
	id := fileID{lst.Dev, lst.Ino}
	if lst.Nlink > 1 {
		if first, ok := c.links[id]; ok {
			if err := c.link(first, dfd, name); err != nil {
				return err
			}
			c.report.p.Copied.Files++
			c.report.p.Copied.Bytes += lst.Size
			return nil
		}
	}
	// O_NONBLOCK: should the entry have become a fifo, open must not hang.
	in, err := unix.Openat(sfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(in)
	var st unix.Stat_t
	if err := unix.Fstat(in, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return errors.New("it stopped being a regular file while being copied")
	}
	out, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	defer unix.Close(out)
	if err := c.copyData(in, out, &st); err != nil {
		return err
	}
	if err := setMeta(out, &st); err != nil {
		return err
	}
	if st.Nlink > 1 {
		c.links[fileID{st.Dev, st.Ino}] = entry
	}
	c.report.p.Copied.Files++
	return nil
}

// link makes name in the directory dfd a hard link to first, a file
// already copied (its path inside the copy, resolved without following
// a symlink).
func (c *copier) link(first string, dfd int, name string) error {
	parent, oldName, err := beneath.OpenParent(c.dstTop, first)
	if err != nil {
		return err
	}
	defer parent.Close()
	return unix.Linkat(int(parent.Fd()), oldName, dfd, name, 0)
}

// copySymlink copies the link itself; its target is text, copied as is.
func (c *copier) copySymlink(sfd, dfd int, name string, st *unix.Stat_t) error {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(sfd, name, buf)
		if err != nil {
			return err
		}
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	if err := unix.Symlinkat(string(buf), dfd, name); err != nil {
		return err
	}
	// The link's own owner and times; Linux has no mode for links.
	if err := unix.Fchownat(dfd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	return unix.UtimesNanoAt(dfd, name, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
}

func (c *copier) copyFifo(dfd int, name string, st *unix.Stat_t) error {
	if err := unix.Mkfifoat(dfd, name, 0o600); err != nil {
		return err
	}
	// Not opened (that would block); by name, which is ours and a fifo.
	if err := unix.Fchownat(dfd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if err := unix.Fchmodat(dfd, name, st.Mode&0o7777, 0); err != nil {
		return err
	}
	return unix.UtimesNanoAt(dfd, name, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
}

// setMeta gives the open fd the owner, mode and times of st. The owner
// comes first: chown clears setuid and setgid.
func setMeta(fd int, st *unix.Stat_t) error {
	if err := unix.Fchown(fd, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("setting owner: %w", err)
	}
	if err := unix.Fchmod(fd, st.Mode&0o7777); err != nil {
		return fmt.Errorf("setting mode: %w", err)
	}
	if err := unix.UtimesNanoAt(fd, "", []unix.Timespec{st.Atim, st.Mtim}, unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("setting times: %w", err)
	}
	return nil
}

// openChild opens the directory name in dir without following a symlink
// (ENOTDIR or ELOOP says it is none, or a symlink). It returns nil for a
// directory gone meanwhile.
func openChild(dir *os.File, name string) (*os.File, error) {
	fd, err := beneath.OpenDirAt(int(dir.Fd()), name)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path.Join(dir.Name(), name)), nil
}

// openSub is openChild, refusing the copy's own top directory (dst reached
// through a symlinked parent inside src), which would otherwise be copied
// into itself.
func openSub(dir *os.File, name string, self fileID) (*os.File, error) {
	if testHookBeforeOpenDir != nil {
		testHookBeforeOpenDir(dir, name)
	}
	sub, err := openChild(dir, name)
	if sub == nil || err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(sub.Fd()), &st); err != nil {
		sub.Close()
		return nil, err
	}
	if (fileID{st.Dev, st.Ino}) == self {
		sub.Close()
		return nil, errors.New("it is the destination itself: the destination lies inside the source")
	}
	return sub, nil
}

// reporter calls the progress function at most once per every.
type reporter struct {
	fn    func(Progress)
	every time.Duration
	next  time.Time
	p     Progress
}

func (r *reporter) tick() {
	if r.fn == nil {
		return
	}
	if now := time.Now(); now.After(r.next) {
		r.next = now.Add(r.every)
		r.fn(r.p)
	}
}
