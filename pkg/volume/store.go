package volume

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"math"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/mazdermind/hostpath-provisioner/pkg/beneath"
	"github.com/mazdermind/hostpath-provisioner/pkg/failpoint"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/quota"
)

// ErrCollision means a fresh volume's directory already exists and holds
// something: handing it out would give one tenant another's data.
var ErrCollision = errors.New("the directory already exists and is not empty")

// ErrNested means a volume's directory would be inside another volume's,
// or holds one: the owner of the outer volume could reach the inner one.
var ErrNested = errors.New("volume directories must not nest")

// Store is the base path of one node.
type Store struct {
	base    string
	dir     *os.File     // the base path, held open: every path below it is resolved from here
	backend quotaBackend // how sizes are enforced here, chosen once by Open
	fsName  string       // the filesystem type, for messages; where sizes are not enforced, what is missing for them

	// mu serialises the structural part of Create, Clone, Remove, Archive
	// and Register: the nesting checks, the registry and the directories
	// they make, rename and prune. Long work (removing or copying a tree)
	// runs outside it.
	mu sync.Mutex
}

// Open opens the base path. It must exist: creating it here would hide a
// missing mount (data then lands on the root filesystem).
func Open(base string) (*Store, error) {
	fd, err := unix.Open(base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening base path: %w", &fs.PathError{Op: "open", Path: base, Err: err})
	}
	s := &Store{base: base, dir: os.NewFile(uintptr(fd), base)}
	kind, fsName, err := quota.Detect(fd)
	if err != nil {
		s.dir.Close()
		return nil, fmt.Errorf("base path %s: %w", base, err)
	}
	s.backend, s.fsName = newQuotaBackend(kind, s.dir), fsName
	return s, nil
}

// QuotaKind is how this base path can enforce volume sizes.
func (s *Store) QuotaKind() quota.Kind { return s.backend.Kind() }

// Limit is the size a new volume may use and how strictly it is enforced.
type Limit struct {
	Bytes int64
	Mode  policy.QuotaMode
}

// Close releases the base path.
func (s *Store) Close() error { return s.dir.Close() }

// Base is the absolute base path.
func (s *Store) Base() string { return s.base }

// Abs is the host path of a relative volume directory, for the PV source.
func (s *Store) Abs(rel string) string { return path.Join(s.base, rel) }

// Owner is the optional ownership of a new directory.
type Owner struct {
	UID, GID *int64
}

// checkPath refuses a path that is not a safe relative path below the base
// path, or that lies in the registry.
func checkPath(rel string) error {
	if err := policy.SafeRelPath(rel); err != nil {
		return fmt.Errorf("volume path %q %w", rel, err)
	}
	if first, _, _ := strings.Cut(rel, "/"); first == registryDir {
		return fmt.Errorf("volume path %q is in the provisioner's registry %s", rel, registryDir)
	}
	return nil
}

// checkNewPath is checkPath for a volume about to be made, which also may
// have no component starting with ".": the registry and a clone's
// temporary directory have such names, so no volume can be or hold them.
// (The path policy renders no such component; this is the second line.
// Paths of existing volumes are only checkPath'ed: they must stay
// removable.)
func checkNewPath(rel string) error {
	if err := checkPath(rel); err != nil {
		return err
	}
	for c := range strings.SplitSeq(rel, "/") {
		if strings.HasPrefix(c, ".") {
			return fmt.Errorf("volume path %q has the component %q, which starts with '.'; such names are the provisioner's", rel, c)
		}
	}
	return nil
}

// CreateOptions describe a new volume directory.
type CreateOptions struct {
	// PV names the volume in its registry entry, so a refusal to nest
	// another volume in it can name its PV.
	PV    string
	Mode  fs.FileMode
	Owner Owner
	Limit Limit
}

// Create is CreateVolume without a PV name.
//
// Deprecated: use CreateVolume, whose registry entry names the PV.
func (s *Store) Create(rel string, mode fs.FileMode, owner Owner, limit Limit) (enforced bool, err error) {
	return s.CreateVolume(rel, CreateOptions{Mode: mode, Owner: owner, Limit: limit})
}

// CreateVolume makes the volume directory rel with the mode and owner of
// opt, and enforces its limit where it can; it reports whether the size is
// enforced. It is idempotent: an existing empty directory is adopted
// (Provision may run twice for a claim, or a crash may come between mkdir
// and the PV), anything else is ErrCollision. A path below an existing
// volume is ErrNested; the volume is registered before its directory is
// made, and the parents it needs are made and registered as the store's.
//
// On btrfs the directory is a subvolume with a qgroup limit. With project
// quotas it is a plain directory that gets a project ID of its own, its
// limit first and then the ID, while it is still private (0700, owned by
// us), so nothing can be written into it before the limit holds.
func (s *Store) CreateVolume(rel string, opt CreateOptions) (enforced bool, err error) {
	if err := checkNewPath(rel); err != nil {
		return false, err
	}
	if err := s.quotaPossible(opt.Limit); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refuseNesting(rel); err != nil {
		return false, err
	}
	undo, err := s.registerVolume(rel, opt.PV)
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			undo()
			// Parents made for it and left empty go too (a directory
			// left behind keeps its parent, which rmdir then refuses).
			s.pruneParents(rel)
		}
	}()
	return s.create(rel, opt.Mode, opt.Owner, opt.Limit)
}

// useQuota says whether limit is to be enforced here.
func (s *Store) useQuota(limit Limit) bool {
	return limit.Mode != policy.QuotaOff && s.backend.Kind().Enforces()
}

// quotaPossible refuses a limit that must be enforced where it cannot be.
func (s *Store) quotaPossible(limit Limit) error {
	if limit.Mode == policy.QuotaRequired && !s.useQuota(limit) {
		return fmt.Errorf("the class requires quota, but %s is on %s, where this provisioner cannot enforce sizes (supported: btrfs with quotas enabled; XFS or ext4 with project quotas enforced)", s.base, s.fsName)
	}
	return nil
}

// create makes the directory rel (a volume, or a clone being prepared) as
// CreateVolume describes, without the registry's part.
func (s *Store) create(rel string, mode fs.FileMode, owner Owner, limit Limit) (enforced bool, err error) {
	if err := s.quotaPossible(limit); err != nil {
		return false, err
	}
	useQuota := s.useQuota(limit)
	if err := s.makeParents(rel); err != nil {
		return false, err
	}
	// Start private and open up only after chown, so there is no moment in
	// which the wrong user could write into the new directory.
	if useQuota {
		err = s.backend.MakeDir(rel)
	} else {
		err = beneath.Mkdir(s.dir, rel, 0o700)
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
				_ = s.removeEmpty(rel) // nothing is in it yet; do not leave it behind
			}
			return false, err
		}
	}
	dir, err := s.openDir(rel)
	if err != nil {
		return false, fmt.Errorf("opening %q: %w", rel, err)
	}
	defer dir.Close()
	if owner.UID != nil || owner.GID != nil {
		uid, gid := -1, -1
		if owner.UID != nil {
			uid = int(*owner.UID)
		}
		if owner.GID != nil {
			gid = int(*owner.GID)
		}
		if err := unix.Fchown(int(dir.Fd()), uid, gid); err != nil {
			return false, fmt.Errorf("setting owner of %q: %w", rel, err)
		}
	}
	if err := unix.Fchmod(int(dir.Fd()), unixMode(mode)); err != nil {
		return false, fmt.Errorf("setting mode of %q: %w", rel, err)
	}
	return enforced, nil
}

// unixMode is the chmod argument for m: permissions, setuid, setgid and
// sticky.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		u |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		u |= unix.S_ISVTX
	}
	return u
}

// makeParents creates the parent directories of rel that a nested
// pathPattern needs, each registered as the store's before it is made (so
// a crash leaves no parent that clean-up would not know).
func (s *Store) makeParents(rel string) error {
	for parent := range ancestors(rel) {
		st, err := beneath.Lstat(s.dir, parent)
		if err == nil {
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFDIR:
				continue
			case unix.S_IFLNK:
				return fmt.Errorf("creating %q: %w; touching nothing", rel, &beneath.SymlinkError{Path: rel, Component: parent})
			default:
				return fmt.Errorf("creating parent directory %q: it is a %s", parent, describe(&st))
			}
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("creating parent directory %q: %w", parent, err)
		}
		if err := s.registerParent(parent); err != nil {
			return err
		}
		// A volume entry for a directory that does not exist is stale; left
		// in place it would make this parent look like a volume.
		if err := s.unregister(volumesDir, parent); err != nil {
			return err
		}
		if err := beneath.Mkdir(s.dir, parent, 0o755); err != nil {
			_ = s.unregister(parentsDir, parent) // not ours after all
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return fmt.Errorf("creating parent directory %q: %w", parent, err)
		}
	}
	return nil
}

// ancestors yields the proper ancestors of rel, outermost first: "a",
// "a/b" for "a/b/c".
func ancestors(rel string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := range len(rel) {
			if rel[i] == '/' && !yield(rel[:i]) {
				return
			}
		}
	}
}

// openDir opens the directory rel below the base path, following no
// symlink in any component.
func (s *Store) openDir(rel string) (*os.File, error) {
	return beneath.OpenDir(s.dir, rel)
}

// inParent calls fn with the parent directory of rel below base, open
// (resolved without following a symlink), and rel's last component: a
// single name, so what the kernel does lands in that directory and no
// symlink can redirect it.
func inParent(base *os.File, rel string, fn func(parentFd int, name string) error) error {
	parent, name, err := beneath.OpenParent(base, rel)
	if err != nil {
		return fmt.Errorf("opening the parent directory of %q: %w", rel, err)
	}
	defer parent.Close()
	return fn(int(parent.Fd()), name)
}

// inDir calls fn with the directory rel below base, open (resolved without
// following a symlink in any component).
func inDir(base *os.File, rel string, fn func(fd int) error) error {
	dir, err := beneath.OpenDir(base, rel)
	if err != nil {
		return fmt.Errorf("opening %q: %w", rel, err)
	}
	defer dir.Close()
	return fn(int(dir.Fd()))
}

// removeEmpty removes rel if it is an empty directory. rmdir, unlike a
// removal of whatever is there, fails on anything else, rather than lose
// what someone put there meanwhile.
func (s *Store) removeEmpty(rel string) error {
	return inParent(s.dir, rel, func(parentFd int, name string) error {
		return unix.Unlinkat(parentFd, name, unix.AT_REMOVEDIR)
	})
}

// limit applies the size limit to the new volume rel: the qgroup limit of
// the subvolume on btrfs; with project quotas, a project ID of its own (one
// it already has from an earlier attempt is kept) and that project's limit.
// Without quotas on the filesystem, "auto" carries on unenforced and
// "required" fails.
func (s *Store) limit(rel string, limit Limit) (bool, error) {
	err := s.backend.Limit(rel, limit.Bytes)
	switch {
	case err == nil:
		return true, nil
	case quota.Unavailable(err) && limit.Mode != policy.QuotaRequired:
		return false, nil
	default:
		return false, fmt.Errorf("limiting %q to %d bytes: %w", rel, limit.Bytes, quota.Hint(err))
	}
}

// checkAdoptable accepts an existing rel as a fresh volume's directory only
// if it is an empty directory.
func (s *Store) checkAdoptable(rel string) error {
	st, err := beneath.Lstat(s.dir, rel)
	if err != nil {
		return fmt.Errorf("inspecting existing %q: %w", rel, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
	case unix.S_IFLNK:
		return fmt.Errorf("%q: %w: %w", rel, ErrCollision, &beneath.SymlinkError{Path: rel, Component: rel})
	default:
		return fmt.Errorf("%q: %w (it is a %s)", rel, ErrCollision, describe(&st))
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
	f, err := s.openDir(rel)
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

// Exists reports whether rel exists (without following a symlink in any
// component; a symlink in a parent is an error, a symlink as the last
// component exists).
func (s *Store) Exists(rel string) (bool, error) {
	_, err := beneath.Lstat(s.dir, rel)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspecting %q: %w", rel, err)
	}
	return true, nil
}

// Check reports why rel is not a volume directory that can be acted on:
// it must exist and be a directory reached without a symlink in any
// component, the last included. Callers that change only what the API
// records about a volume (a grown size without a quota) use it so that a
// tampered path is refused like one they would have to touch.
func (s *Store) Check(rel string) error {
	if err := checkPath(rel); err != nil {
		return err
	}
	d, err := beneath.OpenDir(s.dir, rel)
	if err != nil {
		return fmt.Errorf("opening %q: %w", rel, err)
	}
	return d.Close()
}

// Remove deletes the volume at rel, a tree of any depth and owned by
// anyone, without following symlinks inside it, then its registry entry,
// then the parents the store made for it that are now empty. A missing
// tree is success: deletion may be retried after a crash halfway through.
// A symlink in any component of rel, or a volume inside rel's tree, means
// nothing is removed. What the volume's limit holds is released once the
// tree is gone (with project quotas that clears the project's limit, which
// frees the ID).
func (s *Store) Remove(rel string) error {
	if err := checkPath(rel); err != nil {
		return err
	}
	if failpoint.Armed(failpoint.MidDelete) {
		s.removeOneEntry(rel)
		failpoint.Crash(failpoint.MidDelete)
	}
	s.mu.Lock()
	parent, name, err := s.openVolume("removing", rel)
	s.mu.Unlock()
	if parent == nil || err != nil {
		return err
	}
	defer parent.Close()
	// The tree may be large, so others may create and remove meanwhile;
	// rel keeps its registry entry (and so blocks volumes inside it) until
	// its tree is gone.
	return s.removeTree(parent, name, rel, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.forget(rel)
	})
}

// openVolume opens the directory that holds the existing volume rel and
// returns it with rel's last component, for op (a verb, for messages). A
// volume that is gone is forgotten and gives a nil parent. A symlink in
// any component, rel itself included, or a volume inside rel's tree is
// refused. Called with s.mu held.
func (s *Store) openVolume(op, rel string) (parent *os.File, name string, err error) {
	parent, name, err = beneath.OpenParent(s.dir, rel)
	if errors.Is(err, fs.ErrNotExist) {
		s.forget(rel)
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("%s %q: %w; touching nothing", op, rel, err)
	}
	var st unix.Stat_t
	err = unix.Fstatat(int(parent.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(err, unix.ENOENT):
		// Already gone (a retry after a crash): success, nothing to open.
		s.forget(rel)
		err = nil
	case err != nil:
		err = fmt.Errorf("%s %q: %w", op, rel, err)
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		err = fmt.Errorf("%s %q: %w; touching nothing", op, rel, &beneath.SymlinkError{Path: rel, Component: rel})
	default:
		if err = s.refuseHolding(rel); err == nil {
			return parent, name, nil
		}
	}
	parent.Close()
	return nil, "", err
}

// removeTree removes the tree name in parent (rel, for messages), calls
// removed (if any) once it is gone, and has the backend release the
// volume's limit. What to release is read before the tree goes: with
// project quotas, afterwards nothing says which project it was. Failing to
// read it does not stop the removal; the limit then stays on an ID without
// files, which Space does not count.
func (s *Store) removeTree(parent *os.File, name, rel string, removed func()) error {
	release, relErr := s.backend.Release(int(parent.Fd()), name, rel)
	if err := beneath.RemoveAll(parent, name); err != nil {
		return fmt.Errorf("removing %q: %w", rel, err)
	}
	if removed != nil {
		removed()
	}
	if release != nil {
		relErr = release()
	}
	if relErr != nil {
		return fmt.Errorf("removed %q, but %w", rel, relErr)
	}
	return nil
}

// removeOneEntry removes a single entry of rel, so a crash test can stop a
// deletion halfway.
func (s *Store) removeOneEntry(rel string) {
	f, err := s.openDir(rel)
	if err != nil {
		return
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	if len(names) == 1 {
		_ = beneath.RemoveAll(f, names[0])
	}
}

// forget unregisters the volume rel, whose directory is gone or moved,
// and prunes its parents. Called with s.mu held.
func (s *Store) forget(rel string) {
	_ = s.unregister(volumesDir, rel) // a stale entry blocks nothing
	s.pruneParents(rel)
}

// pruneParents removes the parent directories of rel that the store made
// for a nested pathPattern and that are now empty, innermost first. It
// stops at the first that is not registered as the store's, is a volume,
// or holds anything (rmdir refuses: a sibling volume keeps it alive).
// Failure is harmless, so errors end the pruning without being reported.
// Called with s.mu held.
func (s *Store) pruneParents(rel string) {
	for dir := path.Dir(rel); dir != "."; dir = path.Dir(dir) {
		if ok, err := s.registered(parentsDir, dir); err != nil || !ok {
			return
		}
		if vol, err := s.registered(volumesDir, dir); err != nil || vol {
			return
		}
		err := s.removeEmpty(dir)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return
		}
		if s.unregister(parentsDir, dir) != nil {
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

// Archive renames the volume rel to its archive name and returns that
// name. A missing rel is success with an empty name: a crash after the
// rename must not block the PV's deletion forever. The archive is
// registered as a volume (with rel's PV) before the rename and rel is
// unregistered after it, so the archive blocks nesting for as long as it
// exists. A symlink in any component of rel, or a volume inside rel's
// tree, means nothing is renamed.
//
// An archive keeps its size limit (the btrfs subvolume keeps its qgroup, the
// directory its project ID and the project its limit): the data is kept,
// still takes its space, and the limit keeps counting as promised in Space
// until the admin removes the archive.
func (s *Store) Archive(rel string, t time.Time) (string, error) {
	if err := checkPath(rel); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	parent, leaf, err := s.openVolume("archiving", rel)
	if parent == nil || err != nil {
		return "", err
	}
	defer parent.Close()
	pv := ""
	if e, ok, err := s.entry(volumesDir, rel); err == nil && ok {
		pv = e.pv
	}
	name := ArchiveName(rel, t)
	for i := 2; ; i++ {
		taken, err := s.registered(volumesDir, name)
		if err != nil {
			return "", err
		}
		if !taken {
			undo, err := s.registerVolume(name, pv)
			if err != nil {
				return "", err
			}
			err = beneath.Rename(parent, leaf, s.dir, name, unix.RENAME_NOREPLACE)
			if err == nil {
				break
			}
			undo()
			if !errors.Is(err, fs.ErrExist) {
				return "", fmt.Errorf("archiving %q as %q: %w", rel, name, err)
			}
		}
		name = fmt.Sprintf("%s-%d", ArchiveName(rel, t), i)
	}
	failpoint.Crash(failpoint.AfterArchive)
	s.forget(rel)
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
// the sum of the limits already promised, as the backend counts them
// (btrfs with quotas on: the limits of the qgroups of every live subvolume
// on the filesystem; project quotas: the limits of this provisioner's
// projects that still have a file charged to them). Both read kernel
// state (a few tree searches or quotactl calls per volume), with no disk
// I/O for a cached filesystem.
func (s *Store) Space() (Space, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(s.dir.Fd()), &st); err != nil {
		return Space{}, fmt.Errorf("statfs %s: %w", s.base, err)
	}
	sp := Space{Total: st.Blocks * uint64(st.Bsize), Free: st.Bavail * uint64(st.Bsize)}
	reserved, enforcing, err := s.backend.Reserved()
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

// promised is a backend's Reserved from the limits it read: not enforcing
// where the kernel says its quotas are unavailable.
func promised(limits []uint64, err error) (sum uint64, enforcing bool, _ error) {
	if quota.Unavailable(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	for _, l := range limits {
		sum = addSaturating(sum, l)
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

// probes numbers Writable's probe files: every provisioning worker probes
// before it creates a volume, and concurrent probes under one name would
// find each other's file and call a writable base path read-only.
var probes atomic.Uint64

// probeName is the name of the nth probe file of this process.
func probeName(n uint64) string {
	return fmt.Sprintf(".hostpath-provisioner-probe-%d-%d", os.Getpid(), n)
}

// Writable checks that a file can be created in the base path, so a
// read-only or full mount shows up in readiness rather than in a failed
// claim. The probe is a name no other probe uses, created with
// O_EXCL|O_NOFOLLOW in the held base directory: nothing a symlink could
// redirect.
func (s *Store) Writable() error {
	name := probeName(probes.Add(1))
	f, err := beneath.CreateFile(s.dir, name, os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("base path %s is not writable: %w", s.base, err)
	}
	f.Close()
	if err := unix.Unlinkat(int(s.dir.Fd()), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("base path %s: removing probe file: %w", s.base, err)
	}
	return nil
}

// Resize changes the enforced size of the volume rel, where the volume was
// made with a limit (a btrfs subvolume, or a directory with a project ID of
// ours); elsewhere the size is only recorded on the PV. A symlink in any
// component of rel is refused.
func (s *Store) Resize(rel string, bytes int64) error {
	if err := checkPath(rel); err != nil {
		return err
	}
	if err := s.backend.SetLimit(rel, bytes); err != nil {
		return fmt.Errorf("resizing %q to %d bytes: %w", rel, bytes, err)
	}
	return nil
}

// describe names the type of st for messages.
func describe(st *unix.Stat_t) string {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	default:
		return "device"
	}
}
