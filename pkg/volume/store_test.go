package volume

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/quota"
)

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	base := t.TempDir()
	s, err := Open(base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, base
}

func TestCreateMakesTheDirectoryWithModeAndOwner(t *testing.T) {
	s, base := newStore(t)
	uid, gid := int64(1234), int64(5678)
	if _, err := s.Create("ns/claim", 0o2770|fs.ModeSetgid, Owner{UID: &uid, GID: &gid}, Limit{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(base, "ns/claim"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o770 || fi.Mode()&fs.ModeSetgid == 0 {
		t.Errorf("mode = %v", fi.Mode())
	}
	st := fi.Sys().(*syscall.Stat_t)
	if os.Getuid() == 0 && (st.Uid != 1234 || st.Gid != 5678) {
		t.Errorf("owner = %d:%d", st.Uid, st.Gid)
	}
}

func TestCreateIgnoresTheUmask(t *testing.T) {
	s, base := newStore(t)
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	if _, err := s.Create("d", 0o777, Owner{}, Limit{}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(base, "d"))
	if fi.Mode().Perm() != 0o777 {
		t.Errorf("mode = %v, want 0777 whatever the umask", fi.Mode())
	}
}

func TestCreateIsIdempotentForAnEmptyDirectory(t *testing.T) {
	s, _ := newStore(t)
	for i := range 2 {
		if _, err := s.Create("d", 0o777, Owner{}, Limit{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

func TestCreateRefusesAnExistingDirectoryWithData(t *testing.T) {
	s, base := newStore(t)
	must(t, os.MkdirAll(filepath.Join(base, "d"), 0o755))
	must(t, os.WriteFile(filepath.Join(base, "d", "secret"), []byte("tenant A"), 0o600))
	_, err := s.Create("d", 0o777, Owner{}, Limit{})
	if !errors.Is(err, ErrCollision) {
		t.Fatalf("err = %v, want ErrCollision", err)
	}
	fi, _ := os.Stat(filepath.Join(base, "d"))
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("a refused directory must not be changed; mode = %v", fi.Mode())
	}
}

func TestCreateRefusesASymlinkAtThePath(t *testing.T) {
	s, base := newStore(t)
	outside := t.TempDir()
	must(t, os.Symlink(outside, filepath.Join(base, "d")))
	if _, err := s.Create("d", 0o777, Owner{}, Limit{}); !errors.Is(err, ErrCollision) {
		t.Fatalf("err = %v, want ErrCollision", err)
	}
	fi, _ := os.Stat(outside)
	if fi.Mode().Perm() == 0o777 {
		t.Error("the symlink target outside the base path was chmodded")
	}
}

func TestCreateDoesNotFollowASymlinkedParent(t *testing.T) {
	s, base := newStore(t)
	outside := t.TempDir()
	must(t, os.Symlink(outside, filepath.Join(base, "ns")))
	_, err := s.Create("ns/claim", 0o777, Owner{}, Limit{})
	if err == nil {
		if _, statErr := os.Stat(filepath.Join(outside, "claim")); statErr == nil {
			t.Fatal("created a directory outside the base path through a symlinked parent")
		}
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 0 {
		t.Fatalf("outside directory was touched: %v", entries)
	}
}

func TestRemoveDeletesDeepTreesWithoutFollowingSymlinks(t *testing.T) {
	s, base := newStore(t)
	outside := t.TempDir()
	canary := filepath.Join(outside, "canary")
	must(t, os.WriteFile(canary, []byte("keep me"), 0o644))
	if _, err := s.Create("ns/vol", 0o777, Owner{}, Limit{}); err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(base, "ns/vol")
	deep := filepath.Join(vol, strings.Repeat("d/", 50))
	must(t, os.MkdirAll(deep, 0o755))
	must(t, os.WriteFile(filepath.Join(deep, "f"), []byte("x"), 0o644))
	must(t, os.Symlink(outside, filepath.Join(vol, "to-outside-dir")))
	must(t, os.Symlink(canary, filepath.Join(vol, "to-canary")))
	must(t, os.Symlink("/", filepath.Join(vol, "to-root")))
	must(t, os.Symlink("../../..", filepath.Join(vol, "relative-up")))
	must(t, os.Symlink("dangling", filepath.Join(vol, "dangling")))
	must(t, os.Symlink("loop", filepath.Join(vol, "loop")))
	ro := filepath.Join(vol, "readonly")
	must(t, os.MkdirAll(filepath.Join(ro, "x"), 0o755))
	must(t, os.Chmod(ro, 0o500))

	if err := s.Remove("ns/vol"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(vol); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("volume still exists: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(base, "ns")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty parent from the pattern should be pruned: %v", err)
	}
	if b, err := os.ReadFile(canary); err != nil || string(b) != "keep me" {
		t.Errorf("canary outside the base path changed: %q %v", b, err)
	}
	if err := s.Remove("ns/vol"); err != nil {
		t.Errorf("removing a missing volume must succeed: %v", err)
	}
}

func TestRemoveKeepsAParentWithOtherVolumes(t *testing.T) {
	s, base := newStore(t)
	if _, err := s.Create("ns/a", 0o777, Owner{}, Limit{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create("ns/b", 0o777, Owner{}, Limit{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("ns/a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(base, "ns/b")); err != nil {
		t.Errorf("sibling volume lost: %v", err)
	}
}

func TestRemoveRefusesUnsafePaths(t *testing.T) {
	s, _ := newStore(t)
	for _, p := range []string{"", ".", "..", "../x", "/etc", "a/../../b"} {
		if err := s.Remove(p); err == nil {
			t.Errorf("Remove(%q) succeeded", p)
		}
	}
}

func TestArchiveRenamesInsideTheBasePath(t *testing.T) {
	s, base := newStore(t)
	if _, err := s.Create("ns/vol", 0o777, Owner{}, Limit{}); err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(base, "ns/vol/data"), []byte("v"), 0o644))
	at := time.Date(2026, 11, 25, 14, 3, 4, 0, time.UTC)
	name, err := s.Archive("ns/vol", at)
	if err != nil {
		t.Fatal(err)
	}
	if name != "archived-ns-vol-20261125T140304Z" {
		t.Errorf("name = %q", name)
	}
	if b, err := os.ReadFile(filepath.Join(base, name, "data")); err != nil || string(b) != "v" {
		t.Errorf("archived data = %q %v", b, err)
	}
	// The same name again in the same second gets a suffix instead of
	// replacing the first archive.
	if _, err := s.Create("ns/vol", 0o777, Owner{}, Limit{}); err != nil {
		t.Fatal(err)
	}
	name2, err := s.Archive("ns/vol", at)
	if err != nil || name2 != name+"-2" {
		t.Errorf("second archive = %q %v", name2, err)
	}
	// Archiving what is already gone (a retry after a crash) succeeds.
	if name3, err := s.Archive("ns/vol", at); err != nil || name3 != "" {
		t.Errorf("archive of a missing dir = %q %v", name3, err)
	}
}

func TestArchiveNameStaysWithinNameMax(t *testing.T) {
	n := ArchiveName(strings.Repeat("a/", 200)+"b", time.Now())
	if len(n) > 255 || !strings.HasPrefix(n, "archived-") || strings.Contains(n, "/") {
		t.Errorf("name %q (%d bytes)", n, len(n))
	}
}

func TestSpaceAndWritable(t *testing.T) {
	s, base := newStore(t)
	sp, err := s.Space()
	if err != nil || sp.Total == 0 || sp.Free > sp.Total {
		t.Fatalf("space = %+v %v", sp, err)
	}
	if err := s.Writable(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(base)
	if len(entries) != 0 {
		t.Errorf("probe left files: %v", entries)
	}
}

func TestOpenRefusesAMissingBasePath(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("a missing base path must be an error, not silently created")
	}
}

func TestCreateOnBtrfsEnforcesTheLimit(t *testing.T) {
	s, mnt := btrfsStore(t, true)
	enforced, err := s.Create("ns/vol", 0o777, Owner{}, Limit{Bytes: 8 << 20, Mode: policy.QuotaAuto})
	if err != nil || !enforced {
		t.Fatalf("Create = %v, %v; want an enforced limit", enforced, err)
	}
	big := make([]byte, 16<<20)
	if err := os.WriteFile(filepath.Join(mnt, "ns/vol/big"), big, 0o644); !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("writing past the limit: %v, want EDQUOT", err)
	}
	if err := s.Remove("ns/vol"); err != nil {
		t.Fatalf("removing a subvolume volume: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "ns")); !os.IsNotExist(err) {
		t.Errorf("parent not pruned: %v", err)
	}
}

// Growing a volume whose PV says its size is enforced, on a filesystem that
// enforces none now, fails naming that, not a backend it is not on.
func TestResizeWhereNoSizeIsEnforcedSaysSo(t *testing.T) {
	s, _ := newStore(t)
	if k := s.backend.Kind(); k != quota.None {
		t.Skipf("skipping: the temporary directory's filesystem enforces sizes (%s); this is about one that does not", k)
	}
	if _, err := s.Create("ns/vol", 0o777, Owner{}, Limit{}); err != nil {
		t.Fatal(err)
	}
	err := s.Resize("ns/vol", 1<<20)
	if !errors.Is(err, errNoQuota) || strings.Contains(err.Error(), "btrfs") {
		t.Errorf("Resize = %v, want errNoQuota, naming no backend", err)
	}
}

// A qgroup limit set through a plain directory would limit the subvolume
// around it: the base path's, where every volume that is not a subvolume of
// its own lives. Neither adopting an empty plain directory nor growing a
// plain volume may do that.
func TestBtrfsNeverLimitsThroughAPlainDirectory(t *testing.T) {
	s, mnt := btrfsStore(t, true)
	must(t, os.MkdirAll(filepath.Join(mnt, "ns", "adopted"), 0o755))
	if _, err := s.Create("ns/adopted", 0o777, Owner{}, Limit{Bytes: 1 << 20, Mode: policy.QuotaAuto}); !errors.Is(err, errNoOwnQgroup) {
		t.Errorf("Create over an empty plain directory = %v, want errNoOwnQgroup", err)
	}
	if _, err := s.Create("plain", 0o777, Owner{}, Limit{Mode: policy.QuotaOff}); err != nil {
		t.Fatal(err)
	}
	if err := s.Resize("plain", 1<<20); !errors.Is(err, errNoOwnQgroup) {
		t.Errorf("Resize of a plain volume = %v, want errNoOwnQgroup", err)
	}
	// The base path's own subvolume is still unlimited: 16 MiB fit where a
	// stray 1 MiB limit would have stopped them.
	must(t, os.WriteFile(filepath.Join(mnt, "plain", "big"), make([]byte, 16<<20), 0o644))
}

func TestQuotaRequiredRefusesWhereItCannotBeEnforced(t *testing.T) {
	s, base := newStore(t)
	_, err := s.Create("v", 0o777, Owner{}, Limit{Bytes: 1 << 20, Mode: policy.QuotaRequired})
	if err == nil || !strings.Contains(err.Error(), "cannot enforce sizes") {
		t.Fatalf("err = %v", err)
	}
	if entries, _ := os.ReadDir(base); len(entries) != 0 {
		t.Errorf("a refused volume left %v", entries)
	}

	b, mnt := btrfsStore(t, false)
	if _, err := b.Create("v", 0o777, Owner{}, Limit{Bytes: 1 << 20, Mode: policy.QuotaRequired}); !errors.Is(err, quota.ErrQuotaDisabled) {
		t.Fatalf("btrfs without quotas: %v, want ErrQuotaDisabled", err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "v")); !os.IsNotExist(err) {
		t.Errorf("the refused subvolume was left behind: %v", err)
	}
	if enforced, err := b.Create("w", 0o777, Owner{}, Limit{Bytes: 1 << 20, Mode: policy.QuotaAuto}); err != nil || enforced {
		t.Errorf("auto without quotas = %v, %v; want an unenforced volume", enforced, err)
	}
}

func TestSpaceOnBtrfsCountsTheLimitsAlreadyPromised(t *testing.T) {
	s, _ := btrfsStore(t, true)
	before, err := s.Space()
	if err != nil || !before.Enforcing || before.Reserved != 0 || before.Unreserved != before.Total {
		t.Fatalf("Space of an empty filesystem = %+v, %v", before, err)
	}
	for _, name := range []string{"ns/a", "ns/b"} {
		if _, err := s.Create(name, 0o777, Owner{}, Limit{Bytes: 200 << 20, Mode: policy.QuotaRequired}); err != nil {
			t.Fatal(err)
		}
	}
	// A volume without a limit promises nothing.
	if _, err := s.Create("ns/unlimited", 0o777, Owner{}, Limit{Bytes: 200 << 20, Mode: policy.QuotaOff}); err != nil {
		t.Fatal(err)
	}
	sp, err := s.Space()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after two 200Mi volumes: total %d, free %d, reserved %d, unreserved %d: %s", sp.Total, sp.Free, sp.Reserved, sp.Unreserved, sp)
	if sp.Reserved != 400<<20 || sp.Unreserved != sp.Total-400<<20 {
		t.Errorf("reserved %d, unreserved %d of %d: want 400Mi promised", sp.Reserved, sp.Unreserved, sp.Total)
	}
	if sp.Free < sp.Total/2 {
		t.Errorf("free = %d of %d: nothing has been written, the filesystem should be mostly free", sp.Free, sp.Total)
	}
	if !sp.LimitedByReservations() || sp.Available() != sp.Unreserved {
		t.Errorf("Available = %d, want the unreserved %d", sp.Available(), sp.Unreserved)
	}
	claim := resource.MustParse("200Mi")
	if free := sp.FreeQuantity(); claim.Cmp(*free) <= 0 || free.Value() < 100<<20 {
		t.Errorf("FreeQuantity = %s: want about 112Mi, too little for another 200Mi claim", free)
	}
	if !strings.Contains(sp.String(), "unreserved") {
		t.Errorf("String() = %q should say the limits are what is short", sp.String())
	}

	// Growing a volume promises more; removing one gives its promise back.
	if err := s.Resize("ns/a", 250<<20); err != nil {
		t.Fatal(err)
	}
	if sp, _ := s.Space(); sp.Reserved != 450<<20 {
		t.Errorf("after growing a to 250Mi: reserved %d, want 450Mi", sp.Reserved)
	}
	if err := s.Remove("ns/b"); err != nil {
		t.Fatal(err)
	}
	if sp, _ := s.Space(); sp.Reserved != 250<<20 {
		t.Errorf("after removing b: reserved %d, want 250Mi (a deleted subvolume's qgroup promises nothing)", sp.Reserved)
	}
}

func TestSpaceWithoutEnforcementIsTheFreeSpace(t *testing.T) {
	s, _ := btrfsStore(t, false)
	if _, err := s.Create("v", 0o777, Owner{}, Limit{Bytes: 400 << 20, Mode: policy.QuotaAuto}); err != nil {
		t.Fatal(err)
	}
	sp, err := s.Space()
	if err != nil || sp.Enforcing || sp.Available() != sp.Free || sp.FreeQuantity().Value() != int64(sp.Free) {
		t.Errorf("btrfs without quotas: %+v, %v; want the free space and nothing reserved", sp, err)
	}
	if sp.String() != sp.FreeQuantity().String()+" free" {
		t.Errorf("String() = %q", sp.String())
	}
}

func TestCheckAcceptsOnlyADirectoryReachedWithoutASymlink(t *testing.T) {
	s, base := newStore(t)
	for _, d := range []string{"ns/v", "other"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("other", filepath.Join(base, "leaf")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(".", filepath.Join(base, "up")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Check("ns/v"); err != nil {
		t.Errorf("Check(ns/v) = %v, want nil", err)
	}
	for rel, want := range map[string]string{"leaf": "symlink", "up/ns/v": "symlink", "missing": "no such file", "file": "not a directory"} {
		if err := s.Check(rel); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%s) = %v, want an error containing %q", rel, err, want)
		}
	}
}

func TestRemoveAndArchiveOfAVolumeThatIsAlreadyGoneSucceed(t *testing.T) {
	// A crash after the tree is gone but before the PV is deleted retries
	// the deletion: it must succeed, or the PV is stuck forever.
	s, base := newStore(t)
	for _, rel := range []string{"ns-a-pvc-1", "ns/b"} {
		if _, err := s.CreateVolume(rel, CreateOptions{PV: "pvc-1", Mode: 0o777}); err != nil {
			t.Fatal(err)
		}
		if err := s.Remove(rel); err != nil {
			t.Fatal(err)
		}
		if err := s.Remove(rel); err != nil {
			t.Errorf("second Remove(%s) = %v, want nil", rel, err)
		}
		if name, err := s.Archive(rel, time.Now()); err != nil || name != "" {
			t.Errorf("Archive(%s) of a gone volume = %q, %v; want \"\", nil", rel, name, err)
		}
		if ok, err := s.IsVolume(rel); err != nil || ok {
			t.Errorf("IsVolume(%s) = %v, %v after removal; want false", rel, ok, err)
		}
	}
	if err := s.Remove("never-existed"); err != nil {
		t.Errorf("Remove of a path that never existed = %v, want nil", err)
	}
	if _, err := os.Stat(filepath.Join(base, "ns")); !os.IsNotExist(err) {
		t.Errorf("the parent ns was not pruned: %v", err)
	}
}

// Every provisioning worker probes the base path before it creates a
// volume: concurrent probes must not take each other's probe file for a
// read-only mount (they did, under one name per process, and failed
// claims for the library's 15 s retry).
func TestWritableConcurrently(t *testing.T) {
	s, base := newStore(t)
	errs := make(chan error, 16*50)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				errs <- s.Writable()
			}
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			if failed == 1 {
				t.Errorf("a writable base path was reported as not writable: %v", err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d concurrent probes failed", failed, 16*50)
	}
	entries, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("probe left behind: %s", e.Name())
	}
}
