// Package quota enforces a volume's requested size where the filesystem
// can, in-process through ioctls and quotactl_fd(2), never by running
// quota tools:
//
//   - btrfs: each volume is a subvolume with a qgroup limit (CreateSubvolume,
//     SetLimit); QgroupUsage and QgroupLimits read the numbers back.
//   - XFS and ext4: each volume directory gets its own project ID with the
//     inherit flag (SetProject) and a project quota limit (SetProjectLimit);
//     ProjectUsage reads it back. This needs Linux 5.14 or later and project
//     quotas switched on by the admin (see Detect for what to do).
//
// On every other filesystem, or where the admin has not switched quotas on,
// Detect reports None with a reason that says what is missing, so a class
// with quota: required is refused with a message the admin can act on.
//
// This package is the kernel's side: the calls, their structures and what
// their errors mean. When a volume gets its limit, and what is undone when
// a step fails, is package volume's, whose quota backends (one per Kind,
// chosen from Detect's answer) call these.
package quota

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Kind names how a filesystem can enforce sizes.
type Kind string

const (
	// None: sizes are recorded, not enforced.
	None Kind = "none"
	// Btrfs: subvolume per volume with a qgroup limit.
	Btrfs Kind = "btrfs"
	// Project: XFS or ext4 with project quota accounting and enforcement
	// on; a project ID per volume directory with a block limit.
	Project Kind = "project"
)

// Enforces says the kind can hold a volume to its size.
func (k Kind) Enforces() bool { return k == Btrfs || k == Project }

// ErrQuotaDisabled means btrfs quotas (qgroups) are off on the filesystem.
var ErrQuotaDisabled = errors.New("btrfs quotas are not enabled on this filesystem (run `btrfs quota enable <base path>`)")

// Unavailable says err means sizes cannot be enforced here, rather than
// that something broke: quotas are off on the filesystem, or this process
// lacks CAP_SYS_ADMIN, which the kernel requires for setting and reading
// qgroup and project quota limits.
func Unavailable(err error) bool {
	return errors.Is(err, ErrQuotaDisabled) || errors.Is(err, ErrProjectQuotaDisabled) || errors.Is(err, unix.EPERM)
}

// Hint adds what to do to an error of an unavailable quota.
func Hint(err error) error {
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("%w: setting and reading quota limits needs the capability CAP_SYS_ADMIN, which this process does not have (add SYS_ADMIN to the container's capabilities to enforce sizes)", err)
	}
	return err
}

// ErrProjectQuotaDisabled means the filesystem is not accounting project
// quotas: the kernel has no project quota state to read or change. Detect
// says what the admin must do for the filesystem at hand.
var ErrProjectQuotaDisabled = errors.New("project quotas are not enabled on this filesystem")

// statfsType is the filesystem's magic number. The field is int64 on
// 64-bit Linux but int32 on 32-bit ARM, where magics with the top bit set
// (btrfs's 0x9123683e) read as negative; every magic fits in 32 bits.
func statfsType(st *unix.Statfs_t) int64 { return int64(uint32(st.Type)) } //nolint:gosec // see above

// Detect says which kind of enforcement the filesystem holding fd offers.
// The string names the filesystem and, where sizes cannot be enforced on a
// filesystem that could do it, what is missing; it reads well after "is on"
// ("xfs without the prjquota mount option ..."). Only a failing statfs is an
// error: a project quota state that cannot be read is reported in the
// string, because the caller can still use the filesystem without sizes.
func Detect(fd int) (Kind, string, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return None, "", fmt.Errorf("statfs: %w", err)
	}
	fsType := statfsType(&st)
	var pq projectQuota
	if fsType == unix.XFS_SUPER_MAGIC || fsType == unix.EXT4_SUPER_MAGIC {
		pq = probeProjectQuota(fd)
	}
	k, reason := classify(fsType, pq)
	return k, reason, nil
}
