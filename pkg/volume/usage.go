package volume

import (
	"errors"
	"fmt"
	"os"
	"path"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/beneath"
	"github.com/mazdermind/hostpath-provisioner/pkg/quota"
)

// UsageSource says where a Usage figure comes from.
type UsageSource string

const (
	// FromQgroup is the referenced bytes of the volume's btrfs qgroup: what
	// its limit counts, data shared with a snapshot or clone included. The
	// kernel updates it when it commits a transaction (every 30 s by
	// default), so it lags recent writes by up to that long. We do not
	// syncfs to catch up: that would write the whole filesystem out on
	// every measurement.
	FromQgroup UsageSource = "btrfs-qgroup"
	// FromProjectQuota is the space charged to the volume's project: what
	// its limit counts, up to date.
	FromProjectQuota UsageSource = "project-quota"
	// FromWalk is the allocated blocks of the tree, counted entry by entry
	// up to a bound (hard links inside the tree are counted each time).
	FromWalk UsageSource = "walk"
)

// Usage is how much space a volume uses.
type Usage struct {
	Used int64
	// Truncated says a walk hit its bound and Used is a lower bound.
	Truncated bool
	// Limit is the size enforced on the volume, as the quota backend has
	// it; 0 when the figure comes from a walk or no limit is set.
	Limit  int64
	Source UsageSource
}

// Usage measures the volume rel. Where the quota backend keeps a number for
// it (a btrfs subvolume while quotas are on, a directory with a project ID
// of ours while project quotas are on) that number is read, which costs a
// few syscalls whatever the volume holds. Otherwise the tree is walked
// without following symlinks, visiting at most maxEntries entries. A
// symlink in any component of rel is refused.
func (s *Store) Usage(rel string, maxEntries int) (Usage, error) {
	if err := checkPath(rel); err != nil {
		return Usage{}, err
	}
	u, ok, err := s.backendUsage(rel)
	if err != nil {
		return Usage{}, fmt.Errorf("measuring %q: %w", rel, err)
	}
	if ok {
		return u, nil
	}
	used, truncated, err := s.walkUsage(rel, maxEntries)
	return Usage{Used: used, Truncated: truncated, Source: FromWalk}, err
}

// backendUsage reads the quota backend's figure for rel; ok is false when
// it has none.
func (s *Store) backendUsage(rel string) (u Usage, ok bool, err error) {
	dir, err := s.openDir(rel)
	if err != nil {
		return Usage{}, false, nil // not a directory, a symlink, or gone: the walk says what it is
	}
	defer dir.Close()
	return s.backend.Usage(dir)
}

// measured is a backend's Usage from the figures it read: none where the
// kernel says its quotas are unavailable.
func measured(src UsageSource, used, limit uint64, err error) (Usage, bool, error) {
	if quota.Unavailable(err) {
		return Usage{}, false, nil
	}
	if err != nil {
		return Usage{}, false, err
	}
	return Usage{Used: clampInt64(used), Limit: clampInt64(limit), Source: src}, true, nil
}

func clampInt64(v uint64) int64 {
	return int64(min(v, 1<<63-1))
}

// errWalkBound ends a usage walk that has visited its bound of entries.
var errWalkBound = errors.New("walk bound reached")

// walkUsage adds up the allocated bytes of the tree at rel without following
// symlinks, visiting at most maxEntries entries (truncated says the bound
// was hit and the figure is a lower bound). Every directory is opened by
// its single name relative to its parent's descriptor, with O_NOFOLLOW: a
// directory swapped for a symlink meanwhile is counted as what it was
// listed as and not entered.
func (s *Store) walkUsage(rel string, maxEntries int) (used int64, truncated bool, err error) {
	top, err := s.openDir(rel)
	if err != nil {
		return 0, false, err
	}
	defer top.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(top.Fd()), &st); err != nil {
		return 0, false, err
	}
	used = st.Blocks * 512
	seen := 0
	var walk func(dir *os.File, rel string) error
	walk = func(dir *os.File, rel string) error {
		return beneath.ForEachEntry(dir, rel, func(name, entry string, st *unix.Stat_t) error {
			if seen >= maxEntries {
				return errWalkBound
			}
			seen++
			used += st.Blocks * 512
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return nil
			}
			fd, err := beneath.OpenDirAt(int(dir.Fd()), name)
			if err != nil {
				// Gone, no longer a directory, or not to be opened: counted
				// as what it was listed as, and not entered.
				return nil
			}
			sub := os.NewFile(uintptr(fd), path.Join(dir.Name(), name))
			defer sub.Close()
			return walk(sub, entry)
		})
	}
	err = walk(top, ".")
	if errors.Is(err, errWalkBound) {
		return used, true, nil
	}
	return used, false, err
}
