package quota

import (
	"errors"
	"fmt"
	"hash/fnv"

	"golang.org/x/sys/unix"
)

// The pure half of project quotas: command encoding, units, structure
// layouts, ID choice and what Detect says. Everything here is tested
// without a kernel that supports project quotas, which CI machines often
// lack.

// quotactl commands and types, from linux/quota.h and linux/dqblk_xfs.h
// (stable UAPI).
const (
	qGetInfo      = 0x800005   // Q_GETINFO
	qGetQuota     = 0x800007   // Q_GETQUOTA
	qSetQuota     = 0x800008   // Q_SETQUOTA
	qGetNextQuota = 0x800009   // Q_GETNEXTQUOTA
	qXGetQStatV   = 'X'<<8 | 8 // Q_XGETQSTATV

	prjQuota = 2 // PRJQUOTA

	qifBLimits = 1 << 0 // QIF_BLIMITS: dqb_bhardlimit and dqb_bsoftlimit are valid

	// qifBlockSize is QIF_DQBLKSIZE: the unit of dqb_bhardlimit and
	// dqb_bsoftlimit. dqb_curspace is in bytes, which is easy to miss.
	qifBlockSize = 1024

	fsQStatVVersion1 = 1      // FS_QSTATV_VERSION1
	fsQuotaPDQEnfd   = 1 << 5 // FS_QUOTA_PDQ_ENFD: project limits are enforced
)

// qcmd is the kernel's QCMD(cmd, type): subcommand in the high bits, quota
// type in the low byte.
func qcmd(cmd, typ uint32) uint32 { return cmd<<8 | typ&0xff }

// ifDqblk is struct if_dqblk, the argument of Q_GETQUOTA and Q_SETQUOTA.
type ifDqblk struct {
	BHardLimit uint64 // in qifBlockSize blocks
	BSoftLimit uint64 // in qifBlockSize blocks
	CurSpace   uint64 // in bytes
	IHardLimit uint64
	ISoftLimit uint64
	CurInodes  uint64
	BTime      uint64
	ITime      uint64
	Valid      uint32 // qif* bits: which fields the caller set or the kernel filled
}

// ifNextDqblk is struct if_nextdqblk, the argument of Q_GETNEXTQUOTA: an
// if_dqblk followed by the ID the kernel found.
type ifNextDqblk struct {
	BHardLimit uint64 // in qifBlockSize blocks
	BSoftLimit uint64 // in qifBlockSize blocks
	CurSpace   uint64 // in bytes
	IHardLimit uint64
	ISoftLimit uint64
	CurInodes  uint64
	BTime      uint64
	ITime      uint64
	Valid      uint32
	ID         uint32
}

// ifDqinfo is struct if_dqinfo, the argument of Q_GETINFO. We only look
// at whether the call succeeds.
type ifDqinfo struct {
	BGrace uint64
	IGrace uint64
	Flags  uint32
	Valid  uint32
}

// fsQfilestatv is struct fs_qfilestatv, part of fsQuotaStatv.
type fsQfilestatv struct {
	Ino      uint64
	NBlks    uint64
	NExtents uint32
	_        uint32
}

// fsQuotaStatv is struct fs_quota_statv, the argument of Q_XGETQSTATV. The
// XFS-named command is served by ext4 too (through the generic quota
// layer), and unlike Q_GETINFO it says whether limits are enforced.
type fsQuotaStatv struct {
	Version      int8
	_            uint8
	Flags        uint16 // fsQuota* bits
	IncoreDqs    uint32
	UQuota       fsQfilestatv
	GQuota       fsQfilestatv
	PQuota       fsQfilestatv
	BTimeLimit   int32
	ITimeLimit   int32
	RTBTimeLimit int32
	BWarnLimit   uint16
	IWarnLimit   uint16
	RTBWarnLimit uint16
	_            uint16
	_            uint32
	_            [7]uint64
}

// bytesToBlocks converts a byte limit to quota blocks, rounding up: the
// volume must be able to hold what was asked for, and a limit rounded down
// would refuse the last partial KiB.
func bytesToBlocks(bytes uint64) uint64 {
	blocks := bytes / qifBlockSize
	if bytes%qifBlockSize != 0 {
		blocks++
	}
	return blocks
}

// blocksToBytes converts a block limit back to bytes, saturating instead of
// wrapping for limits no filesystem can hold.
func blocksToBytes(blocks uint64) uint64 {
	if blocks > ^uint64(0)/qifBlockSize {
		return ^uint64(0)
	}
	return blocks * qifBlockSize
}

// limitDqblk is the Q_SETQUOTA argument that sets a hard block limit of
// bytes (rounded up to whole blocks) and no soft limit. Only QIF_BLIMITS
// is valid, so usage and inode limits are left as the kernel has them. A
// block limit of 0 means "no limit" to the kernel, so callers must not pass
// 0 here unless they mean to clear the limit.
func limitDqblk(bytes uint64) ifDqblk {
	return ifDqblk{BHardLimit: bytesToBlocks(bytes), Valid: qifBLimits}
}

// Project IDs this provisioner hands out. IDs are shared by everything on a
// filesystem, so ours must stay out of the way of the admin's: hand-made
// entries in /etc/projid are small numbers, and systemd takes 1<<31 and up
// for its exec directory quotas. ID 0 means "no project" and is never used.
// The range is only a first line of defence; NextProjectID also asks the
// kernel whether an ID is taken.
const (
	ProjectIDMin uint32 = 1 << 30
	ProjectIDMax uint32 = 1<<31 - 1
)

// maxProjectIDProbes bounds NextProjectID. Each probe is typically one
// quotactl; a million taken IDs in a row means the predicate is broken, not
// that the range is full, and failing beats spinning for hours.
const maxProjectIDProbes = 1 << 20

// NextProjectID returns the first ID from hint upwards in [ProjectIDMin,
// ProjectIDMax], wrapping around once, that inUse reports free. A hint
// outside the range starts at ProjectIDMin.
//
// We allocate rather than derive an ID from the volume's name alone: a hash
// can collide, and a collision would silently merge two volumes' limits
// (and an admin's directory with ours). ProjectIDHint gives a stateless
// starting point, so allocation usually takes a single probe. Choosing and
// then claiming an ID (SetProjectLimit) is not atomic: callers serialise
// allocations on one filesystem.
func NextProjectID(hint uint32, inUse func(id uint32) (bool, error)) (uint32, error) {
	if hint < ProjectIDMin || hint > ProjectIDMax {
		hint = ProjectIDMin
	}
	id := hint
	for probes := 0; probes < maxProjectIDProbes; probes++ {
		used, err := inUse(id)
		if err != nil {
			return 0, fmt.Errorf("checking project ID %d: %w", id, err)
		}
		if !used {
			return id, nil
		}
		if id == ProjectIDMax {
			id = ProjectIDMin
		} else {
			id++
		}
		if id == hint {
			return 0, fmt.Errorf("every project ID in [%d, %d] is in use", ProjectIDMin, ProjectIDMax)
		}
	}
	return 0, fmt.Errorf("no free project ID among %d probed from %d", maxProjectIDProbes, hint)
}

// ProjectIDHint maps a volume name into [ProjectIDMin, ProjectIDMax], as a
// starting point for NextProjectID that needs no stored state and spreads
// volumes over the range.
func ProjectIDHint(name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return ProjectIDMin + h.Sum32()%(ProjectIDMax-ProjectIDMin+1)
}

// errNoQuotactlFd means the kernel lacks the quotactl_fd syscall (before
// Linux 5.14), as opposed to a filesystem without quota support.
var errNoQuotactlFd = errors.New("the kernel has no quotactl_fd (Linux 5.14 or later is needed)")

// projectQuota is what the kernel said about project quotas on a
// filesystem: err when it could not say.
type projectQuota struct {
	accounting, enforced bool
	err                  error
}

// classify turns a statfs type and the project quota state into Detect's
// answer. The reasons name the remedy, because they end up in the error a
// user sees when a class requires quota.
func classify(fsType int64, pq projectQuota) (Kind, string) {
	switch fsType {
	case unix.BTRFS_SUPER_MAGIC:
		return Btrfs, "btrfs"
	case unix.XFS_SUPER_MAGIC:
		return pq.classify("xfs", remedies{
			noSupport:  "xfs on a kernel built without XFS quota support (CONFIG_XFS_QUOTA)",
			off:        "xfs without the prjquota mount option (mount it with -o prjquota; XFS switches quotas on only at mount, not at remount)",
			unenforced: "xfs with project quotas accounted but not enforced (mounted with pqnoenforce; mount it with prjquota instead)",
		})
	case unix.EXT4_SUPER_MAGIC:
		return pq.classify("ext4", remedies{
			noSupport:  "ext4 on a kernel built without quota support (CONFIG_QUOTA and CONFIG_QFMT_V2)",
			off:        "ext4 without project quotas (unmount it, run `tune2fs -O project,quota <device>`, and mount it with -o prjquota)",
			unenforced: "ext4 with project quotas accounted but not enforced (mount it with -o prjquota)",
		})
	case unix.TMPFS_MAGIC:
		return None, "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return None, "overlayfs"
	}
	return None, fmt.Sprintf("filesystem type 0x%x", fsType)
}

// remedies are the per-filesystem reasons classify gives when project
// quotas cannot be used: the steps differ between XFS and ext4.
type remedies struct {
	noSupport  string // the kernel (or its build of this filesystem) has no quota code
	off        string // nothing accounted
	unenforced string // accounted, but limits not enforced
}

func (pq projectQuota) classify(fs string, r remedies) (Kind, string) {
	switch {
	case errors.Is(pq.err, errNoQuotactlFd):
		return None, fs + ", but " + pq.err.Error()
	case errors.Is(pq.err, unix.ENOSYS):
		return None, r.noSupport
	case pq.err != nil:
		return None, fmt.Sprintf("%s whose project quota state cannot be read (%v)", fs, pq.err)
	case pq.accounting && pq.enforced:
		return Project, fs + " with project quotas"
	case pq.accounting:
		return None, r.unenforced
	}
	return None, r.off
}

// ProjectQuota is what the kernel holds for one project ID.
type ProjectQuota struct {
	Used   uint64 // bytes charged to the project
	Limit  uint64 // hard limit in bytes; 0: none
	Inodes uint64 // files and directories charged to the project
}

// collectProjectQuotas walks the kernel's project records from lo to hi
// with next, which is Q_GETNEXTQUOTA: the record of the smallest ID at or
// above its argument that the kernel has one for, or ok false when there is
// none. The kernel keeps records only for IDs with usage or limits, so the
// walk costs one call per record, not one per ID in the range.
func collectProjectQuotas(lo, hi uint32, next func(id uint32) (d ifNextDqblk, ok bool, err error)) (map[uint32]ProjectQuota, error) {
	out := map[uint32]ProjectQuota{}
	for id := lo; id <= hi; {
		d, ok, err := next(id)
		if err != nil {
			return nil, err
		}
		if !ok || d.ID > hi {
			break
		}
		if d.ID < id {
			// Going backwards would never end; no kernel does it, but a
			// loop over a syscall's answer must not trust it to.
			return nil, fmt.Errorf("reading project quotas: asked for the next ID from %d, the kernel answered %d", id, d.ID)
		}
		out[d.ID] = ProjectQuota{Used: d.CurSpace, Limit: blocksToBytes(d.BHardLimit), Inodes: d.CurInodes}
		if d.ID == hi {
			break // hi may be the largest uint32: id+1 would wrap to 0
		}
		id = d.ID + 1
	}
	return out, nil
}
