package quota

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/quota/quotatest"
)

// The expected numbers come from compiling the UAPI headers (linux/fs.h,
// linux/quota.h, linux/dqblk_xfs.h) on amd64 and printing sizeof, offsetof
// and the macros.
func TestProjectQuotaStructuresMatchTheKernelHeaders(t *testing.T) {
	u64Align := unsafe.Alignof(uint64(0))
	checks := []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof(struct fsxattr)", unsafe.Sizeof(fsxattr{}), 28},
		{"offsetof(fsxattr, fsx_projid)", unsafe.Offsetof(fsxattr{}.ProjID), 12},
		{"sizeof(struct if_dqblk)", unsafe.Sizeof(ifDqblk{}), (68 + u64Align - 1) / u64Align * u64Align},
		{"offsetof(if_dqblk, dqb_curspace)", unsafe.Offsetof(ifDqblk{}.CurSpace), 16},
		{"offsetof(if_dqblk, dqb_valid)", unsafe.Offsetof(ifDqblk{}.Valid), 64},
		{"sizeof(struct if_dqinfo)", unsafe.Sizeof(ifDqinfo{}), 24},
		{"sizeof(struct fs_quota_statv)", unsafe.Sizeof(fsQuotaStatv{}), 160},
		{"offsetof(fs_quota_statv, qs_flags)", unsafe.Offsetof(fsQuotaStatv{}.Flags), 2},
		{"offsetof(fs_quota_statv, qs_pquota)", unsafe.Offsetof(fsQuotaStatv{}.PQuota), 56},
		{"FS_IOC_FSGETXATTR", iocFsGetXattr, 0x801c581f},
		{"FS_IOC_FSSETXATTR", iocFsSetXattr, 0x401c5820},
		{"QCMD(Q_GETQUOTA, PRJQUOTA)", uintptr(qcmd(qGetQuota, prjQuota)), 0x80000702},
		{"QCMD(Q_SETQUOTA, PRJQUOTA)", uintptr(qcmd(qSetQuota, prjQuota)), 0x80000802},
		{"QCMD(Q_GETINFO, PRJQUOTA)", uintptr(qcmd(qGetInfo, prjQuota)), 0x80000502},
		{"QCMD(Q_XGETQSTATV, PRJQUOTA)", uintptr(qcmd(qXGetQStatV, prjQuota)), 0x580802},
		{"QCMD(Q_GETNEXTQUOTA, PRJQUOTA)", uintptr(qcmd(qGetNextQuota, prjQuota)), 0x80000902},
		{"sizeof(struct if_nextdqblk)", unsafe.Sizeof(ifNextDqblk{}), 72},
		{"offsetof(if_nextdqblk, dqb_curspace)", unsafe.Offsetof(ifNextDqblk{}.CurSpace), 16},
		{"offsetof(if_nextdqblk, dqb_curinodes)", unsafe.Offsetof(ifNextDqblk{}.CurInodes), 40},
		{"offsetof(if_nextdqblk, dqb_valid)", unsafe.Offsetof(ifNextDqblk{}.Valid), 64},
		{"offsetof(if_nextdqblk, dqb_id)", unsafe.Offsetof(ifNextDqblk{}.ID), 68},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
}

func TestByteLimitsBecomeWholeKiBBlocksRoundedUp(t *testing.T) {
	tests := []struct {
		bytes, blocks uint64
	}{
		{0, 0},
		{1, 1},
		{1023, 1},
		{1024, 1},
		{1025, 2},
		{1 << 20, 1024},
		{1<<20 + 1, 1025},
		{1 << 40, 1 << 30},
		{math.MaxUint64, 1 << 54},
	}
	for _, tt := range tests {
		if got := bytesToBlocks(tt.bytes); got != tt.blocks {
			t.Errorf("bytesToBlocks(%d) = %d, want %d", tt.bytes, got, tt.blocks)
		}
		if back := blocksToBytes(tt.blocks); back < tt.bytes || back-tt.bytes >= qifBlockSize && back != math.MaxUint64 {
			t.Errorf("blocksToBytes(%d) = %d: must hold %d bytes and add less than one block", tt.blocks, back, tt.bytes)
		}
	}
}

func TestBlockLimitsReadBackAsBytesWithoutWrapping(t *testing.T) {
	tests := []struct {
		blocks, bytes uint64
	}{
		{0, 0},
		{1, 1024},
		{1025, 1025 * 1024},
		{1<<54 - 1, math.MaxUint64 - 1023},
		{1 << 54, math.MaxUint64},
		{math.MaxUint64, math.MaxUint64},
	}
	for _, tt := range tests {
		if got := blocksToBytes(tt.blocks); got != tt.bytes {
			t.Errorf("blocksToBytes(%d) = %d, want %d", tt.blocks, got, tt.bytes)
		}
	}
}

func TestALimitSetsOnlyTheHardBlockLimit(t *testing.T) {
	got := limitDqblk(10<<20 + 1)
	want := ifDqblk{BHardLimit: 10<<10 + 1, Valid: qifBLimits}
	if got != want {
		t.Errorf("limitDqblk = %+v, want %+v", got, want)
	}
}

func TestNextProjectIDSkipsTakenIDsAndStaysInOurRange(t *testing.T) {
	takenSet := func(ids ...uint32) func(uint32) (bool, error) {
		return func(id uint32) (bool, error) {
			for _, t := range ids {
				if t == id {
					return true, nil
				}
			}
			return false, nil
		}
	}
	tests := []struct {
		name  string
		hint  uint32
		inUse func(uint32) (bool, error)
		want  uint32
	}{
		{"a free hint is taken as it is", ProjectIDMin + 7, takenSet(), ProjectIDMin + 7},
		{"taken IDs are skipped", ProjectIDMin, takenSet(ProjectIDMin, ProjectIDMin+1), ProjectIDMin + 2},
		{"a hint of 0 starts at the bottom of our range", 0, takenSet(), ProjectIDMin},
		{"a hint below our range starts at its bottom", 42, takenSet(), ProjectIDMin},
		{"a hint above our range starts at its bottom", math.MaxUint32, takenSet(), ProjectIDMin},
		{"the search wraps from the top to the bottom", ProjectIDMax - 1, takenSet(ProjectIDMax-1, ProjectIDMax), ProjectIDMin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NextProjectID(tt.hint, tt.inUse)
			if err != nil || got != tt.want {
				t.Errorf("NextProjectID(%d) = %d, %v; want %d", tt.hint, got, err, tt.want)
			}
		})
	}
}

func TestNextProjectIDGivesUpOnAPredicateThatFindsNothingFree(t *testing.T) {
	probes := 0
	_, err := NextProjectID(ProjectIDMin, func(uint32) (bool, error) { probes++; return true, nil })
	if err == nil || probes != maxProjectIDProbes {
		t.Errorf("err = %v after %d probes; want an error after %d", err, probes, maxProjectIDProbes)
	}
}

func TestNextProjectIDPassesOnTheKernelsError(t *testing.T) {
	_, err := NextProjectID(ProjectIDMin, func(uint32) (bool, error) { return false, ErrProjectQuotaDisabled })
	if !errors.Is(err, ErrProjectQuotaDisabled) {
		t.Errorf("err = %v, want ErrProjectQuotaDisabled", err)
	}
}

func TestProjectQuotasWalksTheKernelsRecordsWithinTheRange(t *testing.T) {
	records := map[uint32]ifNextDqblk{
		5:                {ID: 5, BHardLimit: 1},
		ProjectIDMin:     {ID: ProjectIDMin, BHardLimit: 2, CurSpace: 100, CurInodes: 3},
		ProjectIDMin + 9: {ID: ProjectIDMin + 9, BHardLimit: 4},
		ProjectIDMax:     {ID: ProjectIDMax, BHardLimit: 8},
		ProjectIDMax + 1: {ID: ProjectIDMax + 1, BHardLimit: 16},
		math.MaxUint32:   {ID: math.MaxUint32, BHardLimit: 32},
	}
	calls := 0
	next := func(from uint32) (ifNextDqblk, bool, error) {
		calls++
		best, ok := ifNextDqblk{}, false
		for id, d := range records {
			if id >= from && (!ok || id < best.ID) {
				best, ok = d, true
			}
		}
		return best, ok, nil
	}
	got, err := collectProjectQuotas(ProjectIDMin, ProjectIDMax, next)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint32]ProjectQuota{
		ProjectIDMin:     {Limit: 2 << 10, Used: 100, Inodes: 3},
		ProjectIDMin + 9: {Limit: 4 << 10},
		ProjectIDMax:     {Limit: 8 << 10},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if calls != 3 {
		t.Errorf("%d calls for 3 records: the walk must jump from record to record", calls)
	}

	// Up to the largest ID, the walk ends instead of wrapping around to 0.
	got, err = collectProjectQuotas(ProjectIDMax, math.MaxUint32, next)
	if err != nil || len(got) != 3 {
		t.Errorf("to MaxUint32: %v, %v; want the 3 records from ProjectIDMax up", got, err)
	}
}

func TestProjectQuotasRefusesAKernelThatGoesBackwards(t *testing.T) {
	_, err := collectProjectQuotas(10, 20, func(uint32) (ifNextDqblk, bool, error) { return ifNextDqblk{ID: 10}, true, nil })
	if err == nil {
		t.Fatal("an answer below the ID asked for must end the walk with an error, not loop")
	}
}

func TestProjectQuotasPassesOnTheKernelsError(t *testing.T) {
	_, err := collectProjectQuotas(10, 20, func(uint32) (ifNextDqblk, bool, error) { return ifNextDqblk{}, false, ErrProjectQuotaDisabled })
	if !errors.Is(err, ErrProjectQuotaDisabled) {
		t.Errorf("err = %v, want ErrProjectQuotaDisabled", err)
	}
}

func TestProjectIDHintIsStableAndInOurRange(t *testing.T) {
	seen := map[uint32]bool{}
	for i := range 1000 {
		name := fmt.Sprintf("pvc-%d", i)
		h := ProjectIDHint(name)
		if h < ProjectIDMin || h > ProjectIDMax {
			t.Fatalf("ProjectIDHint(%q) = %d, outside [%d, %d]", name, h, ProjectIDMin, ProjectIDMax)
		}
		if h != ProjectIDHint(name) {
			t.Fatalf("ProjectIDHint(%q) changes between calls", name)
		}
		seen[h] = true
	}
	if len(seen) < 990 {
		t.Errorf("1000 names gave only %d distinct hints", len(seen))
	}
}

func TestDetectExplainsWhatTheAdminMustDo(t *testing.T) {
	on := projectQuota{accounting: true, enforced: true}
	tests := []struct {
		name     string
		fsType   int64
		pq       projectQuota
		kind     Kind
		contains string
	}{
		{"btrfs", unix.BTRFS_SUPER_MAGIC, projectQuota{}, Btrfs, "btrfs"},
		{"xfs with prjquota", unix.XFS_SUPER_MAGIC, on, Project, "xfs with project quotas"},
		{"xfs without prjquota", unix.XFS_SUPER_MAGIC, projectQuota{}, None, "xfs without the prjquota mount option"},
		{"xfs with pqnoenforce", unix.XFS_SUPER_MAGIC, projectQuota{accounting: true}, None, "not enforced (mounted with pqnoenforce"},
		{"xfs on a kernel without XFS quota", unix.XFS_SUPER_MAGIC, projectQuota{err: fmt.Errorf("probe: %w", unix.ENOSYS)}, None, "CONFIG_XFS_QUOTA"},
		{"ext4 with prjquota", unix.EXT4_SUPER_MAGIC, on, Project, "ext4 with project quotas"},
		{"ext4 without the feature", unix.EXT4_SUPER_MAGIC, projectQuota{}, None, "tune2fs -O project,quota"},
		{"ext4 without the mount option", unix.EXT4_SUPER_MAGIC, projectQuota{accounting: true}, None, "mount it with -o prjquota"},
		{"ext4 on a kernel without quota", unix.EXT4_SUPER_MAGIC, projectQuota{err: unix.ENOSYS}, None, "CONFIG_QUOTA"},
		{"a kernel before quotactl_fd", unix.EXT4_SUPER_MAGIC, projectQuota{err: errNoQuotactlFd}, None, "ext4, but the kernel has no quotactl_fd (Linux 5.14"},
		{"an unexpected error is shown", unix.XFS_SUPER_MAGIC, projectQuota{err: unix.EIO}, None, "xfs whose project quota state cannot be read (input/output error)"},
		{"tmpfs", unix.TMPFS_MAGIC, projectQuota{}, None, "tmpfs"},
		{"anything else", 0x1234, projectQuota{}, None, "filesystem type 0x1234"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, reason := classify(tt.fsType, tt.pq)
			if kind != tt.kind || !strings.Contains(reason, tt.contains) {
				t.Errorf("classify = %s, %q; want %s and a reason containing %q", kind, reason, tt.kind, tt.contains)
			}
		})
	}
}

// CI kernels often lack project quota support (CONFIG_QFMT_V2 for ext4,
// CONFIG_XFS_QUOTA for XFS). What does not need it still runs: XFS stores
// project IDs without quota support, and a filesystem without project
// quotas must be reported as such. ext4 refuses to mount with the project
// feature unless the kernel has CONFIG_QUOTA and CONFIG_QFMT_V2.

func TestPlainExt4IsReportedAsWithoutProjectQuotas(t *testing.T) {
	mnt := quotatest.MountImage(t, "ext4", 64<<20, []string{"mkfs.ext4", "-q", "-F", "-I", "256"}, "")
	dir := mustOpenDir(t, mnt)
	fd := int(dir.Fd())
	if k, reason, err := Detect(fd); err != nil || k != None || !strings.Contains(reason, "ext4 without project quotas") {
		t.Errorf("Detect = %s, %q, %v; want none, saying ext4 has no project quotas", k, reason, err)
	}
	if on, err := ProjectQuotaState(fd); on || err != nil {
		t.Errorf("ProjectQuotaState = %v, %v; want false, nil", on, err)
	}
	if _, _, err := ProjectUsage(fd, ProjectIDMin); !errors.Is(err, ErrProjectQuotaDisabled) {
		t.Errorf("ProjectUsage: %v, want ErrProjectQuotaDisabled", err)
	}
	if _, err := ProjectIDInUse(fd, ProjectIDMin); !errors.Is(err, ErrProjectQuotaDisabled) {
		t.Errorf("ProjectIDInUse: %v, want ErrProjectQuotaDisabled", err)
	}
	if err := SetProjectLimit(fd, ProjectIDMin, 1<<20); !errors.Is(err, ErrProjectQuotaDisabled) {
		t.Errorf("SetProjectLimit: %v, want ErrProjectQuotaDisabled", err)
	}
	// Without the project feature ext4 has nowhere to store the ID.
	if err := SetProject(fd, ProjectIDMin); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("SetProject: %v, want EOPNOTSUPP", err)
	}
	if id, _, err := ProjectID(fd); err != nil || id != 0 {
		t.Errorf("ProjectID = %d, %v; want 0", id, err)
	}
}

func TestSetProjectOnExt4MarksTheDirectoryAndWhatIsCreatedBelowIt(t *testing.T) {
	mnt := quotatest.MountImage(t, "ext4", 64<<20, []string{"mkfs.ext4", "-q", "-F", "-I", "256", "-O", "project"}, "")
	checkSetProject(t, mnt)

	dir := mustOpenDir(t, mnt)
	if k, reason, err := Detect(int(dir.Fd())); err != nil || k != None || !strings.Contains(reason, "ext4 without project quotas") {
		t.Errorf("Detect = %s, %q, %v; want none, saying ext4 has no project quotas", k, reason, err)
	}
	if on, err := ProjectQuotaState(int(dir.Fd())); on || err != nil {
		t.Errorf("ProjectQuotaState = %v, %v; want false, nil", on, err)
	}
	if _, _, err := ProjectUsage(int(dir.Fd()), ProjectIDMin); !errors.Is(err, ErrProjectQuotaDisabled) {
		t.Errorf("ProjectUsage: %v, want ErrProjectQuotaDisabled", err)
	}
	if err := SetProjectLimit(int(dir.Fd()), ProjectIDMin, 1<<20); !errors.Is(err, ErrProjectQuotaDisabled) {
		t.Errorf("SetProjectLimit: %v, want ErrProjectQuotaDisabled", err)
	}
}

func TestSetProjectOnXFSMarksTheDirectoryAndWhatIsCreatedBelowIt(t *testing.T) {
	mnt := quotatest.MountImage(t, "xfs", 320<<20, []string{"mkfs.xfs", "-q", "-f"}, "")
	checkSetProject(t, mnt)

	dir := mustOpenDir(t, mnt)
	k, reason, err := Detect(int(dir.Fd()))
	if err != nil || k != None || !strings.HasPrefix(reason, "xfs") {
		t.Errorf("Detect = %s, %q, %v; want none with a reason about xfs", k, reason, err)
	}
	t.Logf("Detect on xfs mounted without prjquota: %q", reason)
}

func TestProjectQuotaStateOnBtrfsSaysItHasNone(t *testing.T) {
	mnt := quotatest.MountBtrfs(t, true)
	dir := mustOpenDir(t, mnt)
	on, err := ProjectQuotaState(int(dir.Fd()))
	if on || !errors.Is(err, unix.ENOSYS) {
		t.Errorf("ProjectQuotaState = %v, %v; want false and ENOSYS (btrfs has no quotactl)", on, err)
	}
	if k, _, _ := Detect(int(dir.Fd())); k != Btrfs {
		t.Errorf("Detect = %s, want btrfs", k)
	}
}

// Where the kernel supports them, project quotas are tested end to end on
// both filesystems. Where it does not, the test says which step failed.
func TestProjectQuotaRefusesWritesBeyondTheLimit(t *testing.T) {
	for _, fsType := range []string{"ext4", "xfs"} {
		t.Run(fsType, func(t *testing.T) {
			mnt := quotatest.MountProjectQuota(t, fsType)
			base := mustOpenDir(t, mnt)
			fd := int(base.Fd())
			if k, reason, err := Detect(fd); err != nil || k != Project {
				t.Fatalf("Detect = %s, %q, %v; want project", k, reason, err)
			}
			inUse := func(id uint32) (bool, error) { return ProjectIDInUse(fd, id) }
			id, err := NextProjectID(ProjectIDHint("vol"), inUse)
			if err != nil {
				t.Fatal(err)
			}
			if err := SetProjectLimit(fd, id, 1<<20+1); err != nil {
				t.Fatal(err)
			}
			if used, err := inUse(id); err != nil || !used {
				t.Errorf("after setting its limit, ProjectIDInUse = %v, %v; want true", used, err)
			}
			if next, err := NextProjectID(id, inUse); err != nil || next == id {
				t.Errorf("NextProjectID from a claimed ID = %d, %v; want another one", next, err)
			}
			vol := filepath.Join(mnt, "vol")
			if err := os.Mkdir(vol, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := SetProject(int(mustOpenDir(t, vol).Fd()), id); err != nil {
				t.Fatal(err)
			}
			// XFS reports a full project as ENOSPC, ext4 as EDQUOT.
			if err := writeMiB(filepath.Join(vol, "big"), 2); !errors.Is(err, unix.EDQUOT) && !errors.Is(err, unix.ENOSPC) {
				t.Errorf("writing 2 MiB under a 1 MiB limit: %v, want EDQUOT or ENOSPC", err)
			}
			used, limit, err := ProjectUsage(fd, id)
			if err != nil || limit != 1<<20+1024 || used == 0 || used > limit {
				t.Errorf("ProjectUsage = %d, %d, %v; want some use up to the limit of 1 MiB + 1 KiB (rounded up)", used, limit, err)
			}
			if err := writeMiB(filepath.Join(mnt, "neighbour"), 2); err != nil {
				t.Errorf("outside the project the limit must not apply: %v", err)
			}
			all, err := ProjectQuotas(fd, ProjectIDMin, ProjectIDMax)
			if q := all[id]; err != nil || q.Limit != limit || q.Used != used || q.Inodes == 0 {
				t.Errorf("ProjectQuotas = %v, %v; want project %d with the limit, use and inodes ProjectUsage saw", all, err, id)
			}
			if err := os.RemoveAll(vol); err != nil {
				t.Fatal(err)
			}
			if err := ClearProjectLimit(fd, id); err != nil {
				t.Fatal(err)
			}
			if used, err := inUse(id); err != nil || used {
				t.Errorf("after removing the volume and its limit, ProjectIDInUse = %v, %v; want false", used, err)
			}
		})
	}
}

func checkSetProject(t *testing.T, mnt string) {
	t.Helper()
	vol := filepath.Join(mnt, "vol")
	if err := os.Mkdir(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := mustOpenDir(t, vol)
	const id = ProjectIDMin + 5
	if err := SetProject(int(dir.Fd()), id); err != nil {
		t.Fatal(err)
	}
	if got, inherit, err := ProjectID(int(dir.Fd())); err != nil || got != id || !inherit {
		t.Errorf("ProjectID = %d, %v, %v; want %d with inherit", got, inherit, err, id)
	}
	if err := os.MkdirAll(filepath.Join(vol, "sub", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "sub", "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"sub", "sub/deeper", "sub/file"} {
		f, err := os.Open(filepath.Join(vol, p))
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := ProjectID(int(f.Fd()))
		f.Close()
		if err != nil || got != id {
			t.Errorf("%s: project %d, %v; want %d inherited", p, got, err, id)
		}
	}
	if err := SetProject(int(dir.Fd()), 0); err == nil {
		t.Error("SetProject with ID 0 must be refused")
	}
	other := mustOpenDir(t, mnt)
	if got, _, err := ProjectID(int(other.Fd())); err != nil || got != 0 {
		t.Errorf("the mount point's project = %d, %v; want 0, untouched", got, err)
	}
}

// mountImage formats a sparse image of size bytes with the mkfs command
// line (the image path is appended) and loop-mounts it with the extra mount
// options; it is unmounted at cleanup. Where a step is impossible here it
// skips, naming the step, the error and what the kernel logged about it.
