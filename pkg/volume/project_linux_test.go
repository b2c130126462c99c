package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/quota"
)

// The kernel these tests run on usually has no quota support for XFS or
// ext4, so the Store's project quota logic runs on real directories with a
// fake kernel: fakeProjects keeps each directory's project by inode number
// and each project's record, and logs the calls that change something.
type fakeProjects struct {
	mu     sync.Mutex
	dirs   map[uint64]uint32 // inode number of a directory -> its project
	quotas map[uint32]*quota.ProjectQuota
	calls  []string

	setLimitErr, setProjectErr, quotasErr error
	modeAtLimit                           fs.FileMode          // the directory's mode when its limit was set
	slowInUse                             bool                 // widen the window between choosing an ID and claiming it
	onClear                               func(id uint32)      // called when a limit is cleared
	inUseCalls                            int                  // how many IDs were probed
	extra                                 func(id uint32) bool // IDs to report in use besides the records
}

func newFakeProjects() *fakeProjects {
	return &fakeProjects{dirs: map[uint64]uint32{}, quotas: map[uint32]*quota.ProjectQuota{}}
}

func inode(t testing.TB, fd int) uint64 {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatalf("fake: fstat: %v", err)
	}
	return st.Ino
}

func (f *fakeProjects) record(id uint32) *quota.ProjectQuota {
	q := f.quotas[id]
	if q == nil {
		q = &quota.ProjectQuota{}
		f.quotas[id] = q
	}
	return q
}

// fakeStore is a Store on a temporary directory that believes it is on a
// filesystem with project quotas, with the fake as its kernel.
func fakeStore(t *testing.T) (*Store, string, *fakeProjects) {
	t.Helper()
	s, base := newStore(t)
	f := newFakeProjects()
	s.backend, s.fsName = newProjectBackend(s.dir, fakeKernel{f, t}), "xfs with project quotas"
	return s, base, f
}

// createLimited creates the volume rel of 1 MiB with quota "auto" and
// returns the project it got.
func createLimited(t *testing.T, s *Store, f *fakeProjects, rel string) uint32 {
	t.Helper()
	if _, err := s.Create(rel, 0o777, Owner{}, Limit{Bytes: 1 << 20, Mode: policy.QuotaAuto}); err != nil {
		t.Fatal(err)
	}
	return f.projectOf(t, filepath.Join(s.Base(), rel))
}

// fakeKernel binds the fake to a test, for failing on a broken fd.
type fakeKernel struct {
	*fakeProjects
	t testing.TB
}

func (k fakeKernel) ProjectID(fd int) (uint32, error) {
	ino := inode(k.t, fd)
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.dirs[ino], nil
}

func (k fakeKernel) SetProject(fd int, id uint32) error {
	ino := inode(k.t, fd)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.setProjectErr != nil {
		return k.setProjectErr
	}
	k.calls = append(k.calls, fmt.Sprintf("project %d", id))
	if k.dirs[ino] != id {
		k.dirs[ino] = id
		k.record(id).Inodes++ // the directory itself is charged to it now
	}
	return nil
}

func (k fakeKernel) SetLimit(fd int, id uint32, bytes uint64) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		k.t.Fatalf("fake: fstat: %v", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.setLimitErr != nil {
		return k.setLimitErr
	}
	k.calls = append(k.calls, fmt.Sprintf("limit %d %d", id, bytes))
	k.modeAtLimit = fs.FileMode(st.Mode & 0o7777)
	k.record(id).Limit = bytes
	return nil
}

func (k fakeKernel) ClearLimit(fd int, id uint32) error {
	k.mu.Lock()
	k.calls = append(k.calls, fmt.Sprintf("clear %d", id))
	k.record(id).Limit = 0
	onClear := k.onClear
	k.mu.Unlock()
	if onClear != nil {
		onClear(id)
	}
	return nil
}

func (k fakeKernel) InUse(fd int, id uint32) (bool, error) {
	k.mu.Lock()
	k.inUseCalls++
	q, ok := k.quotas[id]
	used := ok && (q.Limit != 0 || q.Inodes != 0 || q.Used != 0) || k.extra != nil && k.extra(id)
	slow := k.slowInUse
	k.mu.Unlock()
	if slow {
		time.Sleep(time.Millisecond)
	}
	return used, nil
}

func (k fakeKernel) Usage(fd int, id uint32) (uint64, uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	q := k.record(id)
	return q.Used, q.Limit, nil
}

func (k fakeKernel) Quotas(fd int) (map[uint32]quota.ProjectQuota, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.quotasErr != nil {
		return nil, k.quotasErr
	}
	out := map[uint32]quota.ProjectQuota{}
	for id, q := range k.quotas {
		if ourProject(id) {
			out[id] = *q
		}
	}
	return out, nil
}

func (f *fakeProjects) projectOf(t *testing.T, path string) uint32 {
	t.Helper()
	d, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ino := inode(t, int(d.Fd()))
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dirs[ino]
}

func (f *fakeProjects) setProjectOf(t *testing.T, path string, id uint32) {
	t.Helper()
	d, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ino := inode(t, int(d.Fd()))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dirs[ino] = id
	f.record(id).Inodes++
}

func (f *fakeProjects) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func TestCreateWithProjectQuotasSetsTheLimitBeforeTheProjectWhileTheDirectoryIsPrivate(t *testing.T) {
	s, base, f := fakeStore(t)
	enforced, err := s.Create("ns/vol", 0o777, Owner{}, Limit{Bytes: 10 << 20, Mode: policy.QuotaAuto})
	if err != nil || !enforced {
		t.Fatalf("Create = %v, %v; want an enforced limit", enforced, err)
	}
	id := quota.ProjectIDHint("ns/vol")
	want := []string{fmt.Sprintf("limit %d %d", id, 10<<20), fmt.Sprintf("project %d", id)}
	if got := f.log(); !slices.Equal(got, want) {
		t.Errorf("calls = %q, want %q", got, want)
	}
	if f.modeAtLimit != 0o700 {
		t.Errorf("the directory was %v when its limit was set; want it still private (0700)", f.modeAtLimit)
	}
	if got := f.projectOf(t, filepath.Join(base, "ns/vol")); got != id {
		t.Errorf("project of the directory = %d, want %d", got, id)
	}
	if fi, _ := os.Stat(filepath.Join(base, "ns/vol")); fi.Mode().Perm() != 0o777 {
		t.Errorf("final mode = %v, want the class's 0777", fi.Mode())
	}
}

func TestCreateWithProjectQuotasSkipsIDsTheKernelHasInUse(t *testing.T) {
	s, _, f := fakeStore(t)
	hint := quota.ProjectIDHint("vol")
	f.record(hint).Inodes = 3 // someone's files
	f.record(hint + 1).Limit = 1 << 20
	if got := createLimited(t, s, f, "vol"); got != hint+2 {
		t.Errorf("project = %d, want %d: the first free ID from the hint", got, hint+2)
	}
}

func TestConcurrentCreatesNeverShareAProjectID(t *testing.T) {
	s, base, f := fakeStore(t)
	s.backend.(*projectBackend).hint = func(string) uint32 { return quota.ProjectIDMin } // every search starts at the same ID
	f.slowInUse = true
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.Create(fmt.Sprintf("vol-%d", i), 0o777, Owner{}, Limit{Bytes: 1 << 20, Mode: policy.QuotaRequired})
		})
	}
	wg.Wait()
	seen := map[uint32]string{}
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		name := fmt.Sprintf("vol-%d", i)
		id := f.projectOf(t, filepath.Join(base, name))
		if other, dup := seen[id]; dup {
			t.Errorf("%s and %s share project %d", name, other, id)
		}
		seen[id] = name
	}
}

func TestARetriedCreateKeepsTheProjectIDTheDirectoryAlreadyHas(t *testing.T) {
	s, base, f := fakeStore(t)
	must(t, os.Mkdir(filepath.Join(base, "vol"), 0o700))
	earlier := quota.ProjectIDMin + 7
	f.setProjectOf(t, filepath.Join(base, "vol"), earlier)
	f.record(earlier).Limit = 1 << 20
	enforced, err := s.Create("vol", 0o777, Owner{}, Limit{Bytes: 2 << 20, Mode: policy.QuotaAuto})
	if err != nil || !enforced {
		t.Fatalf("Create = %v, %v", enforced, err)
	}
	if got := f.projectOf(t, filepath.Join(base, "vol")); got != earlier {
		t.Errorf("project = %d, want the %d it had", got, earlier)
	}
	if f.quotas[earlier].Limit != 2<<20 {
		t.Errorf("limit = %d, want this request's 2 MiB", f.quotas[earlier].Limit)
	}
	if f.inUseCalls != 0 {
		t.Errorf("%d IDs probed: an ID of ours on the directory needs no search", f.inUseCalls)
	}
}

func TestAnAdoptedDirectoryInTheAdminsProjectGetsOneOfOurs(t *testing.T) {
	s, base, f := fakeStore(t)
	must(t, os.Mkdir(filepath.Join(base, "vol"), 0o755))
	f.setProjectOf(t, filepath.Join(base, "vol"), 42) // inherited from the base path, say
	if got := createLimited(t, s, f, "vol"); !ourProject(got) {
		t.Errorf("project = %d, want one from our range", got)
	}
	if f.quotas[42].Limit != 0 {
		t.Error("the admin's project got a limit")
	}
}

func TestCreateUndoesTheLimitWhenTheDirectoryCannotJoinTheProject(t *testing.T) {
	s, base, f := fakeStore(t)
	f.setProjectErr = unix.EIO // a failure, not "quotas unavailable" (EPERM would be that)
	_, err := s.Create("vol", 0o777, Owner{}, Limit{Bytes: 1 << 20, Mode: policy.QuotaAuto})
	if !errors.Is(err, unix.EIO) {
		t.Fatalf("err = %v, want the kernel's EIO", err)
	}
	id := quota.ProjectIDHint("vol")
	want := []string{fmt.Sprintf("limit %d %d", id, 1<<20), fmt.Sprintf("clear %d", id)}
	if got := f.log(); !slices.Equal(got, want) {
		t.Errorf("calls = %q, want %q: the limit is cleared so the ID is free again", got, want)
	}
	if _, err := os.Stat(filepath.Join(base, "vol")); !os.IsNotExist(err) {
		t.Errorf("the directory was left behind: %v", err)
	}
}

// When the kernel will not set a limit (quotas switched off after start,
// or, in a container without CAP_SYS_ADMIN, EPERM), "auto" carries on
// unenforced, "required" is refused saying why and leaves nothing behind,
// and Space falls back to the free space.
func TestAKernelThatWillNotLimitLeavesAutoUnenforcedAndRefusesRequired(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		wantMsg string
	}{
		{"project quotas switched off after start", quota.ErrProjectQuotaDisabled, "project quotas are not enabled"},
		{"no CAP_SYS_ADMIN", unix.EPERM, "CAP_SYS_ADMIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, base, f := fakeStore(t)
			f.setLimitErr = tc.err
			enforced, err := s.Create("auto", 0o777, Owner{}, Limit{Bytes: 1 << 20, Mode: policy.QuotaAuto})
			if err != nil || enforced {
				t.Errorf("auto: %v, %v; want an unenforced volume", enforced, err)
			}
			if id := f.projectOf(t, filepath.Join(base, "auto")); id != 0 {
				t.Errorf("auto: the unenforced volume has project %d", id)
			}
			_, err = s.Create("required", 0o777, Owner{}, Limit{Bytes: 1 << 20, Mode: policy.QuotaRequired})
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("required: %v, want %v saying %q", err, tc.err, tc.wantMsg)
			}
			if _, err := os.Stat(filepath.Join(base, "required")); !os.IsNotExist(err) {
				t.Errorf("required: the refused directory was left behind: %v", err)
			}
			f.quotasErr = tc.err
			if sp, err := s.Space(); err != nil || sp.Enforcing {
				t.Errorf("Space = %+v, %v; want the free space, not an error", sp, err)
			}
		})
	}
}

func TestQuotaRequiredSaysWhatTheAdminMustDoForProjectQuotas(t *testing.T) {
	s, base, f := fakeStore(t)
	s.backend = noBackend{s.dir}
	s.fsName = "xfs without the prjquota mount option (mount it with -o prjquota; XFS switches quotas on only at mount, not at remount)"
	_, err := s.Create("vol", 0o777, Owner{}, Limit{Bytes: 1 << 20, Mode: policy.QuotaRequired})
	if err == nil {
		t.Fatal("required quota on a filesystem without it must fail")
	}
	for _, want := range []string{base, "xfs without the prjquota mount option", "mount it with -o prjquota", "cannot enforce sizes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if enforced, err := s.Create("vol", 0o777, Owner{}, Limit{Bytes: 1 << 20, Mode: policy.QuotaAuto}); err != nil || enforced {
		t.Errorf("auto = %v, %v; want an unenforced volume", enforced, err)
	}
	if calls := f.log(); len(calls) != 0 {
		t.Errorf("quota calls without project quotas: %q", calls)
	}
}

func TestQuotaOffOnAProjectQuotaFilesystemMakesAPlainDirectory(t *testing.T) {
	s, _, f := fakeStore(t)
	if enforced, err := s.Create("vol", 0o777, Owner{}, Limit{Bytes: 1 << 20, Mode: policy.QuotaOff}); err != nil || enforced {
		t.Fatalf("Create = %v, %v", enforced, err)
	}
	if calls := f.log(); len(calls) != 0 {
		t.Errorf("quota calls for quota: off: %q", calls)
	}
}

func TestResizeChangesTheLimitOfTheVolumesProject(t *testing.T) {
	s, base, f := fakeStore(t)
	id := createLimited(t, s, f, "vol")
	if err := s.Resize("vol", 5<<20); err != nil {
		t.Fatal(err)
	}
	if f.quotas[id].Limit != 5<<20 {
		t.Errorf("limit = %d, want 5 MiB", f.quotas[id].Limit)
	}
	if got := f.projectOf(t, filepath.Join(base, "vol")); got != id {
		t.Errorf("Resize moved the volume from project %d to %d", id, got)
	}

	// A volume made without a limit gets none now: files already in it
	// would not be charged to a new project.
	if _, err := s.Create("plain", 0o777, Owner{}, Limit{Mode: policy.QuotaOff}); err != nil {
		t.Fatal(err)
	}
	calls := len(f.log())
	if err := s.Resize("plain", 5<<20); err == nil || !strings.Contains(err.Error(), "no project ID") {
		t.Errorf("resizing a volume without a project: %v", err)
	}
	if len(f.log()) != calls {
		t.Errorf("quota calls for a volume without a project: %q", f.log()[calls:])
	}
}

func TestRemoveClearsTheProjectLimitOnceTheTreeIsGone(t *testing.T) {
	s, base, f := fakeStore(t)
	id := createLimited(t, s, f, "ns/vol")
	must(t, os.WriteFile(filepath.Join(base, "ns/vol/data"), []byte("x"), 0o644))
	cleared := false
	f.onClear = func(got uint32) {
		cleared = got == id
		if _, err := os.Lstat(filepath.Join(base, "ns/vol")); !os.IsNotExist(err) {
			t.Errorf("the limit was cleared while the directory still existed (%v)", err)
		}
	}
	if err := s.Remove("ns/vol"); err != nil {
		t.Fatal(err)
	}
	if !cleared {
		t.Errorf("the limit of project %d was not cleared; calls %q", id, f.log())
	}
	calls := len(f.log())
	if err := s.Remove("ns/vol"); err != nil {
		t.Errorf("removing it again: %v", err)
	}
	if len(f.log()) != calls {
		t.Errorf("a second Remove cleared a limit: %q", f.log()[calls:])
	}
}

func TestRemoveLeavesProjectsThatAreNotOurs(t *testing.T) {
	s, base, f := fakeStore(t)
	must(t, os.Mkdir(filepath.Join(base, "vol"), 0o755))
	f.setProjectOf(t, filepath.Join(base, "vol"), 42)
	if err := s.Remove("vol"); err != nil {
		t.Fatal(err)
	}
	if calls := f.log(); len(calls) != 0 {
		t.Errorf("calls = %q: the admin's project 42 must be left alone", calls)
	}
}

func TestArchiveKeepsTheProjectAndItsLimit(t *testing.T) {
	s, base, f := fakeStore(t)
	id := createLimited(t, s, f, "ns/vol")
	calls := len(f.log())
	name, err := s.Archive("ns/vol", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := f.projectOf(t, filepath.Join(base, name)); got != id || f.quotas[id].Limit != 1<<20 {
		t.Errorf("archive: project %d with limit %d; want project %d with its 1 MiB", got, f.quotas[id].Limit, id)
	}
	if len(f.log()) != calls {
		t.Errorf("archiving changed quotas: %q", f.log()[calls:])
	}
}

func TestSpaceWithProjectQuotasCountsTheLimitsOfOurProjectsWithFiles(t *testing.T) {
	s, _, f := fakeStore(t)
	plain, err := s.Space()
	if err != nil || !plain.Enforcing || plain.Reserved != 0 {
		t.Fatalf("no projects yet: %+v, %v", plain, err)
	}
	f.quotas[quota.ProjectIDMin+1] = &quota.ProjectQuota{Limit: 100 << 20, Inodes: 1}
	f.quotas[quota.ProjectIDMin+2] = &quota.ProjectQuota{Limit: 200 << 20, Inodes: 50, Used: 10 << 20}
	f.quotas[quota.ProjectIDMin+3] = &quota.ProjectQuota{Limit: 1 << 40} // no files: left by a crash, holds no volume
	f.quotas[7] = &quota.ProjectQuota{Limit: 1 << 40, Inodes: 9}         // the admin's, outside our range
	sp, err := s.Space()
	if err != nil {
		t.Fatal(err)
	}
	if sp.Reserved != 300<<20 || sp.Unreserved != sp.Total-300<<20 {
		t.Errorf("reserved %d, unreserved %d of %d; want 300 MiB promised", sp.Reserved, sp.Unreserved, sp.Total)
	}

	// Promise all but 1 GiB: that is now what a claim can get.
	f.quotas[quota.ProjectIDMin+4] = &quota.ProjectQuota{Limit: sp.Total - 300<<20 - 1<<30, Inodes: 1}
	sp, _ = s.Space()
	if sp.Available() != 1<<30 || !sp.LimitedByReservations() || sp.FreeQuantity().String() != "1Gi" {
		t.Errorf("Available = %d (%s), limited by reservations %v; want 1Gi", sp.Available(), sp.FreeQuantity(), sp.LimitedByReservations())
	}

	// More promised than there is: nothing is unreserved, nothing wraps.
	f.quotas[quota.ProjectIDMin+5] = &quota.ProjectQuota{Limit: 1<<64 - 1, Inodes: 1}
	if sp, _ = s.Space(); sp.Unreserved != 0 || sp.Available() != 0 || sp.Reserved != 1<<64-1 {
		t.Errorf("over-committed: %d reserved, %d unreserved, %d available", sp.Reserved, sp.Unreserved, sp.Available())
	}

	f.quotasErr = quota.ErrProjectQuotaDisabled
	if sp, err = s.Space(); err != nil || sp.Enforcing || sp.Available() != sp.Free {
		t.Errorf("project quotas off: Enforcing %v, available %d, free %d, %v; want the free space", sp.Enforcing, sp.Available(), sp.Free, err)
	}
	f.quotasErr = unix.EIO
	if _, err = s.Space(); !errors.Is(err, unix.EIO) {
		t.Errorf("a failing kernel: %v, want its error", err)
	}
}

func TestUsageWithProjectQuotasComesFromTheProject(t *testing.T) {
	s, base, f := fakeStore(t)
	if _, err := s.Create("vol", 0o777, Owner{}, Limit{Bytes: 8 << 20, Mode: policy.QuotaAuto}); err != nil {
		t.Fatal(err)
	}
	id := f.projectOf(t, filepath.Join(base, "vol"))
	f.quotas[id].Used = 5 << 20
	for i := range 3 {
		must(t, os.WriteFile(filepath.Join(base, "vol", fmt.Sprint(i)), []byte("x"), 0o644))
	}
	u, err := s.Usage("vol", 0)
	if err != nil || u != (Usage{Used: 5 << 20, Limit: 8 << 20, Source: FromProjectQuota}) {
		t.Errorf("Usage = %+v, %v; want the project's 5 MiB of 8 MiB without a walk", u, err)
	}

	// Without one of our projects the walk is the only honest figure.
	must(t, os.Mkdir(filepath.Join(base, "admins"), 0o755))
	f.setProjectOf(t, filepath.Join(base, "admins"), 42)
	f.quotas[42].Used = 1 << 40
	must(t, os.WriteFile(filepath.Join(base, "admins", "f"), make([]byte, 1<<20), 0o644))
	if u, err := s.Usage("admins", 10); err != nil || u.Source != FromWalk || u.Used < 1<<20 || u.Used > 2<<20 {
		t.Errorf("Usage of a directory in the admin's project = %+v, %v; want a walk", u, err)
	}

	f.mu.Lock()
	f.quotas[id].Used = 0
	f.mu.Unlock()
	p := s.backend.(*projectBackend)
	p.kernel = disabledUsage{p.kernel}
	if u, err := s.Usage("vol", 10); err != nil || u.Source != FromWalk {
		t.Errorf("project quotas off: %+v, %v; want a walk", u, err)
	}
}

// disabledUsage answers as the kernel does once project quotas are off.
type disabledUsage struct{ projectQuotas }

func (disabledUsage) Usage(int, uint32) (uint64, uint64, error) {
	return 0, 0, quota.ErrProjectQuotaDisabled
}
