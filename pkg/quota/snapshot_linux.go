package quota

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Snapshot ioctls and structures, from linux/btrfs.h (stable UAPI).
const (
	btrfsSubvolNameMax = 4039 // BTRFS_SUBVOL_NAME_MAX
	btrfsMaxRootrefs   = 255  // BTRFS_MAX_ROOTREF_BUFFER_NUM

	// btrfsFirstFreeObjectID is the inode number of every subvolume's top
	// directory (BTRFS_FIRST_FREE_OBJECTID).
	btrfsFirstFreeObjectID = 256
)

// btrfsVolArgsV2 is struct btrfs_ioctl_vol_args_v2. The first union (size
// and qgroup_inherit, or unused[4]) is kept as its widest member: we pass
// neither a size nor a qgroup to inherit. The second union is name[], the
// widest of name, devid and subvolid.
type btrfsVolArgsV2 struct {
	Fd      int64
	Transid uint64
	Flags   uint64 // 0: a writable snapshot, no qgroup inheritance
	Unused  [4]uint64
	Name    [btrfsSubvolNameMax + 1]byte
}

// btrfsRootref is one entry of struct btrfs_ioctl_get_subvol_rootref_args.
type btrfsRootref struct {
	TreeID uint64
	DirID  uint64
}

type btrfsGetSubvolRootrefArgs struct {
	MinTreeID uint64
	Rootref   [btrfsMaxRootrefs]btrfsRootref
	NumItems  uint8
	_         [7]uint8
}

var (
	iocSnapCreateV2     = ioc(1, 23, unsafe.Sizeof(btrfsVolArgsV2{}))            // _IOW
	iocGetSubvolRootref = ioc(3, 61, unsafe.Sizeof(btrfsGetSubvolRootrefArgs{})) // _IOWR
)

// Snapshot makes name, in the directory open as dstParentFd, a writable
// snapshot of the subvolume open as srcFd. The snapshot shares every extent
// with its source, so it is instant whatever the size, and later writes to
// either side do not show in the other. name is a single path component,
// so the kernel creates it in that directory and nowhere else. Subvolumes
// nested inside the source are not part of a snapshot: they show up in it as
// empty directories (HasNestedSubvolumes tells beforehand).
func Snapshot(srcFd, dstParentFd int, name string) error {
	if len(name) == 0 || len(name) > btrfsSubvolNameMax || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return fmt.Errorf("snapshot name %q: must be a single path component of 1..%d bytes", name, btrfsSubvolNameMax)
	}
	args := btrfsVolArgsV2{Fd: int64(srcFd)}
	copy(args.Name[:], name)
	if err := ioctl(dstParentFd, iocSnapCreateV2, unsafe.Pointer(&args)); err != nil {
		return fmt.Errorf("creating btrfs snapshot %q: %w", name, err)
	}
	return nil
}

// IsSubvolume reports whether fd is the top directory of a btrfs
// subvolume. Anything it cannot tell (a failed stat) is "no": callers then
// take the slower path that works everywhere.
func IsSubvolume(fd int) bool {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil || statfsType(&sfs) != unix.BTRFS_SUPER_MAGIC {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Ino == btrfsFirstFreeObjectID
}

// HasNestedSubvolumes reports whether the subvolume holding fd has other
// subvolumes anywhere below it. It matters before a snapshot, which would
// leave their contents out. The ioctl needs no privilege (kernel 4.18 on).
func HasNestedSubvolumes(fd int) (bool, error) {
	var args btrfsGetSubvolRootrefArgs
	err := ioctl(fd, iocGetSubvolRootref, unsafe.Pointer(&args))
	if errors.Is(err, unix.EOVERFLOW) {
		return true, nil // more children than one call returns
	}
	if err != nil {
		return false, fmt.Errorf("listing nested btrfs subvolumes: %w", err)
	}
	return args.NumItems > 0, nil
}
