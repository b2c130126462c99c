package volume

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/beneath"
	"github.com/mazdermind/hostpath-provisioner/pkg/quota"
)

// projectBackend is XFS and ext4 with project quotas: each volume
// directory gets a project ID of its own from this provisioner's range,
// with the inherit flag, and the project gets the volume's size as its hard
// limit.
type projectBackend struct {
	base   *os.File
	kernel projectQuotas
	// hint is where the search for a free project ID starts.
	hint func(rel string) uint32
	// idMu serialises choosing and claiming project IDs: choosing (is the
	// ID free?) and claiming (set its limit) are two calls, and two Creates
	// in between would share an ID and so one limit. The process has one
	// Store per base path; a second process on the same filesystem is not
	// serialised with this one, which would need a lock on the filesystem.
	idMu sync.Mutex
}

func newProjectBackend(base *os.File, kernel projectQuotas) *projectBackend {
	return &projectBackend{base: base, kernel: kernel, hint: quota.ProjectIDHint}
}

func (*projectBackend) Kind() quota.Kind { return quota.Project }

// MakeDir makes a plain directory: it joins its project in Limit.
func (p *projectBackend) MakeDir(rel string) error { return beneath.Mkdir(p.base, rel, 0o700) }

// HasOwnLimit is true: any directory can be given a project of its own.
func (*projectBackend) HasOwnLimit(string) (bool, error) { return true, nil }

// projectQuotas is the kernel side of project quotas. The backend's
// decisions (which ID, in which order, what to undo, what to count) are
// tested against a fake, because few test kernels have quota support. fd is any
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

// Limit gives the new, still private directory rel a project ID and the
// project a limit of bytes: the limit first, so that the directory is
// never in a project without one. A directory that already has one of our
// IDs (an earlier attempt crashed after giving it one) keeps it and gets
// the limit again.
func (p *projectBackend) Limit(rel string, bytes int64) error {
	return p.withProject(rel, bytes, func(fd int, id uint32, limit uint64) error {
		return p.giveProject(rel, fd, id, limit)
	})
}

// withProject opens the volume rel and calls fn with its fd, its current
// project ID and bytes as a project limit.
func (p *projectBackend) withProject(rel string, bytes int64, fn func(fd int, id uint32, limit uint64) error) error {
	limit, err := projectBytes(bytes)
	if err != nil {
		return err
	}
	return inDir(p.base, rel, func(fd int) error {
		id, err := p.kernel.ProjectID(fd)
		if err != nil {
			return err
		}
		return fn(fd, id, limit)
	})
}

func (p *projectBackend) giveProject(rel string, fd int, id uint32, limit uint64) error {
	if ourProject(id) {
		if err := p.kernel.SetLimit(fd, id, limit); err != nil {
			return err
		}
		return p.kernel.SetProject(fd, id) // sets inherit again, should it be missing
	}

	p.idMu.Lock()
	defer p.idMu.Unlock()
	id, err := quota.NextProjectID(p.hint(rel), func(id uint32) (bool, error) { return p.kernel.InUse(fd, id) })
	if err != nil {
		return err
	}
	if err := p.kernel.SetLimit(fd, id, limit); err != nil {
		return err
	}
	if err := p.kernel.SetProject(fd, id); err != nil {
		// Nothing is charged to the ID yet; without its limit it is free
		// again. Should clearing fail too, the limit stays on an ID no
		// directory has, which Space does not count and NextProjectID
		// skips.
		_ = p.kernel.ClearLimit(fd, id)
		return err
	}
	return nil
}

// SetLimit changes the limit of the project the existing volume rel has.
// A volume without one of our IDs was made without a limit, and giving it
// one now would not cover the files already in it.
func (p *projectBackend) SetLimit(rel string, bytes int64) error {
	return p.withProject(rel, bytes, func(fd int, id uint32, limit uint64) error {
		if !ourProject(id) {
			return fmt.Errorf("%q has no project ID of this provisioner (it has %d), so its size is not enforced", rel, id)
		}
		return p.kernel.SetLimit(fd, id, limit)
	})
}

// Release reads the project of the volume before its tree goes
// (afterwards nothing says which it was) and clears that project's limit
// once the tree is gone, which frees the ID and stops the limit counting
// as promised. A volume in no project of ours has nothing to release.
func (p *projectBackend) Release(parentFd int, name, rel string) (func() error, error) {
	id, err := p.projectOf(parentFd, name, rel)
	if err != nil {
		return nil, fmt.Errorf("its project quota limit is left: %w", err)
	}
	if id == 0 {
		return nil, nil
	}
	return func() error {
		if err := p.kernel.ClearLimit(int(p.base.Fd()), id); err != nil {
			return fmt.Errorf("its project quota limit is left: %w", err)
		}
		return nil
	}, nil
}

// projectOf is the project ID of ours that the volume rel, the entry name
// of the directory parentFd, has, or 0: not a directory (or none at all),
// or an ID that is not ours.
func (p *projectBackend) projectOf(parentFd int, name, rel string) (uint32, error) {
	fd, err := beneath.OpenDirAt(parentFd, name)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return 0, nil // gone, or not a directory
	}
	if err != nil {
		return 0, fmt.Errorf("opening %q: %w", rel, err)
	}
	defer unix.Close(fd)
	id, err := p.kernel.ProjectID(fd)
	if err != nil {
		return 0, fmt.Errorf("reading the project of %q: %w", rel, err)
	}
	if !ourProject(id) {
		return 0, nil
	}
	return id, nil
}

// Reserved adds up the limits of the project IDs in this provisioner's
// range (quota.ProjectIDMin..ProjectIDMax) that still have a file charged
// to them. An ID with a limit and nothing charged holds no volume: one
// left by a crash between setting a limit and giving the directory its ID,
// or a removal whose limit could not be cleared.
func (p *projectBackend) Reserved() (uint64, bool, error) {
	projects, err := p.kernel.Quotas(int(p.base.Fd()))
	var limits []uint64
	for _, q := range projects {
		if q.Inodes > 0 {
			limits = append(limits, q.Limit)
		}
	}
	return promised(limits, err)
}

// Usage is the space charged to the project of dir, when it is one of
// ours.
func (p *projectBackend) Usage(dir *os.File) (Usage, bool, error) {
	fd := int(dir.Fd())
	id, err := p.kernel.ProjectID(fd)
	if err != nil {
		return Usage{}, false, err
	}
	if !ourProject(id) {
		// No project, or one the directory inherited from the admin's
		// that may cover far more than this volume.
		return Usage{}, false, nil
	}
	used, limit, err := p.kernel.Usage(fd, id)
	return measured(FromProjectQuota, used, limit, err)
}
