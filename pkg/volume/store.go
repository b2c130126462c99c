// Package volume does the directory work of the provisioner. Every file
// operation goes through an os.Root opened on the base path, so no name,
// pattern or symlink planted inside a volume can make us create, change or
// delete anything outside the base path: the kernel resolves each path
// component relative to the root and refuses to leave it.
package volume

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/mazdermind/hostpath-provisioner/pkg/failpoint"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/quota"
)

// ErrCollision means a fresh volume's directory already exists and holds
// something: handing it out would give one tenant another's data.
var ErrCollision = errors.New("the directory already exists and is not empty")

// Store is the base path of one node.
type Store struct {
	base   string
	root   *os.Root
	kind   quota.Kind // how sizes can be enforced here
	fsName string     // the filesystem type, for messages; with kind None, what is missing for sizes

	// Project quotas (kind Project): the kernel calls, behind an interface
	// so tests can run without a kernel that has quota support, and where
	// the search for a free project ID starts.
	projects    projectQuotas
	projectHint func(rel string) uint32
	// idMu serialises choosing and claiming project IDs: choosing (is the
	// ID free?) and claiming (set its limit) are two calls, and two Creates
	// in between would share an ID and so one limit. The process has one
	// Store per base path; a second process on the same filesystem is not
	// serialised with this one, which would need a lock on the filesystem.
	idMu sync.Mutex
}

// Open opens the base path. It must exist: creating it here would hide a
// missing mount (data then lands on the root filesystem).
func Open(base string) (*Store, error) {
	root, err := os.OpenRoot(base)
	if err != nil {
		return nil, fmt.Errorf("opening base path: %w", err)
	}
	s := &Store{base: base, root: root, projects: kernelProjects{}, projectHint: quota.ProjectIDHint}
	dir, err := root.Open(".")
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("opening base path: %w", err)
	}
	defer dir.Close()
	if s.kind, s.fsName, err = quota.Detect(int(dir.Fd())); err != nil {
		root.Close()
		return nil, fmt.Errorf("base path %s: %w", base, err)
	}
	return s, nil
}

// QuotaKind is how this base path can enforce volume sizes.
func (s *Store) QuotaKind() quota.Kind { return s.kind }

// Limit is the size a new volume may use and how strictly it is enforced.
type Limit struct {
	Bytes int64
	Mode  policy.QuotaMode
}

// Close releases the base path.
func (s *Store) Close() error { return s.root.Close() }

// Base is the absolute base path.
func (s *Store) Base() string { return s.base }

// Abs is the host path of a relative volume directory, for the PV source.
func (s *Store) Abs(rel string) string { return path.Join(s.base, rel) }

// Owner is the optional ownership of a new directory.
type Owner struct {
	UID, GID *int64
}

// Create makes the directory rel with mode and owner, and enforces limit
// where it can; it reports whether the size is enforced. It is idempotent:
// an existing empty directory is adopted (Provision may run twice for a
// claim, or a crash may come between mkdir and the PV), anything else is
// ErrCollision.
//
// On btrfs the directory is a subvolume with a qgroup limit. With project
// quotas it is a plain directory that gets a project ID of its own, its
// limit first and then the ID, while it is still private (0700, owned by
// us), so nothing can be written into it before the limit holds.
func (s *Store) Create(rel string, mode fs.FileMode, owner Owner, limit Limit) (enforced bool, err error) {
	if err := policy.SafeRelPath(rel); err != nil {
		return false, fmt.Errorf("volume path %q %w", rel, err)
	}
	useQuota := limit.Mode != policy.QuotaOff && s.kind.Enforces()
	if limit.Mode == policy.QuotaRequired && !useQuota {
		return false, fmt.Errorf("the class requires quota, but %s is on %s, where this provisioner cannot enforce sizes (supported: btrfs with quotas enabled; XFS or ext4 with project quotas enforced)", s.base, s.fsName)
	}
	if err := s.makeParents(rel); err != nil {
		return false, err
	}
	// Start private and open up only after chown, so there is no moment in
	// which the wrong user could write into the new directory.
	if useQuota && s.kind == quota.Btrfs {
		err = s.createSubvolume(rel)
	} else {
		err = s.root.Mkdir(rel, 0o700)
	}
	created := err == nil
	if created {
		failpoint.Crash(failpoint.AfterMkdir)
	}
	if errors.Is(err, fs.ErrExist) {
		if err := s.checkAdoptable(rel); err != nil {
			return false, err
		}
	} else if err != nil {
		return false, fmt.Errorf("creating %q: %w", rel, err)
	}
	if useQuota {
		enforced, err = s.limit(rel, limit)
		if err != nil {
			if created {
				_ = s.root.Remove(rel) // nothing is in it yet; do not leave it behind
			}
			return false, err
		}
	}
	if owner.UID != nil || owner.GID != nil {
		uid, gid := -1, -1
		if owner.UID != nil {
			uid = int(*owner.UID)
		}
		if owner.GID != nil {
			gid = int(*owner.GID)
		}
		if err := s.root.Lchown(rel, uid, gid); err != nil {
			return false, fmt.Errorf("setting owner of %q: %w", rel, err)
		}
	}
	if err := s.root.Chmod(rel, mode); err != nil {
		return false, fmt.Errorf("setting mode of %q: %w", rel, err)
	}
	return enforced, nil
}

// makeParents creates the parent directories of rel that a nested
// pathPattern needs.
func (s *Store) makeParents(rel string) error {
	if parent := path.Dir(rel); parent != "." {
		if err := s.root.MkdirAll(parent, 0o755); err != nil {
			return fmt.Errorf("creating parent directory %q: %w", parent, err)
		}
	}
	return nil
}

// inParent calls fn with rel's parent directory, open, and rel's last
// component: a single name, so what the kernel creates lands in that
// directory and no symlink can redirect it.
func (s *Store) inParent(rel string, fn func(parentFd int, name string) error) error {
	dir, err := s.root.Open(path.Dir(rel))
	if err != nil {
		return fmt.Errorf("opening parent directory %q: %w", path.Dir(rel), err)
	}
	defer dir.Close()
	return fn(int(dir.Fd()), path.Base(rel))
}

func (s *Store) createSubvolume(rel string) error {
	err := s.inParent(rel, quota.CreateSubvolume)
	if errors.Is(err, unix.EEXIST) {
		return fs.ErrExist
	}
	return err
}

// limit applies the size limit to the new volume rel: the qgroup limit of
// the subvolume on btrfs; with project quotas, a project ID of its own (one
// it already has from an earlier attempt is kept) and that project's limit.
// Without quotas on the filesystem, "auto" carries on unenforced and
// "required" fails.
func (s *Store) limit(rel string, limit Limit) (bool, error) {
	var err error
	if s.kind == quota.Project {
		err = s.limitProject(rel, limit.Bytes)
	} else {
		err = s.setLimit(rel, limit.Bytes)
	}
	switch {
	case err == nil:
		return true, nil
	case quota.Unavailable(err) && limit.Mode != policy.QuotaRequired:
		return false, nil
	default:
		return false, fmt.Errorf("limiting %q to %d bytes: %w", rel, limit.Bytes, quota.Hint(err))
	}
}

// setLimit changes the limit of the existing volume rel: the qgroup limit
// of a subvolume, or the limit of the project the directory already has.
func (s *Store) setLimit(rel string, bytes int64) error {
	if s.kind == quota.Project {
		return s.setProjectLimit(rel, bytes)
	}
	dir, err := s.root.Open(rel)
	if err != nil {
		return fmt.Errorf("opening %q: %w", rel, err)
	}
	defer dir.Close()
	return quota.SetLimit(int(dir.Fd()), uint64(max(bytes, 0)))
}

// openDirNoFollow opens the directory rel; a symlink as its last component
// is refused, not followed (os.Root would follow one that stays inside), in
// the same call that opens it, so nothing can swap rel between a check and
// the open.
func (s *Store) openDirNoFollow(rel string) (*os.File, error) {
	parent, err := s.root.Open(path.Dir(rel))
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	fd, err := unix.Openat(int(parent.Fd()), path.Base(rel), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: rel, Err: err}
	}
	return os.NewFile(uintptr(fd), rel), nil
}

func (s *Store) checkAdoptable(rel string) error {
	fi, err := s.root.Lstat(rel)
	if err != nil {
		return fmt.Errorf("inspecting existing %q: %w", rel, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%q: %w (it is a %s)", rel, ErrCollision, fi.Mode().Type())
	}
	empty, err := s.isEmpty(rel)
	if err != nil {
		return err
	}
	if !empty {
		return fmt.Errorf("%q: %w", rel, ErrCollision)
	}
	return nil
}

func (s *Store) isEmpty(rel string) (bool, error) {
	f, err := s.root.Open(rel)
	if err != nil {
		return false, fmt.Errorf("opening %q: %w", rel, err)
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("listing %q: %w", rel, err)
	}
	return false, nil
}

// Exists reports whether rel exists (without following a final symlink).
func (s *Store) Exists(rel string) (bool, error) {
	_, err := s.root.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspecting %q: %w", rel, err)
	}
	return true, nil
}

// Remove deletes the tree at rel, of any depth and owned by anyone, without
// following symlinks inside it. A missing tree is success: deletion may be
// retried after a crash halfway through. With project quotas the limit of
// the volume's project is cleared once the tree is gone, which frees the ID.
func (s *Store) Remove(rel string) error {
	if err := policy.SafeRelPath(rel); err != nil {
		return fmt.Errorf("volume path %q %w", rel, err)
	}
	if failpoint.Armed(failpoint.MidDelete) {
		s.removeOneEntry(rel)
		failpoint.Crash(failpoint.MidDelete)
	}
	return s.removeTree(rel, s.pruneParents)
}

// removeTree removes the tree at rel, calls removed (if any) once it is
// gone, and with project quotas clears the limit of the project rel had.
// The project is read before the tree goes: afterwards nothing says which
// it was. Failing to read it does not stop the removal; the limit then
// stays on an ID without files, which Space does not count.
func (s *Store) removeTree(rel string, removed func(rel string)) error {
	id, idErr := s.volumeProject(rel)
	if err := s.root.RemoveAll(rel); err != nil {
		return fmt.Errorf("removing %q: %w", rel, err)
	}
	if removed != nil {
		removed(rel)
	}
	if id != 0 {
		idErr = s.clearProjectLimit(id)
	}
	if idErr != nil {
		return fmt.Errorf("removed %q, but its project quota limit is left: %w", rel, idErr)
	}
	return nil
}

// removeOneEntry removes a single entry of rel, so a crash test can stop a
// deletion halfway.
func (s *Store) removeOneEntry(rel string) {
	f, err := s.root.Open(rel)
	if err != nil {
		return
	}
	names, _ := f.Readdirnames(1)
	f.Close()
	if len(names) == 1 {
		_ = s.root.RemoveAll(path.Join(rel, names[0]))
	}
}

// pruneParents removes parent directories that a nested pathPattern created
// and that are now empty. Failure is harmless (a sibling volume keeps the
// parent alive), so errors are ignored on purpose.
func (s *Store) pruneParents(rel string) {
	for dir := path.Dir(rel); dir != "."; dir = path.Dir(dir) {
		if err := s.root.Remove(dir); err != nil {
			return
		}
	}
}

// ArchiveName is the name rel is renamed to when archived at t: a single
// directory at the top of the base path, so archives are easy to find.
func ArchiveName(rel string, t time.Time) string {
	stamp := t.UTC().Format("20060102T150405Z")
	flat := strings.ReplaceAll(rel, "/", "-")
	const prefix = "archived-"
	// Keep within NAME_MAX; the stamp and prefix matter more than the tail.
	if room := 255 - len(prefix) - 1 - len(stamp); len(flat) > room {
		for room > 0 && !utf8.RuneStart(flat[room]) {
			room-- // never cut a character in two
		}
		flat = flat[:room]
	}
	return prefix + flat + "-" + stamp
}

// Archive renames rel to its archive name and returns that name. A missing
// rel is success with an empty name: a crash after the rename must not
// block the PV's deletion forever.
//
// An archive keeps its size limit (the btrfs subvolume keeps its qgroup, the
// directory its project ID and the project its limit): the data is kept,
// still takes its space, and the limit keeps counting as promised in Space
// until the admin removes the archive.
func (s *Store) Archive(rel string, t time.Time) (string, error) {
	if err := policy.SafeRelPath(rel); err != nil {
		return "", fmt.Errorf("volume path %q %w", rel, err)
	}
	exists, err := s.Exists(rel)
	if err != nil || !exists {
		return "", err
	}
	name := ArchiveName(rel, t)
	for i := 2; ; i++ {
		taken, err := s.Exists(name)
		if err != nil {
			return "", err
		}
		if !taken {
			break
		}
		name = fmt.Sprintf("%s-%d", ArchiveName(rel, t), i)
	}
	if err := s.root.Rename(rel, name); err != nil {
		return "", fmt.Errorf("archiving %q as %q: %w", rel, name, err)
	}
	failpoint.Crash(failpoint.AfterArchive)
	s.pruneParents(rel)
	return name, nil
}

// Space is the capacity of the filesystem holding the base path and, where
// this base path enforces sizes, how much of it the limits of existing
// volumes have promised. A volume with a limit may fill it at any time, so
// a new claim can only be given what is both free now and not promised.
type Space struct {
	Total, Free uint64 // bytes; Free is what an unprivileged writer can use

	// Enforcing says sizes are enforced here (btrfs with quotas on, or
	// project quotas), so Reserved and Unreserved are known.
	Enforcing bool
	// Reserved is the sum of the limits promised to volumes; Unreserved is
	// Total less Reserved, 0 when more is promised than there is.
	Reserved, Unreserved uint64
}

// Available is what a new volume (or a volume's growth) can still get: the
// free space, and where sizes are enforced no more than is unreserved.
func (sp Space) Available() uint64 {
	if sp.Enforcing {
		return min(sp.Free, sp.Unreserved)
	}
	return sp.Free
}

// LimitedByReservations says Available is less than Free because of the
// limits promised to volumes, not because the filesystem is full.
func (sp Space) LimitedByReservations() bool {
	return sp.Enforcing && sp.Unreserved < sp.Free
}

// FreeQuantity is Available as a quantity, for comparing with sizes and for
// messages: what a new claim can still get.
func (sp Space) FreeQuantity() *resource.Quantity {
	return quantity(sp.Available())
}

// String says how much is available and what limits it, for messages
// ("112Mi unreserved (512Mi less 400Mi promised to volumes' limits, 480Mi
// free on the filesystem)").
func (sp Space) String() string {
	if !sp.LimitedByReservations() {
		return quantity(sp.Free).String() + " free"
	}
	return fmt.Sprintf("%s unreserved (%s less %s promised to volumes' limits, %s free on the filesystem)",
		quantity(sp.Unreserved), quantity(sp.Total), quantity(sp.Reserved), quantity(sp.Free))
}

func quantity(bytes uint64) *resource.Quantity {
	return resource.NewQuantity(int64(min(bytes, math.MaxInt64)), resource.BinarySI)
}

// Space reports the filesystem's capacity and, where sizes are enforced,
// the sum of the limits already promised:
//
//   - btrfs with quotas on: the referenced-bytes limits of every level-0
//     qgroup of a live subvolume on the filesystem, not only of the
//     subvolumes under this base path. Telling those apart would take a
//     path lookup per subvolume; all of them draw on the same Total, so
//     counting the admin's limits too errs on the side of promising less.
//   - project quotas: the limits of the project IDs in this provisioner's
//     range (quota.ProjectIDMin..ProjectIDMax) that still have a file
//     charged to them. An ID with a limit and nothing charged holds no
//     volume: one left by a crash between setting a limit and giving the
//     directory its ID, or a removal whose limit could not be cleared.
//
// Both read kernel state (a few tree searches or quotactl calls per
// volume), with no disk I/O for a cached filesystem.
func (s *Store) Space() (Space, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(s.base, &st); err != nil {
		return Space{}, fmt.Errorf("statfs %s: %w", s.base, err)
	}
	sp := Space{Total: st.Blocks * uint64(st.Bsize), Free: st.Bavail * uint64(st.Bsize)}
	if !s.kind.Enforces() {
		return sp, nil
	}
	reserved, enforcing, err := s.reserved()
	if err != nil {
		return Space{}, fmt.Errorf("base path %s: adding up the volumes' limits: %w", s.base, err)
	}
	if enforcing {
		sp.Enforcing, sp.Reserved = true, reserved
		if reserved < sp.Total {
			sp.Unreserved = sp.Total - reserved
		}
	}
	return sp, nil
}

// reserved is the sum of the limits promised on this filesystem; enforcing
// is false when its quotas are off.
func (s *Store) reserved() (sum uint64, enforcing bool, err error) {
	dir, err := s.root.Open(".")
	if err != nil {
		return 0, false, err
	}
	defer dir.Close()
	fd := int(dir.Fd())
	switch s.kind {
	case quota.Btrfs:
		limits, err := quota.QgroupLimits(fd)
		if quota.Unavailable(err) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		for _, l := range limits {
			sum = addSaturating(sum, l)
		}
	case quota.Project:
		projects, err := s.projects.Quotas(fd)
		if quota.Unavailable(err) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		for _, q := range projects {
			if q.Inodes > 0 {
				sum = addSaturating(sum, q.Limit)
			}
		}
	default:
		return 0, false, nil
	}
	return sum, true, nil
}

// addSaturating adds without wrapping: a limit near 2^64 (btrfs takes any
// number) must not make the sum small.
func addSaturating(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// Writable checks that a file can be created in the base path, so a
// read-only or full mount shows up in readiness rather than in a failed claim.
func (s *Store) Writable() error {
	name := fmt.Sprintf(".hostpath-provisioner-probe-%d", os.Getpid())
	f, err := s.root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("base path %s is not writable: %w", s.base, err)
	}
	f.Close()
	if err := s.root.Remove(name); err != nil && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("base path %s: removing probe file: %w", s.base, err)
	}
	return nil
}

// Resize changes the enforced size of the volume rel, where the volume was
// made with a limit (a btrfs subvolume, or a directory with a project ID of
// ours); elsewhere the size is only recorded on the PV.
func (s *Store) Resize(rel string, bytes int64) error {
	if err := policy.SafeRelPath(rel); err != nil {
		return fmt.Errorf("volume path %q %w", rel, err)
	}
	if err := s.setLimit(rel, bytes); err != nil {
		return fmt.Errorf("resizing %q to %d bytes: %w", rel, bytes, err)
	}
	return nil
}
