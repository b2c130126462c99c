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
	"syscall"
	"time"

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
	fsName string     // the filesystem type, for messages
}

// Open opens the base path. It must exist: creating it here would hide a
// missing mount (data then lands on the root filesystem).
func Open(base string) (*Store, error) {
	root, err := os.OpenRoot(base)
	if err != nil {
		return nil, fmt.Errorf("opening base path: %w", err)
	}
	s := &Store{base: base, root: root}
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
func (s *Store) Create(rel string, mode fs.FileMode, owner Owner, limit Limit) (enforced bool, err error) {
	if err := policy.SafeRelPath(rel); err != nil {
		return false, fmt.Errorf("volume path %q %w", rel, err)
	}
	useQuota := limit.Mode != policy.QuotaOff && s.kind == quota.Btrfs
	if limit.Mode == policy.QuotaRequired && !useQuota {
		return false, fmt.Errorf("the class requires quota, but %s is on %s, where this provisioner cannot enforce sizes (supported: btrfs with quotas enabled)", s.base, s.fsName)
	}
	parent := path.Dir(rel)
	if parent != "." {
		if err := s.root.MkdirAll(parent, 0o755); err != nil {
			return false, fmt.Errorf("creating parent directory %q: %w", parent, err)
		}
	}
	// Start private and open up only after chown, so there is no moment in
	// which the wrong user could write into the new directory.
	if useQuota {
		err = s.createSubvolume(parent, path.Base(rel))
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

func (s *Store) createSubvolume(parent, name string) error {
	dir, err := s.root.Open(parent)
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := quota.CreateSubvolume(int(dir.Fd()), name); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fs.ErrExist
		}
		return err
	}
	return nil
}

// limit applies the size limit to the subvolume rel. Without quotas on the
// filesystem, "auto" carries on unenforced and "required" fails.
func (s *Store) limit(rel string, limit Limit) (bool, error) {
	err := s.setLimit(rel, limit.Bytes)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, quota.ErrQuotaDisabled) && limit.Mode != policy.QuotaRequired:
		return false, nil
	default:
		return false, fmt.Errorf("limiting %q to %d bytes: %w", rel, limit.Bytes, err)
	}
}

// setLimit sets the qgroup limit of the subvolume rel.
func (s *Store) setLimit(rel string, bytes int64) error {
	dir, err := s.root.Open(rel)
	if err != nil {
		return fmt.Errorf("opening %q: %w", rel, err)
	}
	defer dir.Close()
	return quota.SetLimit(int(dir.Fd()), uint64(max(bytes, 0)))
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
// retried after a crash halfway through.
func (s *Store) Remove(rel string) error {
	if err := policy.SafeRelPath(rel); err != nil {
		return fmt.Errorf("volume path %q %w", rel, err)
	}
	if failpoint.Armed(failpoint.MidDelete) {
		s.removeOneEntry(rel)
		failpoint.Crash(failpoint.MidDelete)
	}
	if err := s.root.RemoveAll(rel); err != nil {
		return fmt.Errorf("removing %q: %w", rel, err)
	}
	s.pruneParents(rel)
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
		flat = flat[:room]
	}
	return prefix + flat + "-" + stamp
}

// Archive renames rel to its archive name and returns that name. A missing
// rel is success with an empty name: a crash after the rename must not
// block the PV's deletion forever.
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

// Space is the capacity of the filesystem holding the base path.
type Space struct {
	Total, Free uint64 // bytes; Free is what an unprivileged writer can use
}

// FreeQuantity is Free as a quantity, for comparing with sizes and for
// messages.
func (sp Space) FreeQuantity() *resource.Quantity {
	return resource.NewQuantity(int64(min(sp.Free, math.MaxInt64)), resource.BinarySI)
}

// Space reports the filesystem's capacity.
func (s *Store) Space() (Space, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(s.base, &st); err != nil {
		return Space{}, fmt.Errorf("statfs %s: %w", s.base, err)
	}
	return Space{Total: st.Blocks * uint64(st.Bsize), Free: st.Bavail * uint64(st.Bsize)}, nil
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

// Resize changes the enforced size of the subvolume rel, where the volume
// was made with a limit; elsewhere the size is only recorded on the PV.
func (s *Store) Resize(rel string, bytes int64) error {
	if err := policy.SafeRelPath(rel); err != nil {
		return fmt.Errorf("volume path %q %w", rel, err)
	}
	if err := s.setLimit(rel, bytes); err != nil {
		return fmt.Errorf("resizing %q to %d bytes: %w", rel, bytes, err)
	}
	return nil
}
