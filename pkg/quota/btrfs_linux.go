package quota

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// btrfs ioctl numbers and structures, from linux/btrfs.h (stable UAPI).
const (
	btrfsIoctlMagic  = 0x94
	btrfsPathNameMax = 4087

	qgroupLimitMaxRfer = 1 << 0 // BTRFS_QGROUP_LIMIT_MAX_RFER
)

type btrfsVolArgs struct {
	Fd   int64
	Name [btrfsPathNameMax + 1]byte
}

type btrfsQgroupLimit struct {
	Flags   uint64
	MaxRfer uint64
	MaxExcl uint64
	RsvRfer uint64
	RsvExcl uint64
}

type btrfsQgroupLimitArgs struct {
	QgroupID uint64
	Lim      btrfsQgroupLimit
}

func ioc(dir, nr, size uintptr) uintptr {
	return dir<<30 | size<<16 | btrfsIoctlMagic<<8 | nr
}

var (
	iocSubvolCreate = ioc(1, 14, unsafe.Sizeof(btrfsVolArgs{}))         // _IOW
	iocQgroupLimit  = ioc(2, 43, unsafe.Sizeof(btrfsQgroupLimitArgs{})) // _IOR
)

// CreateSubvolume makes name a new subvolume in the directory open as
// parentFd. name is a single path component: the kernel creates it in that
// directory and nowhere else, so no symlink can redirect it.
func CreateSubvolume(parentFd int, name string) error {
	if len(name) == 0 || len(name) > btrfsPathNameMax {
		return fmt.Errorf("subvolume name %q: length must be 1..%d", name, btrfsPathNameMax)
	}
	var args btrfsVolArgs
	copy(args.Name[:], name)
	if err := ioctl(parentFd, iocSubvolCreate, unsafe.Pointer(&args)); err != nil {
		return fmt.Errorf("creating btrfs subvolume %q: %w", name, err)
	}
	return nil
}

// SetLimit limits the subvolume open as fd to bytes (referenced data). A
// qgroup id of 0 tells the kernel to use the subvolume of fd itself.
func SetLimit(fd int, bytes uint64) error {
	args := btrfsQgroupLimitArgs{Lim: btrfsQgroupLimit{Flags: qgroupLimitMaxRfer, MaxRfer: bytes}}
	err := ioctl(fd, iocQgroupLimit, unsafe.Pointer(&args))
	if errors.Is(err, unix.ENOTCONN) || errors.Is(err, unix.ENOENT) {
		return ErrQuotaDisabled
	}
	if err != nil {
		return fmt.Errorf("setting btrfs qgroup limit: %w", err)
	}
	return nil
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}
