package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mazdermind/hostpath-provisioner/pkg/beneath"
	"github.com/mazdermind/hostpath-provisioner/pkg/beneath/beneathtest"
)

func mustCreate(t *testing.T, s *Store, rel, pv string) {
	t.Helper()
	if _, err := s.CreateVolume(rel, CreateOptions{PV: pv, Mode: 0o777, Limit: bigLimit}); err != nil {
		t.Fatal(err)
	}
}

func mustExist(t *testing.T, base string, rels ...string) {
	t.Helper()
	for _, rel := range rels {
		if _, err := os.Lstat(filepath.Join(base, rel)); err != nil {
			t.Errorf("%s: %v", rel, err)
		}
	}
}

func mustBeGone(t *testing.T, base string, rels ...string) {
	t.Helper()
	for _, rel := range rels {
		if _, err := os.Lstat(filepath.Join(base, rel)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there: %v", rel, err)
		}
	}
}

func TestAVolumeInsideAnotherIsRefusedNamingTheOtherAndItsPV(t *testing.T) {
	s, base := newStore(t)
	mustCreate(t, s, "ns/a", "pvc-a")
	must(t, os.MkdirAll(filepath.Join(base, "ns/a/l"), 0o755)) // the owner of a made it
	before := beneathtest.Snapshot(t, filepath.Join(base, "ns/a"))

	_, err := s.CreateVolume("ns/a/l/data", CreateOptions{PV: "pvc-b", Mode: 0o777})
	if !errors.Is(err, ErrNested) {
		t.Fatalf("err = %v, want ErrNested", err)
	}
	for _, want := range []string{`"ns/a/l/data"`, `"ns/a"`, "PV pvc-a"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %s", err, want)
		}
	}
	if beneathtest.Snapshot(t, filepath.Join(base, "ns/a")) != before {
		t.Error("the outer volume was changed")
	}
	if ok, _ := s.IsVolume("ns/a/l/data"); ok {
		t.Error("the refused volume was registered")
	}
	if _, _, err := s.Clone("ns/a", "ns/a/l/clone", Limit{}, CloneOptions{ID: "pvc-c"}); !errors.Is(err, ErrNested) {
		t.Errorf("a clone inside a volume: %v, want ErrNested", err)
	}
}

func TestAVolumeThatWouldHoldAnotherIsACollision(t *testing.T) {
	s, base := newStore(t)
	mustCreate(t, s, "ns/team/claim", "pvc-inner")
	before := beneathtest.Snapshot(t, filepath.Join(base, "ns"))
	for _, rel := range []string{"ns/team", "ns"} {
		if _, err := s.CreateVolume(rel, CreateOptions{PV: "pvc-outer", Mode: 0o777}); !errors.Is(err, ErrCollision) {
			t.Errorf("Create(%q) = %v, want ErrCollision", rel, err)
		}
	}
	if beneathtest.Snapshot(t, filepath.Join(base, "ns")) != before {
		t.Error("the inner volume or its parents were changed")
	}
	if _, _, err := s.Clone("ns/team/claim", "ns/team", Limit{}, CloneOptions{ID: "pvc-clone"}); !errors.Is(err, ErrCollision) {
		t.Errorf("a clone that would hold a volume: %v, want ErrCollision", err)
	}
}

func TestConcurrentCreatesOfAVolumeAndOneInsideItNeverBothSucceed(t *testing.T) {
	for i := range 20 {
		s, _ := newStore(t)
		outer, inner := fmt.Sprintf("ns/v%d", i), fmt.Sprintf("ns/v%d/data", i)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, rel := range []string{outer, inner} {
			wg.Go(func() { _, errs[j] = s.CreateVolume(rel, CreateOptions{Mode: 0o777}) })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("outer: %v, inner: %v; want exactly one to succeed", errs[0], errs[1])
		}
	}
}

func TestRetainedAndArchivedVolumesStillBlockNesting(t *testing.T) {
	s, _ := newStore(t)
	// Retained: its PV is deleted, the directory and its entry stay.
	mustCreate(t, s, "ns/kept", "pvc-kept")
	if _, err := s.CreateVolume("ns/kept/x", CreateOptions{Mode: 0o777}); !errors.Is(err, ErrNested) {
		t.Errorf("inside a retained volume: %v, want ErrNested", err)
	}
	mustCreate(t, s, "ns/old", "pvc-old")
	name, err := s.Archive("ns/old", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.IsVolume(name); !ok {
		t.Errorf("the archive %s is not registered", name)
	}
	if ok, _ := s.IsVolume("ns/old"); ok {
		t.Error("the archived path is still registered")
	}
	_, err = s.CreateVolume(name+"/x", CreateOptions{Mode: 0o777})
	if !errors.Is(err, ErrNested) || !strings.Contains(err.Error(), "PV pvc-old") {
		t.Errorf("inside an archive: %v, want ErrNested naming the archived PV", err)
	}
}

func TestAStaleEntryBlocksNothing(t *testing.T) {
	s, base := newStore(t)
	if err := s.Register("ns/gone", "pvc-gone"); err != nil { // its directory was removed by hand
		t.Fatal(err)
	}
	mustCreate(t, s, "ns/gone/x", "pvc-x")
	if err := s.Remove("ns/gone/x"); err != nil {
		t.Fatal(err)
	}
	// ns/gone was made as a parent this time, so it is cleaned up.
	mustBeGone(t, base, "ns/gone", "ns")
	// A volume made and removed leaves no entry either.
	mustCreate(t, s, "ns/a", "pvc-a")
	if err := s.Remove("ns/a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.IsVolume("ns/a"); ok {
		t.Error("a removed volume is still registered")
	}
	mustCreate(t, s, "ns/a/b", "pvc-b")
}

func TestPruningNeverRemovesAVolumeOrADirectoryItDidNotMake(t *testing.T) {
	t.Run("the parent of a removed volume that is itself a volume stays", func(t *testing.T) {
		s, base := newStore(t)
		mustCreate(t, s, "ns/x", "pvc-x")
		if err := s.Register("ns", "pvc-legacy"); err != nil { // nested by an older version
			t.Fatal(err)
		}
		if err := s.Remove("ns/x"); err != nil {
			t.Fatal(err)
		}
		mustExist(t, base, "ns")
	})
	t.Run("an admin's directory stays", func(t *testing.T) {
		s, base := newStore(t)
		must(t, os.Mkdir(filepath.Join(base, "mnt"), 0o755)) // a mount point, say
		mustCreate(t, s, "mnt/vol", "pvc-1")
		if err := s.Remove("mnt/vol"); err != nil {
			t.Fatal(err)
		}
		mustExist(t, base, "mnt")
		mustCreate(t, s, "mnt/vol", "pvc-2")
		if _, err := s.Archive("mnt/vol", time.Now()); err != nil {
			t.Fatal(err)
		}
		mustExist(t, base, "mnt")
	})
	t.Run("the parents made for a volume go with it, up to one that holds another", func(t *testing.T) {
		s, base := newStore(t)
		mustCreate(t, s, "ns/team/a/vol", "pvc-a")
		mustCreate(t, s, "ns/other", "pvc-o")
		if err := s.Remove("ns/team/a/vol"); err != nil {
			t.Fatal(err)
		}
		mustBeGone(t, base, "ns/team")
		mustExist(t, base, "ns/other")
	})
}

// An older version let volumes nest: Remove and Archive of the outer one
// would take the inner one with it, so they refuse and touch nothing.
func TestAVolumeHoldingAnotherIsNeitherRemovedNorArchived(t *testing.T) {
	s, base := newStore(t)
	for _, d := range []string{"ns/a/l/data"} {
		must(t, os.MkdirAll(filepath.Join(base, d), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(base, "ns/a/l/data/canary"), []byte("b's"), 0o644))
	for rel, pv := range map[string]string{"ns/a": "pvc-a", "ns/a/l/data": "pvc-b"} {
		if err := s.Register(rel, pv); err != nil {
			t.Fatal(err)
		}
	}
	before := beneathtest.Snapshot(t, base)
	if err := s.Remove("ns/a"); !errors.Is(err, ErrNested) || !strings.Contains(err.Error(), "PV pvc-b") {
		t.Errorf("Remove = %v, want ErrNested naming the inner PV", err)
	}
	if _, err := s.Archive("ns/a", time.Now()); !errors.Is(err, ErrNested) {
		t.Errorf("Archive = %v, want ErrNested", err)
	}
	// The outer owner moving the inner volume away does not help.
	must(t, os.Rename(filepath.Join(base, "ns/a/l"), filepath.Join(base, "ns/a/m")))
	must(t, os.Symlink("m", filepath.Join(base, "ns/a/l")))
	if err := s.Remove("ns/a"); !errors.Is(err, ErrNested) {
		t.Errorf("Remove after the inner volume was moved = %v, want ErrNested", err)
	}
	os.Remove(filepath.Join(base, "ns/a/l"))
	must(t, os.Rename(filepath.Join(base, "ns/a/m"), filepath.Join(base, "ns/a/l")))
	if after := beneathtest.Snapshot(t, base); after != before {
		t.Errorf("the tree changed:\n%s\nwas\n%s", after, before)
	}
	// Once the inner volume is gone, the outer one can go.
	if err := s.Remove("ns/a/l/data"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("ns/a"); err != nil {
		t.Fatal(err)
	}
	mustBeGone(t, base, "ns/a")
}

func TestNewVolumesMayNotHaveComponentsStartingWithADot(t *testing.T) {
	s, base := newStore(t)
	for _, rel := range []string{".hostpath-provisioner", ".hostpath-provisioner/volumes/x", "ns/.hidden", ".clone-x", "ns/..x"} {
		if _, err := s.CreateVolume(rel, CreateOptions{Mode: 0o777}); err == nil {
			t.Errorf("Create(%q) succeeded", rel)
		}
		if _, _, err := s.Clone("src", rel, Limit{}, CloneOptions{}); err == nil {
			t.Errorf("Clone to %q = %v", rel, err)
		}
	}
	for _, rel := range []string{".hostpath-provisioner", ".hostpath-provisioner/volumes"} {
		if err := s.Remove(rel); err == nil {
			t.Errorf("Remove(%q) succeeded", rel)
		}
		if _, err := s.Archive(rel, time.Now()); err == nil {
			t.Errorf("Archive(%q) succeeded", rel)
		}
	}
	// An existing PV's path with such a component can still be removed.
	must(t, os.MkdirAll(filepath.Join(base, "ns/.old/f"), 0o755))
	if err := s.Remove("ns/.old"); err != nil {
		t.Fatal(err)
	}
	mustBeGone(t, base, "ns/.old")
}

func TestRegisterIsIdempotentAndTheRegistryIsPrivate(t *testing.T) {
	s, base := newStore(t)
	for range 2 {
		if err := s.Register("ns/legacy", "pvc-1"); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := s.IsVolume("ns/legacy"); !ok || err != nil {
		t.Errorf("IsVolume = %v, %v", ok, err)
	}
	if ok, _ := s.IsVolume("ns"); ok {
		t.Error("ns is not a volume")
	}
	fi, err := os.Lstat(filepath.Join(base, registryDir))
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("registry: %v, %v", fi, err)
	}
	entries, _ := os.ReadDir(filepath.Join(base, registryDir, volumesDir))
	if len(entries) != 1 {
		t.Errorf("entries %v, want one", entries)
	}
}

func TestARegistryThatIsASymlinkIsRefused(t *testing.T) {
	s, base := newStore(t)
	outside := t.TempDir()
	must(t, os.Symlink(outside, filepath.Join(base, registryDir)))
	if _, err := s.CreateVolume("v", CreateOptions{Mode: 0o777}); !errors.Is(err, beneath.ErrSymlink) {
		t.Errorf("err = %v, want a symlink error", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("wrote through the link: %v", entries)
	}
	mustBeGone(t, base, "v")
}

func TestWritableFollowsNoSymlink(t *testing.T) {
	s, base := newStore(t)
	outside := t.TempDir()
	target := filepath.Join(outside, "target")
	must(t, os.Symlink(target, filepath.Join(base, probeName(probes.Load()+1))))
	if err := s.Writable(); err == nil {
		t.Error("the probe was created through a symlink")
	}
	mustBeGone(t, outside, "target")
}

// swapFixture is a base path with the volume ns/mid/vol, a neighbour
// volume other/vol and a directory outside the base path, each holding a
// canary; the links planted in ns/mid/vol lead into the other two.
type swapFixture struct {
	s                *Store
	base, outside    string
	before           map[string]string
	neighbour, moved string
}

const swapPath = "ns/mid/vol"

func newSwapFixture(t *testing.T, newStore func(t *testing.T) (*Store, string)) *swapFixture {
	s, base := newStore(t)
	f := &swapFixture{s: s, base: base, outside: t.TempDir(), neighbour: filepath.Join(base, "other")}
	mustCreate(t, s, "other/vol", "pvc-neighbour")
	mustCreate(t, s, swapPath, "pvc-victim")
	mustCreate(t, s, "src", "pvc-src")
	for _, d := range []string{
		filepath.Join(base, "other/vol/mid/vol"), filepath.Join(base, "other/vol/vol"),
		filepath.Join(f.outside, "mid/vol"), filepath.Join(f.outside, "vol"),
	} {
		must(t, os.MkdirAll(d, 0o755))
		must(t, os.WriteFile(filepath.Join(d, "canary"), []byte("keep "+d), 0o644))
	}
	must(t, os.WriteFile(filepath.Join(base, swapPath, "data"), []byte("the victim's"), 0o644))
	return f
}

// plant replaces the component prefix of swapPath with a symlink to
// target, keeping the real directory aside, and records the trees that
// must not change.
func (f *swapFixture) plant(t *testing.T, prefix, target string) {
	f.moved = filepath.Join(f.base, "moved-aside")
	if err := os.Rename(filepath.Join(f.base, prefix), f.moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(f.base, prefix)); err != nil {
		t.Fatal(err)
	}
	f.before = f.snapshots(t)
}

func (f *swapFixture) snapshots(t *testing.T) map[string]string {
	return map[string]string{
		"outside": beneathtest.Snapshot(t, f.outside), "neighbour": beneathtest.Snapshot(t, f.neighbour),
		"moved": beneathtest.Snapshot(t, f.moved), "src": beneathtest.Snapshot(t, filepath.Join(f.base, "src")),
	}
}

func TestASymlinkInAnyComponentOfAVolumePathMeansTouchingNothing(t *testing.T) {
	testSwappedComponents(t, newStore, false)
}

// On btrfs with quotas the same paths go through subvolumes, snapshots and
// qgroup calls.
func TestASymlinkInAnyComponentOfAVolumePathMeansTouchingNothingOnBtrfs(t *testing.T) {
	testSwappedComponents(t, func(t *testing.T) (*Store, string) { return btrfsStore(t, true) }, true)
}

// testSwappedComponents plants a symlink at each component of a volume's
// path and runs each operation on it; oneTarget tries only the first kind
// of link (each case costs a filesystem).
func testSwappedComponents(t *testing.T, newStore func(t *testing.T) (*Store, string), oneTarget bool) {
	ops := []struct {
		name string
		path string // the path the SymlinkError names
		do   func(s *Store) error
	}{
		{"Create", swapPath, func(s *Store) error {
			_, err := s.CreateVolume(swapPath, CreateOptions{PV: "pvc-victim", Mode: 0o777, Limit: bigLimit})
			return err
		}},
		{"Remove", swapPath, func(s *Store) error { return s.Remove(swapPath) }},
		{"Archive", swapPath, func(s *Store) error { _, err := s.Archive(swapPath, time.Now()); return err }},
		{"Resize", swapPath, func(s *Store) error { return s.Resize(swapPath, 1<<20) }},
		{"Usage", swapPath, func(s *Store) error { _, err := s.Usage(swapPath, 1000); return err }},
		{"Clone from", swapPath, func(s *Store) error {
			_, _, err := s.Clone(swapPath, "fresh", bigLimit, CloneOptions{ID: "pvc-clone"})
			return err
		}},
		{"Clone to", swapPath, func(s *Store) error {
			_, _, err := s.Clone("src", swapPath, bigLimit, CloneOptions{ID: "pvc-victim"})
			return err
		}},
	}
	positions := []string{"ns", "ns/mid", "ns/mid/vol"}
	for _, prefix := range positions {
		depth := strings.Count(prefix, "/")
		targets := []struct {
			name   string
			target func(f *swapFixture) string
		}{
			{"a relative link into the neighbour volume", func(*swapFixture) string {
				return strings.Repeat("../", depth) + "other/vol" + strings.TrimPrefix(prefix, "ns")
			}},
			{"an absolute link into the neighbour volume", func(f *swapFixture) string {
				return filepath.Join(f.base, "other/vol", strings.TrimPrefix(prefix, "ns"))
			}},
			{"an absolute link outside", func(f *swapFixture) string {
				return filepath.Join(f.outside, strings.TrimPrefix(prefix, "ns"))
			}},
			{"a link to ..", func(*swapFixture) string { return ".." }},
		}
		if oneTarget {
			targets = targets[:1]
		}
		for _, tg := range targets {
			for _, op := range ops {
				t.Run(fmt.Sprintf("%s at %s: %s", tg.name, prefix, op.name), func(t *testing.T) {
					f := newSwapFixture(t, newStore)
					f.plant(t, prefix, tg.target(f))
					err := op.do(f.s)
					var se *beneath.SymlinkError
					if !errors.As(err, &se) || se.Component != prefix || se.Path != op.path {
						t.Fatalf("err = %v, want a SymlinkError at %s of %s", err, prefix, op.path)
					}
					if want := "component " + prefix + " of " + op.path + " is a symlink"; !strings.Contains(err.Error(), want) {
						t.Errorf("%q does not say %q", err, want)
					}
					for name, after := range f.snapshots(t) {
						if after != f.before[name] {
							t.Errorf("%s changed:\n%s\nwas\n%s", name, after, f.before[name])
						}
					}
					mustBeGone(t, f.base, "fresh", "archived-ns-mid-vol")
				})
			}
		}
	}
}

// Issue 13, item 2: claim b inside claim a's volume (as an older version
// made it). The owner of a swaps a component of b's path for a symlink
// into a third volume; deleting b touches neither, and the clean-up never
// removes a's directory.
func TestDeletingAVolumeWhosePathAnotherTenantSwappedTouchesNoOtherVolume(t *testing.T) {
	s, base := newStore(t)
	mustCreate(t, s, "ns/a", "pvc-a")
	mustCreate(t, s, "victim/c", "pvc-c")
	must(t, os.WriteFile(filepath.Join(base, "victim/c/canary"), []byte("c's"), 0o644))
	must(t, os.MkdirAll(filepath.Join(base, "victim/c/data"), 0o755))
	must(t, os.MkdirAll(filepath.Join(base, "ns/a/l/data"), 0o755))
	if err := s.Register("ns/a/l/data", "pvc-b"); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(base, "ns/a/l"))
	must(t, os.Symlink("../../victim/c", filepath.Join(base, "ns/a/l")))
	before := beneathtest.Snapshot(t, base)

	err := s.Remove("ns/a/l/data")
	if !errors.Is(err, beneath.ErrSymlink) || !strings.Contains(err.Error(), "component ns/a/l of ns/a/l/data is a symlink") {
		t.Fatalf("err = %v", err)
	}
	if after := beneathtest.Snapshot(t, base); after != before {
		t.Errorf("the base path changed:\n%s\nwas\n%s", after, before)
	}
}
