package volume

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/beneath"
	"github.com/mazdermind/hostpath-provisioner/pkg/quota"
)

// CloneMethod says how a clone was made.
type CloneMethod string

const (
	// CloneSnapshot is a btrfs snapshot of the source subvolume: instant,
	// sharing every extent, and a consistent image of one moment.
	CloneSnapshot CloneMethod = "snapshot"
	// CloneCopy is a copy entry by entry. File data shares extents
	// (FICLONE) where the filesystem can. A source that is written to
	// meanwhile gives a copy that may mix older and newer states.
	CloneCopy CloneMethod = "copy"
)

// CloneCounts counts the entries of a tree by kind.
type CloneCounts struct {
	Dirs, Files, Symlinks, Fifos int64
	// Skipped are sockets and device nodes, which are not copied: a socket
	// means nothing without its process, and a device node would hand a
	// tenant a device.
	Skipped int64
	// Bytes is the apparent size of regular files, holes included.
	Bytes int64
}

// CloneProgress is what a long clone reports, so the caller can tell the
// user that something is happening.
type CloneProgress struct {
	Method CloneMethod
	Copied CloneCounts
	// Total is the source as counted before the copy starts (while
	// Scanning, the count so far). A copy of a source in use may end with
	// Copied differing from Total. A snapshot counts nothing.
	Total    CloneCounts
	Scanning bool
	Done     bool
}

// CloneOptions are the optional parts of a clone.
type CloneOptions struct {
	// ID names this request across retries; the provisioner passes the PV
	// name. A finished clone is marked with it, so a retry after a crash
	// that came after the clone but before the PV was saved adopts the
	// clone instead of calling it a collision. Without an ID (or on a
	// filesystem without extended attributes) that retry fails with
	// ErrCollision. The clone's registry entry names it as the PV.
	ID string
	// Progress, if not nil, is called about every cloneProgressEvery during
	// the clone and once at the end with Done set.
	Progress func(CloneProgress)
}

// cloneProgressEvery is how often a running clone reports progress.
var cloneProgressEvery = 2 * time.Second

// cloneMarker is the extended attribute that marks a finished clone with
// its method and ID. trusted.* is invisible and untouchable without
// CAP_SYS_ADMIN, so a tenant can neither forge nor remove it.
const cloneMarker = "trusted.hostpath-provisioner.clone"

// Clone makes dst a copy of the volume directory src and enforces limit on
// it as Create does; it reports how the copy was made and whether the size
// is enforced.
//
// On btrfs, with quota not off, a source that is a subvolume (every volume
// Create made there) is snapshotted. Any other source is copied into a
// directory made as Create makes one (a subvolume with a qgroup limit, a
// directory with a project of its own, or a plain directory):
// directories, regular files (sparse files stay sparse), symlinks as links
// with their target text verbatim (never followed, wherever they point)
// and fifos; permission bits with setuid, setgid and sticky, owners and
// times are kept. Hard links inside the tree stay hard links, so the copy
// takes no more space than the source. Extended attributes and ACLs are
// not copied. Sockets and device nodes are skipped and counted in
// CloneProgress.Copied.Skipped. A snapshot takes everything as it is,
// device nodes included (the tenant had them in the source already).
//
// The top directory of dst takes the mode, owner and times of src, not the
// class's: a clone should look like its source to the pod that used it.
//
// Both paths are prepared under a hidden sibling of dst (".clone-<name>")
// and renamed into place when complete, so dst is either absent or whole.
// A leftover of an interrupted clone is removed first, so a retry after a
// crash starts over and converges. An existing dst must be an empty
// directory (it is replaced) or a finished clone with the same ID
// (it is adopted); anything else is ErrCollision. A dst inside a volume is
// ErrNested; the finished clone is registered as a volume of the PV
// opt.ID before it is renamed into place. A symlink in any component of
// src or dst is refused before anything is made.
func (s *Store) Clone(src, dst string, limit Limit, opt CloneOptions) (how CloneMethod, enforced bool, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("cloning %q to %q: %w", src, dst, err)
		}
	}()
	if err := checkPath(src); err != nil {
		return "", false, err
	}
	if err := checkNewPath(dst); err != nil {
		return "", false, err
	}
	useQuota := s.useQuota(limit)
	report := &reporter{fn: opt.Progress, next: time.Now().Add(cloneProgressEvery)}

	srcInfo, err := beneath.Lstat(s.dir, src)
	if err != nil {
		return "", false, fmt.Errorf("inspecting the source: %w", err)
	}
	switch srcInfo.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
	case unix.S_IFLNK:
		return "", false, fmt.Errorf("the source is not a directory: %w", &beneath.SymlinkError{Path: src, Component: src})
	default:
		return "", false, fmt.Errorf("the source is a %s, not a directory", describe(&srcInfo))
	}
	srcDir, err := s.openDir(src)
	if err != nil {
		return "", false, fmt.Errorf("opening the source: %w", err)
	}
	defer srcDir.Close()
	if err := unix.Fstat(int(srcDir.Fd()), &srcInfo); err != nil {
		return "", false, fmt.Errorf("inspecting the source: %w", err)
	}

	s.mu.Lock()
	err = s.refuseNesting(dst)
	s.mu.Unlock()
	if err != nil {
		return "", false, err
	}
	dstInfo, err := beneath.Lstat(s.dir, dst)
	dstExists := err == nil
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return "", false, fmt.Errorf("inspecting the destination: %w", err)
	case dstInfo.Dev == srcInfo.Dev && dstInfo.Ino == srcInfo.Ino:
		return "", false, errors.New("the source and the destination are the same directory")
	case dstInfo.Mode&unix.S_IFMT == unix.S_IFDIR:
		if how, ok := s.finishedClone(dst, opt.ID); ok {
			if enforced, err = s.adopt(dst, useQuota, limit); err != nil {
				return "", false, err
			}
			if err := s.Register(dst, opt.ID); err != nil {
				return "", false, err
			}
			report.done(how)
			return how, enforced, nil
		}
	}
	if dstExists {
		if err := s.checkAdoptable(dst); err != nil {
			return "", false, err
		}
	}

	tmp := cloneTempName(dst)
	// The name is reserved for this destination, and what is there was left
	// by a clone that did not finish: it cannot be trusted to be complete.
	if err := s.discard(tmp); err != nil {
		return "", false, fmt.Errorf("removing the leftover of an interrupted clone: %w", err)
	}
	defer func() {
		if err != nil {
			_ = s.discard(tmp) // do not keep a half copy's space; a retry would remove it anyway
		}
	}()

	snapshot := false
	if useQuota && s.kind == quota.Btrfs && quota.IsSubvolume(int(srcDir.Fd())) {
		// A snapshot would leave nested subvolumes out (they show up as
		// empty directories), so a source with any is copied instead.
		nested, err := quota.HasNestedSubvolumes(int(srcDir.Fd()))
		if err != nil {
			return "", false, err
		}
		snapshot = !nested
	}
	if snapshot {
		how = CloneSnapshot
		enforced, err = s.snapshotInto(srcDir, tmp, limit)
	} else {
		how = CloneCopy
		report.p.Method = how
		enforced, err = s.copyInto(srcDir, tmp, limit, report)
	}
	if err != nil {
		return "", false, err
	}
	if err := s.finishClone(tmp, dst, how, opt.ID); err != nil {
		return "", false, err
	}
	report.done(how)
	return how, enforced, nil
}

// snapshotInto makes tmp a snapshot of srcDir and limits it.
func (s *Store) snapshotInto(srcDir *os.File, tmp string, limit Limit) (bool, error) {
	// Making the parents (and so the registry's part) is structural; once
	// tmp is in the parent, pruning leaves the parent alone.
	s.mu.Lock()
	err := s.makeParents(tmp)
	if err == nil {
		err = s.inParent(tmp, func(parentFd int, name string) error {
			return quota.Snapshot(int(srcDir.Fd()), parentFd, name)
		})
	}
	s.mu.Unlock()
	if err != nil {
		return false, err
	}
	return s.limit(tmp, limit)
}

// copyInto creates tmp as Create would and copies the tree of srcDir into
// it.
func (s *Store) copyInto(srcDir *os.File, tmp string, limit Limit, report *reporter) (bool, error) {
	// Private until the copy is done; then it takes the source's mode and
	// owner like every directory below it. Made under s.mu, as Create makes
	// a volume (the parents are registered, and must not be pruned before
	// tmp is in them).
	s.mu.Lock()
	enforced, err := s.create(tmp, 0o700, Owner{}, limit)
	s.mu.Unlock()
	if err != nil {
		return false, err
	}
	dstDir, err := s.openDir(tmp)
	if err != nil {
		return false, fmt.Errorf("opening %q: %w", tmp, err)
	}
	defer dstDir.Close()

	c := &copier{
		dstTop:     dstDir,
		links:      map[fileID]string{},
		tryReflink: true, tryCopyRange: true,
		report: report,
	}
	var dstSt unix.Stat_t
	if err := unix.Fstat(int(dstDir.Fd()), &dstSt); err != nil {
		return false, fmt.Errorf("inspecting %q: %w", tmp, err)
	}
	c.self = fileID{dstSt.Dev, dstSt.Ino}
	if report.fn != nil {
		c.report.p.Scanning = true
		if err := c.scan(srcDir, "."); err != nil {
			return false, err
		}
		c.report.p.Scanning = false
		if _, err := srcDir.Seek(0, io.SeekStart); err != nil { // list it again for the copy
			return false, fmt.Errorf("rewinding the source: %w", err)
		}
	}
	if err := c.copyDir(srcDir, dstDir, "."); err != nil {
		return false, err
	}
	var srcSt unix.Stat_t
	if err := unix.Fstat(int(srcDir.Fd()), &srcSt); err != nil {
		return false, fmt.Errorf("inspecting the source: %w", err)
	}
	if err := setMeta(int(dstDir.Fd()), &srcSt); err != nil {
		return false, fmt.Errorf("copying the attributes of the top directory: %w", err)
	}
	return enforced, nil
}

// finishClone marks tmp as the finished clone, makes it durable, registers
// dst as a volume (of the PV id) and moves tmp there.
func (s *Store) finishClone(tmp, dst string, how CloneMethod, id string) (err error) {
	dir, err := s.openDir(tmp)
	if err != nil {
		return fmt.Errorf("opening %q: %w", tmp, err)
	}
	defer dir.Close()
	fd := int(dir.Fd())
	if id != "" {
		err = unix.Fsetxattr(fd, cloneMarker, []byte(string(how)+" "+id), 0)
	} else if err = unix.Fremovexattr(fd, cloneMarker); errors.Is(err, unix.ENODATA) {
		err = nil // a snapshot of a clone inherits its source's mark; nothing to drop here
	}
	// Without xattr support, or without CAP_SYS_ADMIN (which trusted.*
	// needs), the clone is unmarked: a retry after a crash in the moment
	// between the rename and the PV then reports a collision instead of
	// adopting it.
	if err != nil && !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("marking %q as a finished clone: %w", tmp, err)
	}
	// Once renamed, the clone is trusted to be whole: its data must reach
	// the disk first, or a power cut could leave an adopted clone with empty
	// files.
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("syncing %q: %w", tmp, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refuseNesting(dst); err != nil {
		return err
	}
	undo, err := s.registerVolume(dst, id)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			undo()
		}
	}()
	if err := s.replaceEmptyDir(dst); err != nil {
		return err
	}
	// tmp is dst's sibling: one parent, held open for the rename.
	parent, name, err := beneath.OpenParent(s.dir, dst)
	if err != nil {
		return fmt.Errorf("opening the parent directory of %q: %w", dst, err)
	}
	defer parent.Close()
	err = beneath.Rename(parent, path.Base(tmp), parent, name, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%q: %w", dst, ErrCollision)
	default:
		return fmt.Errorf("renaming %q to %q: %w", tmp, dst, err)
	}
}

// replaceEmptyDir removes dst if it is an empty directory, as it was
// checked to be before the copy; anything else there since is a collision.
func (s *Store) replaceEmptyDir(dst string) error {
	err := s.removeEmpty(dst)
	switch {
	case err == nil, errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.ENOTEMPTY), errors.Is(err, unix.EEXIST), errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("%q: %w", dst, ErrCollision)
	default:
		return fmt.Errorf("replacing the empty %q: %w", dst, err)
	}
}

// finishedClone reports whether dst is a clone finished for the request
// id, and how it was made.
func (s *Store) finishedClone(dst, id string) (CloneMethod, bool) {
	if id == "" {
		return "", false
	}
	dir, err := s.openDir(dst)
	if err != nil {
		return "", false
	}
	defer dir.Close()
	buf := make([]byte, 512)
	n, err := unix.Fgetxattr(int(dir.Fd()), cloneMarker, buf)
	if err != nil {
		return "", false
	}
	how, got, _ := strings.Cut(string(buf[:n]), " ")
	return CloneMethod(how), got == id
}

// adopt finishes a retried request whose clone was already in place: the
// limit is applied again, as the first attempt may have crashed before
// reporting whether it holds. With project quotas the clone keeps the
// project it has.
func (s *Store) adopt(dst string, useQuota bool, limit Limit) (bool, error) {
	if !useQuota {
		return false, nil
	}
	if s.kind == quota.Btrfs {
		dir, err := s.openDir(dst)
		if err != nil {
			return false, fmt.Errorf("opening %q: %w", dst, err)
		}
		sub := quota.IsSubvolume(int(dir.Fd()))
		dir.Close()
		if !sub {
			return false, nil // copied while quota was off: nothing to limit
		}
	}
	return s.limit(dst, limit)
}

// discard removes the clone in progress at tmp, and with project quotas
// the limit of its project, as Remove does for a volume (without pruning
// parents: dst is about to need them). A missing tmp is success.
func (s *Store) discard(tmp string) error {
	parent, name, err := beneath.OpenParent(s.dir, tmp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing %q: %w", tmp, err)
	}
	defer parent.Close()
	return s.removeTree(parent, name, tmp, nil)
}

// cloneTempName is where dst is prepared: a sibling, so the final rename
// stays within one directory (atomic), and a fixed name, so a retry finds
// what a crashed attempt left.
func cloneTempName(dst string) string {
	const prefix = ".clone-"
	name := prefix + path.Base(dst)
	if len(name) > 255 {
		sum := sha256.Sum256([]byte(path.Base(dst)))
		name = prefix + hex.EncodeToString(sum[:16])
	}
	return path.Join(path.Dir(dst), name)
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

// copyData copies the data of in to out. It shares extents where it can
// and otherwise copies only the data regions, so holes stay holes.
func (c *copier) copyData(in, out int, st *unix.Stat_t) error {
	size := st.Size
	if size == 0 {
		return nil
	}
	if c.tryReflink {
		err := unix.IoctlFileClone(out, in)
		if err == nil {
			c.report.p.Copied.Bytes += size
			return nil
		}
		if notSupported(err) && !errors.Is(err, unix.EINVAL) {
			c.tryReflink = false
		}
		// Other failures (EINVAL: btrfs will not share between a nodatacow
		// file and a normal one) fall back for this file only; a real
		// problem such as a full disk shows again below.
	}
	// Progress counts holes as done once the copy has passed them.
	accounted, end := int64(0), int64(0)
	// A file with as many blocks as bytes has no holes worth two lseeks.
	sparse := st.Blocks*512 < size
	for off := int64(0); off < size; {
		start, stop := off, size
		if sparse {
			var err error
			if start, stop, err = dataRegion(in, off, size); err != nil {
				return err
			}
			if start >= size {
				break
			}
		}
		n, err := c.copyRange(in, out, start, stop)
		end = start + n
		c.report.p.Copied.Bytes += end - accounted
		accounted = end
		if err != nil {
			return err
		}
		if end < stop {
			break // the source shrank while we copied
		}
		off = stop
		c.report.tick()
	}
	c.report.p.Copied.Bytes += size - accounted
	if end < size {
		// A trailing hole, or a source that shrank: the copy still has the
		// size the source had when opened.
		return unix.Ftruncate(out, size)
	}
	return nil
}

// dataRegion finds the first data region at or after off: [start, stop).
// start is size when only a hole remains.
func dataRegion(fd int, off, size int64) (start, stop int64, err error) {
	start, err = unix.Seek(fd, off, unix.SEEK_DATA)
	switch {
	case errors.Is(err, unix.ENXIO):
		return size, size, nil
	case errors.Is(err, unix.EINVAL):
		return off, size, nil // the filesystem cannot tell holes: all data
	case err != nil:
		return 0, 0, fmt.Errorf("finding data: %w", err)
	}
	stop, err = unix.Seek(fd, start, unix.SEEK_HOLE)
	if err != nil {
		return 0, 0, fmt.Errorf("finding a hole: %w", err)
	}
	return start, min(stop, size), nil
}

// copyRange copies [start, stop) of in to the same offsets of out and
// returns how much it copied (less only when the source got shorter).
func (c *copier) copyRange(in, out int, start, stop int64) (int64, error) {
	pos := start
	for pos < stop {
		if c.tryCopyRange {
			roff, woff := pos, pos
			n, err := unix.CopyFileRange(in, &roff, out, &woff, int(min(stop-pos, 1<<30)), 0)
			if err == nil {
				if n == 0 {
					break
				}
				pos += int64(n)
				continue
			}
			if !notSupported(err) {
				return pos - start, err
			}
			c.tryCopyRange = false
		}
		if c.buf == nil {
			c.buf = make([]byte, 1<<20)
		}
		n, err := unix.Pread(in, c.buf[:min(int64(len(c.buf)), stop-pos)], pos)
		if err != nil {
			return pos - start, err
		}
		if n == 0 {
			break
		}
		if err := pwriteAll(out, c.buf[:n], pos); err != nil {
			return pos - start, err
		}
		pos += int64(n)
	}
	return pos - start, nil
}

func pwriteAll(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// notSupported tells errors that mean "not here" (this filesystem, this
// pair of filesystems, this kernel) from real failures.
func notSupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EXDEV) ||
		errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS)
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

// reporter calls the progress function at most once per
// cloneProgressEvery, plus once at the end.
type reporter struct {
	fn   func(CloneProgress)
	next time.Time
	p    CloneProgress
}

func (r *reporter) tick() {
	if r.fn == nil {
		return
	}
	if now := time.Now(); now.After(r.next) {
		r.next = now.Add(cloneProgressEvery)
		r.fn(r.p)
	}
}

// done sends the final report. A snapshot or an adopted clone has counted
// nothing, so only Method and Done say anything then.
func (r *reporter) done(how CloneMethod) {
	if r.fn != nil {
		r.p.Method, r.p.Done = how, true
		r.fn(r.p)
	}
}
