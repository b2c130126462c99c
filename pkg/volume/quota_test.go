package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/beneath"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/quota"
)

// fakeBackend is a quota backend that logs what the store asks of it and
// fails where a test says, so the tests below see at which points of a
// volume's life the store calls it. The directories it makes (and the
// snapshots it is asked for) are empty plain directories.
type fakeBackend struct {
	base     *os.File
	calls    []string
	fail     map[string]error // by the first word of a call
	snapshot bool             // what CanSnapshot says
	reserved uint64
	usage    *Usage           // the figure Usage has; nil: none
	released func(rel string) // called by a release, when it runs
}

func newFakeBackend(base *os.File) *fakeBackend {
	return &fakeBackend{base: base, fail: map[string]error{}}
}

// call logs a call and says how it is to fail.
func (f *fakeBackend) call(format string, args ...any) error {
	c := fmt.Sprintf(format, args...)
	f.calls = append(f.calls, c)
	op, _, _ := strings.Cut(c, " ")
	return f.fail[op]
}

// log is the calls since the last log, for checking one step at a time.
func (f *fakeBackend) log() []string {
	calls := f.calls
	f.calls = nil
	return calls
}

// expect checks that the calls since the last log are want.
func (f *fakeBackend) expect(t *testing.T, want ...string) {
	t.Helper()
	if got := f.log(); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

// Kind is one that enforces sizes, or the store would not ask.
func (f *fakeBackend) Kind() quota.Kind { return quota.Project }

func (f *fakeBackend) MakeDir(rel string) error {
	if err := f.call("mkdir %s", rel); err != nil {
		return err
	}
	return beneath.Mkdir(f.base, rel, 0o700)
}

func (f *fakeBackend) Limit(rel string, bytes int64) error { return f.call("limit %s %d", rel, bytes) }

func (f *fakeBackend) SetLimit(rel string, bytes int64) error { return f.call("set %s %d", rel, bytes) }

func (f *fakeBackend) HasOwnLimit(rel string) (bool, error) { return true, f.call("own %s", rel) }

func (f *fakeBackend) Release(_ int, _, rel string) (func() error, error) {
	if err := f.call("release %s", rel); err != nil {
		return nil, err
	}
	return func() error {
		if f.released != nil {
			f.released(rel)
		}
		return f.call("released %s", rel)
	}, nil
}

func (f *fakeBackend) Reserved() (uint64, bool, error) { return f.reserved, true, f.call("reserved") }

func (f *fakeBackend) Usage(*os.File) (Usage, bool, error) {
	if f.usage == nil {
		return Usage{}, false, f.call("usage")
	}
	return *f.usage, true, f.call("usage")
}

func (f *fakeBackend) CanSnapshot(*os.File) (bool, error) { return f.snapshot, f.call("can-snapshot") }

func (f *fakeBackend) Snapshot(_ *os.File, parentFd int, name string) error {
	if err := f.call("snapshot %s", name); err != nil {
		return err
	}
	return unix.Mkdirat(parentFd, name, 0o700)
}

// fakeBackendStore is a Store on a temporary directory whose sizes are
// enforced by the fake.
func fakeBackendStore(t *testing.T) (*Store, string, *fakeBackend) {
	t.Helper()
	s, base := newStore(t)
	f := newFakeBackend(s.dir)
	s.backend = f
	return s, base, f
}

var mib = Limit{Bytes: 1 << 20, Mode: policy.QuotaAuto}

func TestCreateHasTheBackendMakeTheDirectoryAndLimitIt(t *testing.T) {
	for _, tt := range []struct {
		name         string
		mode         policy.QuotaMode
		wantCalls    []string
		wantEnforced bool
	}{
		{"with quota auto", policy.QuotaAuto, []string{"mkdir vol", "limit vol 1048576"}, true},
		{"with quota required", policy.QuotaRequired, []string{"mkdir vol", "limit vol 1048576"}, true},
		{"with quota off the backend is not asked", policy.QuotaOff, nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, base, f := fakeBackendStore(t)
			enforced, err := s.CreateVolume("vol", CreateOptions{PV: "pv-1", Mode: 0o777, Limit: Limit{Bytes: 1 << 20, Mode: tt.mode}})
			if err != nil || enforced != tt.wantEnforced {
				t.Fatalf("CreateVolume = %v, %v; want enforced %v", enforced, err, tt.wantEnforced)
			}
			f.expect(t, tt.wantCalls...)
			if fi, err := os.Stat(filepath.Join(base, "vol")); err != nil || fi.Mode().Perm() != 0o777 {
				t.Errorf("the volume is %v, %v; want a directory opened up to the class's 0777", fi, err)
			}
		})
	}
}

func TestABackendFailureOnCreateLeavesNoDirectoryNoParentAndNoRegistryEntry(t *testing.T) {
	for _, tt := range []struct {
		name      string
		failing   string
		err       error
		mode      policy.QuotaMode
		wantCalls []string
	}{
		{"the directory cannot be made", "mkdir", unix.EIO, policy.QuotaAuto, []string{"mkdir ns/vol"}},
		{"the limit cannot be set", "limit", unix.EIO, policy.QuotaAuto, []string{"mkdir ns/vol", "limit ns/vol 1048576"}},
		{"quotas are off and the class requires them", "limit", quota.ErrQuotaDisabled, policy.QuotaRequired, []string{"mkdir ns/vol", "limit ns/vol 1048576"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, base, f := fakeBackendStore(t)
			f.fail[tt.failing] = tt.err
			_, err := s.CreateVolume("ns/vol", CreateOptions{PV: "pv-1", Mode: 0o777, Limit: Limit{Bytes: 1 << 20, Mode: tt.mode}})
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), `"ns/vol"`) {
				t.Fatalf("err = %v, want %v naming the volume", err, tt.err)
			}
			f.expect(t, tt.wantCalls...)
			// The parent ns was made for this volume, so it goes with it.
			for _, dir := range []string{"ns/vol", "ns"} {
				if _, err := os.Lstat(filepath.Join(base, dir)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s was left behind: %v", dir, err)
				}
			}
			if ok, err := s.IsVolume("ns/vol"); ok || err != nil {
				t.Errorf("IsVolume = %v, %v: the registry entry was left behind", ok, err)
			}
			if ok, err := s.registered(parentsDir, "ns"); ok || err != nil {
				t.Errorf("parent entry of ns: %v, %v; want none", ok, err)
			}
		})
	}
}

func TestQuotasOffWithQuotaAutoMakeAnUnenforcedVolume(t *testing.T) {
	s, base, f := fakeBackendStore(t)
	f.fail["limit"] = quota.ErrQuotaDisabled
	enforced, err := s.CreateVolume("vol", CreateOptions{PV: "pv-1", Mode: 0o777, Limit: mib})
	if err != nil || enforced {
		t.Fatalf("CreateVolume = %v, %v; want an unenforced volume", enforced, err)
	}
	if _, err := os.Stat(filepath.Join(base, "vol")); err != nil {
		t.Errorf("the volume is missing: %v", err)
	}
	if ok, _ := s.IsVolume("vol"); !ok {
		t.Error("the volume is not registered")
	}
}

func TestResizeChangesTheBackendsLimit(t *testing.T) {
	s, _, f := fakeBackendStore(t)
	mustCreate(t, s, "vol", "pv-1")
	f.log()
	if err := s.Resize("vol", 2<<20); err != nil {
		t.Fatal(err)
	}
	f.expect(t, "set vol 2097152")
	f.fail["set"] = unix.EIO
	if err := s.Resize("vol", 3<<20); !errors.Is(err, unix.EIO) || !strings.Contains(err.Error(), `resizing "vol" to 3145728 bytes`) {
		t.Errorf("a failing backend: %v, want its error saying what was resized", err)
	}
}

func TestRemoveReleasesTheLimitOnceTheTreeIsGone(t *testing.T) {
	s, base, f := fakeBackendStore(t)
	mustCreate(t, s, "vol", "pv-1")
	if err := os.WriteFile(filepath.Join(base, "vol", "data"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.log()
	f.released = func(rel string) {
		if _, err := os.Lstat(filepath.Join(base, rel)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("released while %s still exists (%v)", rel, err)
		}
	}
	if err := s.Remove("vol"); err != nil {
		t.Fatal(err)
	}
	f.expect(t, "release vol", "released vol")

	// A backend that cannot release: the tree goes anyway, and the error
	// says what is left.
	mustCreate(t, s, "other", "pv-2")
	f.fail["released"] = unix.EIO
	err := s.Remove("other")
	if !errors.Is(err, unix.EIO) || !strings.HasPrefix(err.Error(), `removed "other", but`) {
		t.Errorf("err = %v, want the backend's error after the removal", err)
	}
	if _, err := os.Lstat(filepath.Join(base, "other")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the tree is still there: %v", err)
	}
}

func TestArchiveKeepsTheLimit(t *testing.T) {
	s, _, f := fakeBackendStore(t)
	mustCreate(t, s, "vol", "pv-1")
	f.log()
	if _, err := s.Archive("vol", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := f.log(); len(got) != 0 {
		t.Errorf("archiving asked the backend %q; the archive keeps its limit", got)
	}
}

func TestARetriedCloneAsksWhetherTheAdoptedCloneCarriesALimit(t *testing.T) {
	s, _, f := fakeBackendStore(t)
	mustCreate(t, s, "src", "pv-src")
	if _, _, err := s.Clone("src", "dst", mib, CloneOptions{ID: "pv-dst"}); err != nil {
		t.Fatal(err)
	}
	f.log()
	if _, enforced, err := s.Clone("src", "dst", mib, CloneOptions{ID: "pv-dst"}); err != nil || !enforced {
		t.Fatalf("retry = %v, %v", enforced, err)
	}
	f.expect(t, "own dst", "limit dst 1048576")
}

func TestCloneIsASnapshotWhereTheBackendCanAndACopyElsewhere(t *testing.T) {
	for _, tt := range []struct {
		name      string
		snapshot  bool
		want      CloneMethod
		wantCalls []string
	}{
		{"a backend that can snapshot the source", true, CloneSnapshot,
			[]string{"release .clone-dst", "released .clone-dst", "can-snapshot", "snapshot .clone-dst", "limit .clone-dst 1048576"}},
		{"a backend that cannot", false, CloneCopy,
			[]string{"release .clone-dst", "released .clone-dst", "can-snapshot", "mkdir .clone-dst", "limit .clone-dst 1048576"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _, f := fakeBackendStore(t)
			mustCreate(t, s, "src", "pv-src")
			f.snapshot = tt.snapshot
			f.log()
			how, enforced, err := s.Clone("src", "dst", mib, CloneOptions{ID: "pv-dst"})
			if err != nil || how != tt.want || !enforced {
				t.Fatalf("Clone = %s, %v, %v; want an enforced %s", how, enforced, err, tt.want)
			}
			// First the leftover of an interrupted clone is discarded (and
			// what it held released), then the clone made and limited.
			f.expect(t, tt.wantCalls...)
		})
	}
}

func TestSpaceAndUsageComeFromTheBackend(t *testing.T) {
	s, base, f := fakeBackendStore(t)
	mustCreate(t, s, "vol", "pv-1")
	if err := os.WriteFile(filepath.Join(base, "vol", "f"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	f.reserved = 3 << 20
	sp, err := s.Space()
	if err != nil || !sp.Enforcing || sp.Reserved != 3<<20 {
		t.Errorf("Space = %+v, %v; want the backend's 3 MiB promised", sp, err)
	}
	f.usage = &Usage{Used: 5, Limit: 1 << 20, Source: FromProjectQuota}
	if u, err := s.Usage("vol", 0); err != nil || u != *f.usage {
		t.Errorf("Usage = %+v, %v; want the backend's figure without a walk", u, err)
	}
	f.usage = nil
	if u, err := s.Usage("vol", 10); err != nil || u.Source != FromWalk || u.Used < 1<<20 {
		t.Errorf("Usage without a backend figure = %+v, %v; want a walk", u, err)
	}
}
