package volume

import (
	"os"

	"github.com/mazdermind/hostpath-provisioner/pkg/quota"
)

// quotaBackend is how the filesystem of the base path holds volumes to
// their sizes. Open chooses one from what quota.Detect says, and the store
// calls it at the points of a volume's life; what a refusal means ("auto"
// carries on without a limit, "required" fails) the store decides. A new
// backend is a file with one more implementation and a case in
// newQuotaBackend. rel is a volume path below the base path, checked.
type quotaBackend interface {
	// Kind names the backend; it goes on the PV of an enforced volume.
	Kind() quota.Kind
	// MakeDir makes the directory of a new volume that is to have a limit,
	// private (0700) until the store opens it up; an existing rel is an
	// error matching fs.ErrExist.
	MakeDir(rel string) error
	// Limit gives the new volume rel, still private, a limit of bytes.
	Limit(rel string, bytes int64) error
	// SetLimit changes the limit of the existing volume rel.
	SetLimit(rel string, bytes int64) error
	// HasOwnLimit says whether the existing volume rel can carry a limit of
	// its own, which an adopted clone is given again.
	HasOwnLimit(rel string) (bool, error)
	// Release is called before the tree name of the directory parentFd
	// (the volume rel) is removed. The release it returns, if any, is
	// called once the tree is gone and gives back what the volume held.
	// An error does not stop the removal; it is reported after it.
	Release(parentFd int, name, rel string) (release func() error, err error)
	// Reserved is the sum of the limits promised on the filesystem;
	// enforcing is false when its quotas are off.
	Reserved() (sum uint64, enforcing bool, err error)
	// Usage is the backend's figure for the volume directory dir; ok is
	// false when it has none, and the tree is walked instead.
	Usage(dir *os.File) (u Usage, ok bool, err error)
}

// snapshotter is a backend that can make a clone as a snapshot (btrfs).
type snapshotter interface {
	// CanSnapshot says whether the volume directory src can be snapshotted
	// whole.
	CanSnapshot(src *os.File) (bool, error)
	// Snapshot makes name in the directory parentFd a snapshot of src.
	Snapshot(src *os.File, parentFd int, name string) error
}

// newQuotaBackend is the backend for a filesystem of kind whose base path
// is held open as base.
func newQuotaBackend(kind quota.Kind, base *os.File) quotaBackend {
	switch kind {
	case quota.Btrfs:
		return btrfsBackend{base}
	case quota.Project:
		return newProjectBackend(base, kernelProjects{})
	}
	return noBackend{base}
}
