// Package quota enforces a volume's requested size where the filesystem
// can, in-process through ioctls: on btrfs each volume is a subvolume with
// a qgroup limit. XFS and ext4 project quotas are not implemented yet, so
// on those (and every other filesystem) a class with quota: required is
// refused with a message that says so.
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
)

// ErrQuotaDisabled means btrfs quotas (qgroups) are off on the filesystem.
var ErrQuotaDisabled = errors.New("btrfs quotas are not enabled on this filesystem (run `btrfs quota enable <base path>`)")

// Detect says which kind of enforcement the filesystem holding fd offers.
func Detect(fd int) (Kind, string, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return None, "", fmt.Errorf("statfs: %w", err)
	}
	switch st.Type {
	case unix.BTRFS_SUPER_MAGIC:
		return Btrfs, "btrfs", nil
	case unix.XFS_SUPER_MAGIC:
		return None, "xfs", nil
	case unix.EXT4_SUPER_MAGIC:
		return None, "ext4", nil
	case unix.TMPFS_MAGIC:
		return None, "tmpfs", nil
	case unix.OVERLAYFS_SUPER_MAGIC:
		return None, "overlayfs", nil
	}
	return None, fmt.Sprintf("filesystem type 0x%x", st.Type), nil
}
