package quota

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fsxattr is struct fsxattr from linux/fs.h (stable UAPI); x/sys/unix does
// not define it.
type fsxattr struct {
	XFlags     uint32
	ExtSize    uint32
	NExtents   uint32
	ProjID     uint32
	CowExtSize uint32
	_          [8]byte
}

const fsXFlagProjInherit = 0x200 // FS_XFLAG_PROJINHERIT

// iocNum is the kernel's _IOC(dir, type, nr, size); ioc in btrfs_linux.go
// is the same with the btrfs type byte fixed.
func iocNum(dir, typ, nr, size uintptr) uintptr {
	return dir<<30 | size<<16 | typ<<8 | nr
}

var (
	iocFsGetXattr = iocNum(2, 'X', 31, unsafe.Sizeof(fsxattr{})) // FS_IOC_FSGETXATTR, _IOR
	iocFsSetXattr = iocNum(1, 'X', 32, unsafe.Sizeof(fsxattr{})) // FS_IOC_FSSETXATTR, _IOW
)

// SetProject puts the directory open as fd into project id and sets the
// inherit flag, so that everything created below it later is charged to the
// same project. Files already in the directory keep their project: call it
// on a fresh, empty directory. Setting the project works on XFS and on ext4
// with the project feature whether or not quotas are on.
func SetProject(fd int, id uint32) error {
	if id == 0 {
		return errors.New("project ID 0 is the default project of every file; refusing to use it for a volume")
	}
	var attr fsxattr
	if err := ioctl(fd, iocFsGetXattr, unsafe.Pointer(&attr)); err != nil {
		return fmt.Errorf("reading project attributes: %w", err)
	}
	attr.ProjID = id
	attr.XFlags |= fsXFlagProjInherit
	if err := ioctl(fd, iocFsSetXattr, unsafe.Pointer(&attr)); err != nil {
		return fmt.Errorf("setting project ID %d: %w", id, err)
	}
	return nil
}

// ProjectID is the project of the file open as fd (0: none set), and
// whether new files below it inherit it. On a retried create it tells
// whether the directory already has its ID.
func ProjectID(fd int) (id uint32, inherit bool, err error) {
	var attr fsxattr
	if err := ioctl(fd, iocFsGetXattr, unsafe.Pointer(&attr)); err != nil {
		return 0, false, fmt.Errorf("reading project attributes: %w", err)
	}
	return attr.ProjID, attr.XFlags&fsXFlagProjInherit != 0, nil
}

// SetProjectLimit sets a hard limit of bytes, rounded up to whole KiB, on
// project id of the filesystem holding fd, with no soft limit. bytes must
// not be 0: to the kernel a zero limit means unlimited, which is never what
// a zero-sized request means; ClearProjectLimit removes a limit.
func SetProjectLimit(fd int, id uint32, bytes uint64) error {
	if bytes == 0 {
		return errors.New("a project limit of 0 bytes would mean no limit to the kernel; refusing it")
	}
	d := limitDqblk(bytes)
	if err := quotactlFd(fd, qcmd(qSetQuota, prjQuota), id, unsafe.Pointer(&d)); err != nil {
		return fmt.Errorf("setting limit of project %d to %d bytes: %w", id, bytes, err)
	}
	return nil
}

// ClearProjectLimit removes the block limit of project id, so that once its
// files are gone the kernel holds nothing for it and the ID is free again.
func ClearProjectLimit(fd int, id uint32) error {
	d := ifDqblk{Valid: qifBLimits}
	if err := quotactlFd(fd, qcmd(qSetQuota, prjQuota), id, unsafe.Pointer(&d)); err != nil {
		return fmt.Errorf("clearing limit of project %d: %w", id, err)
	}
	return nil
}

// ProjectUsage is the space project id uses and its hard limit, both in
// bytes (limit 0: none). A project the kernel has no record of reports
// zeros.
func ProjectUsage(fd int, id uint32) (used, limit uint64, err error) {
	d, err := getProjectQuota(fd, id)
	if err != nil {
		return 0, 0, err
	}
	return d.CurSpace, blocksToBytes(d.BHardLimit), nil
}

// ProjectIDInUse says whether anything on the filesystem holding fd is
// charged to project id or has a limit under it: the kernel's records, so
// it sees the admin's projects as well as ours, whatever /etc/projid says.
// It is the predicate for NextProjectID.
func ProjectIDInUse(fd int, id uint32) (bool, error) {
	d, err := getProjectQuota(fd, id)
	if err != nil {
		return false, err
	}
	return d.CurSpace != 0 || d.CurInodes != 0 || d.BHardLimit != 0 || d.BSoftLimit != 0 ||
		d.IHardLimit != 0 || d.ISoftLimit != 0, nil
}

func getProjectQuota(fd int, id uint32) (ifDqblk, error) {
	var d ifDqblk
	err := quotactlFd(fd, qcmd(qGetQuota, prjQuota), id, unsafe.Pointer(&d))
	if errors.Is(err, unix.ENOENT) {
		// XFS keeps no record for an unused ID and says so; ext4 returns
		// zeros. Both mean the same.
		return ifDqblk{}, nil
	}
	if err != nil {
		return ifDqblk{}, fmt.Errorf("reading quota of project %d: %w", id, err)
	}
	return d, nil
}

// ProjectQuotas is every project ID in [lo, hi] that the kernel keeps a
// record for on the filesystem holding fd (one with usage or limits), with
// its usage and hard limit. With ProjectIDMin and ProjectIDMax it lists
// this provisioner's projects, so the limits promised to volumes can be
// added up without knowing the volumes.
func ProjectQuotas(fd int, lo, hi uint32) (map[uint32]ProjectQuota, error) {
	return collectProjectQuotas(lo, hi, func(id uint32) (ifNextDqblk, bool, error) {
		var d ifNextDqblk
		err := quotactlFd(fd, qcmd(qGetNextQuota, prjQuota), id, unsafe.Pointer(&d))
		if errors.Is(err, unix.ENOENT) {
			return d, false, nil // no record at or above id
		}
		if err != nil {
			return d, false, fmt.Errorf("reading the project quota at or after ID %d: %w", id, err)
		}
		return d, true, nil
	})
}

// ProjectQuotaState says whether the filesystem holding fd both accounts
// and enforces project quotas. An error means the kernel could not say,
// typically ENOSYS: no quota support in the kernel or the filesystem.
func ProjectQuotaState(fd int) (enabled bool, err error) {
	pq := probeProjectQuota(fd)
	return pq.accounting && pq.enforced, pq.err
}

// probeProjectQuota asks twice because neither answer is enough alone.
// Q_GETINFO tells "no quota support" (ENOSYS) from "project quotas not
// accounted" (ESRCH), but not whether limits are enforced. Q_XGETQSTATV
// has the enforcement bit, but answers ENOSYS both without quota support
// and when no quota type at all is on.
func probeProjectQuota(fd int) projectQuota {
	var info ifDqinfo
	err := quotactlFd(fd, qcmd(qGetInfo, prjQuota), 0, unsafe.Pointer(&info))
	if errors.Is(err, ErrProjectQuotaDisabled) {
		return projectQuota{}
	}
	if err != nil {
		return projectQuota{err: fmt.Errorf("reading project quota state: %w", err)}
	}
	st := fsQuotaStatv{Version: fsQStatVVersion1}
	if err := quotactlFd(fd, qcmd(qXGetQStatV, prjQuota), 0, unsafe.Pointer(&st)); err != nil {
		return projectQuota{accounting: true, err: fmt.Errorf("reading project quota state: %w", err)}
	}
	return projectQuota{accounting: true, enforced: st.Flags&fsQuotaPDQEnfd != 0}
}

// quotactlFd is quotactl_fd(2): quotactl addressed by any open file on the
// filesystem instead of a block device path, which a container often does
// not have. ESRCH (quotas of that type are off) becomes
// ErrProjectQuotaDisabled; an ENOSYS from a kernel without the syscall
// becomes errNoQuotactlFd.
func quotactlFd(fd int, cmd, id uint32, addr unsafe.Pointer) error {
	_, _, errno := unix.Syscall6(unix.SYS_QUOTACTL_FD, uintptr(fd), uintptr(cmd), uintptr(id), uintptr(addr), 0, 0)
	switch errno {
	case 0:
		return nil
	case unix.ESRCH:
		return ErrProjectQuotaDisabled
	case unix.ENOSYS:
		// A filesystem without quota support says ENOSYS too. A bad fd
		// tells the two apart: a kernel that has the syscall answers EBADF.
		if _, _, e := unix.Syscall6(unix.SYS_QUOTACTL_FD, ^uintptr(0), uintptr(cmd), 0, 0, 0, 0); e == unix.ENOSYS {
			return errNoQuotactlFd
		}
	}
	return errno
}
