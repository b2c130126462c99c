package volume

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/beneath"
	"github.com/mazdermind/hostpath-provisioner/pkg/copytree"
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
type CloneCounts = copytree.Counts

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
// Create made there) is snapshotted. Any other source is copied (package
// copytree) into a directory made as Create makes one (a subvolume with a qgroup limit, a
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
	report := &reporter{fn: opt.Progress}

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
	sn, ok := s.backend.(snapshotter)
	if useQuota && ok {
		if snapshot, err = sn.CanSnapshot(srcDir); err != nil {
			return "", false, err
		}
	}
	if snapshot {
		how = CloneSnapshot
		enforced, err = s.snapshotInto(sn, srcDir, tmp, limit)
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
func (s *Store) snapshotInto(sn snapshotter, srcDir *os.File, tmp string, limit Limit) (bool, error) {
	// Making the parents (and so the registry's part) is structural; once
	// tmp is in the parent, pruning leaves the parent alone.
	s.mu.Lock()
	err := s.makeParents(tmp)
	if err == nil {
		err = inParent(s.dir, tmp, func(parentFd int, name string) error {
			return sn.Snapshot(srcDir, parentFd, name)
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
	opt := copytree.Options{Every: cloneProgressEvery}
	if report.fn != nil {
		opt.Progress = report.copying
	}
	copied, err := copytree.Copy(srcDir, dstDir, opt)
	if err != nil {
		return false, err
	}
	report.update(copied)
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
	own, err := s.backend.HasOwnLimit(dst)
	if err != nil {
		return false, err
	}
	if !own {
		return false, nil // on btrfs, copied while quota was off: nothing to limit
	}
	return s.limit(dst, limit)
}

// discard removes the clone in progress at tmp and releases its limit, as
// Remove does for a volume (without pruning
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

// reporter passes a clone's progress on to the caller's function.
type reporter struct {
	fn func(CloneProgress)
	p  CloneProgress
}

// copying passes on what the copy reports while it runs.
func (r *reporter) copying(p copytree.Progress) {
	r.update(p)
	r.fn(r.p)
}

func (r *reporter) update(p copytree.Progress) {
	r.p.Copied, r.p.Total, r.p.Scanning = p.Copied, p.Total, p.Scanning
}

// done sends the final report. A snapshot or an adopted clone has counted
// nothing, so only Method and Done say anything then.
func (r *reporter) done(how CloneMethod) {
	if r.fn != nil {
		r.p.Method, r.p.Done = how, true
		r.fn(r.p)
	}
}
