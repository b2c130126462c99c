package volume

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/beneath"
	"github.com/mazdermind/hostpath-provisioner/pkg/quota"
)

// Volumes on XFS and ext4 with project quotas: each volume directory gets a
// project ID of its own from this provisioner's range, with the inherit
// flag, and the project gets the volume's size as its hard limit.

// projectQuotas is the kernel side of project quotas. The Store's decisions
// (which ID, in which order, what to undo, what to count) are tested
// against a fake, because few test kernels have quota support. fd is any
// open file on the filesystem, except where it says the directory.
type projectQuotas interface {
	// ProjectID is the project of the directory fd (0: none).
	ProjectID(fd int) (uint32, error)
	// SetProject puts the directory fd into project id, with inherit.
	SetProject(fd int, id uint32) error
	SetLimit(fd int, id uint32, bytes uint64) error
	ClearLimit(fd int, id uint32) error
	// InUse says whether the kernel has anything charged to id or a limit
	// on it.
	InUse(fd int, id uint32) (bool, error)
	Usage(fd int, id uint32) (used, limit uint64, err error)
	// Quotas lists the projects of this provisioner's ID range the kernel
	// keeps records for.
	Quotas(fd int) (map[uint32]quota.ProjectQuota, error)
}

// kernelProjects is projectQuotas through the quota package's syscalls.
type kernelProjects struct{}

func (kernelProjects) ProjectID(fd int) (uint32, error) {
	id, _, err := quota.ProjectID(fd)
	return id, err
}

func (kernelProjects) SetProject(fd int, id uint32) error { return quota.SetProject(fd, id) }

func (kernelProjects) SetLimit(fd int, id uint32, bytes uint64) error {
	return quota.SetProjectLimit(fd, id, bytes)
}

func (kernelProjects) ClearLimit(fd int, id uint32) error { return quota.ClearProjectLimit(fd, id) }

func (kernelProjects) InUse(fd int, id uint32) (bool, error) { return quota.ProjectIDInUse(fd, id) }

func (kernelProjects) Usage(fd int, id uint32) (uint64, uint64, error) {
	return quota.ProjectUsage(fd, id)
}

func (kernelProjects) Quotas(fd int) (map[uint32]quota.ProjectQuota, error) {
	return quota.ProjectQuotas(fd, quota.ProjectIDMin, quota.ProjectIDMax)
}

// ourProject says whether id is one this provisioner hands out. Any other
// ID (0, or one of the admin's that a directory inherited from the base
// path) is never changed or cleared by us.
func ourProject(id uint32) bool {
	return id >= quota.ProjectIDMin && id <= quota.ProjectIDMax
}

// projectBytes is a limit the kernel can hold: 0 would mean "no limit".
func projectBytes(bytes int64) (uint64, error) {
	if bytes <= 0 {
		return 0, fmt.Errorf("a limit of %d bytes cannot be set as a project quota (to the kernel 0 means no limit)", bytes)
	}
	return uint64(bytes), nil
}

// limitProject gives the new, still private directory rel a project ID and
// the project a limit of bytes: the limit first, so that the directory is
// never in a project without one. A directory that already has one of our
// IDs (an earlier attempt crashed after giving it one) keeps it and gets
// the limit again.
func (s *Store) limitProject(rel string, bytes int64) error {
	return s.withProject(rel, bytes, func(fd int, id uint32, limit uint64) error {
		return s.giveProject(rel, fd, id, limit)
	})
}

// withProject opens the volume rel and calls fn with its fd, its current
// project ID and bytes as a project limit.
func (s *Store) withProject(rel string, bytes int64, fn func(fd int, id uint32, limit uint64) error) error {
	limit, err := projectBytes(bytes)
	if err != nil {
		return err
	}
	dir, err := s.openDir(rel)
	if err != nil {
		return fmt.Errorf("opening %q: %w", rel, err)
	}
	defer dir.Close()
	fd := int(dir.Fd())
	id, err := s.projects.ProjectID(fd)
	if err != nil {
		return err
	}
	return fn(fd, id, limit)
}

func (s *Store) giveProject(rel string, fd int, id uint32, limit uint64) error {
	if ourProject(id) {
		if err := s.projects.SetLimit(fd, id, limit); err != nil {
			return err
		}
		return s.projects.SetProject(fd, id) // sets inherit again, should it be missing
	}

	s.idMu.Lock()
	defer s.idMu.Unlock()
	id, err := quota.NextProjectID(s.projectHint(rel), func(id uint32) (bool, error) { return s.projects.InUse(fd, id) })
	if err != nil {
		return err
	}
	if err := s.projects.SetLimit(fd, id, limit); err != nil {
		return err
	}
	if err := s.projects.SetProject(fd, id); err != nil {
		// Nothing is charged to the ID yet; without its limit it is free
		// again. Should clearing fail too, the limit stays on an ID no
		// directory has, which Space does not count and NextProjectID
		// skips.
		_ = s.projects.ClearLimit(fd, id)
		return err
	}
	return nil
}

// setProjectLimit changes the limit of the project the existing volume rel
// has. A volume without one of our IDs was made without a limit, and giving
// it one now would not cover the files already in it.
func (s *Store) setProjectLimit(rel string, bytes int64) error {
	return s.withProject(rel, bytes, func(fd int, id uint32, limit uint64) error {
		if !ourProject(id) {
			return fmt.Errorf("%q has no project ID of this provisioner (it has %d), so its size is not enforced", rel, id)
		}
		return s.projects.SetLimit(fd, id, limit)
	})
}

// projectOf is the project ID of ours that the volume rel, the entry name
// of the directory parentFd, has, or 0: not on project quotas, not a
// directory (or none at all), or an ID that is not ours.
func (s *Store) projectOf(parentFd int, name, rel string) (uint32, error) {
	if s.kind != quota.Project {
		return 0, nil
	}
	fd, err := beneath.OpenDirAt(parentFd, name)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return 0, nil // gone, or not a directory
	}
	if err != nil {
		return 0, fmt.Errorf("opening %q: %w", rel, err)
	}
	defer unix.Close(fd)
	id, err := s.projects.ProjectID(fd)
	if err != nil {
		return 0, fmt.Errorf("reading the project of %q: %w", rel, err)
	}
	if !ourProject(id) {
		return 0, nil
	}
	return id, nil
}

// clearProjectLimit removes the limit of project id once its volume is
// gone, so the ID is free again and its limit no longer counts as promised.
func (s *Store) clearProjectLimit(id uint32) error {
	return s.projects.ClearLimit(int(s.dir.Fd()), id)
}
