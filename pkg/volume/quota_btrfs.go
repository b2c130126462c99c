package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/quota"
)

// btrfsBackend is btrfs: each volume is a subvolume with a qgroup limit on
// the data it references, and a clone of one is a snapshot.
type btrfsBackend struct{ base *os.File }

func (btrfsBackend) Kind() quota.Kind { return quota.Btrfs }

// MakeDir makes rel a subvolume, the unit a qgroup limits.
func (b btrfsBackend) MakeDir(rel string) error {
	err := inParent(b.base, rel, quota.CreateSubvolume)
	if errors.Is(err, unix.EEXIST) {
		return fs.ErrExist
	}
	return err
}

// Limit sets the qgroup limit of the new subvolume rel.
func (b btrfsBackend) Limit(rel string, bytes int64) error { return b.SetLimit(rel, bytes) }

// SetLimit changes the qgroup limit of the subvolume rel. A plain
// directory is refused: the ioctl limits the subvolume an fd lies in, so
// through a plain directory it would cap the subvolume around it (the
// base path's, shared by every volume that is not a subvolume of its own).
func (b btrfsBackend) SetLimit(rel string, bytes int64) error {
	return inDir(b.base, rel, func(fd int) error {
		if !quota.IsSubvolume(fd) {
			return fmt.Errorf("%q is a plain directory, not a btrfs subvolume: %w", rel, errNoOwnQgroup)
		}
		return quota.SetLimit(fd, uint64(max(bytes, 0)))
	})
}

// errNoOwnQgroup is a directory on btrfs that has no qgroup of its own to
// limit (an admin's empty directory adopted as a volume, or a volume made
// while quotas were off).
var errNoOwnQgroup = errors.New("it has no qgroup of its own, and a limit set through it would limit the subvolume around it")

// HasOwnLimit is true for a subvolume: a plain directory (copied while
// quota was off) shares the qgroup of the subvolume around it.
func (b btrfsBackend) HasOwnLimit(rel string) (own bool, err error) {
	err = inDir(b.base, rel, func(fd int) error {
		own = quota.IsSubvolume(fd)
		return nil
	})
	return own, err
}

// Release has nothing to do: the qgroup of a deleted subvolume promises
// nothing (Reserved counts live subvolumes only).
func (btrfsBackend) Release(int, string, string) (func() error, error) { return nil, nil }

// Reserved adds up the referenced-bytes limits of every level-0 qgroup of
// a live subvolume on the filesystem, not only of the subvolumes under
// this base path. Telling those apart would take a path lookup per
// subvolume; all of them draw on the same space, so counting the admin's
// limits too errs on the side of promising less.
func (b btrfsBackend) Reserved() (uint64, bool, error) {
	limits, err := quota.QgroupLimits(int(b.base.Fd()))
	return promised(slices.Collect(maps.Values(limits)), err)
}

// Usage is the referenced bytes of the qgroup of dir, when dir is a
// subvolume.
func (btrfsBackend) Usage(dir *os.File) (Usage, bool, error) {
	fd := int(dir.Fd())
	if !quota.IsSubvolume(fd) {
		// A plain directory (quota: off, or made before quotas were on)
		// is charged to the qgroup of the subvolume around it, whose
		// number says nothing about this volume.
		return Usage{}, false, nil
	}
	used, limit, err := quota.QgroupUsage(fd)
	return measured(FromQgroup, used, limit, err)
}

// CanSnapshot says whether src is a subvolume without subvolumes inside
// it: a snapshot would leave nested subvolumes out (they show up as empty
// directories), so such a source is copied instead.
func (btrfsBackend) CanSnapshot(src *os.File) (bool, error) {
	fd := int(src.Fd())
	if !quota.IsSubvolume(fd) {
		return false, nil
	}
	nested, err := quota.HasNestedSubvolumes(fd)
	if err != nil {
		return false, err
	}
	return !nested, nil
}

// Snapshot makes name in the directory parentFd a snapshot of src.
func (btrfsBackend) Snapshot(src *os.File, parentFd int, name string) error {
	return quota.Snapshot(int(src.Fd()), parentFd, name)
}
