package e2e

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// swapRacer plays a process that still has the volume open while it is
// deleted or archived: it keeps exchanging directories full of files with
// symlinks that lead out of the volume (to a canary outside the base path,
// to /, and relatively to a neighbour's volume inside it), and refills
// what the provisioner removed, so that a remover that resolves a path
// once and trusts it later would follow a link out.
type swapRacer struct {
	dir       string
	stop      chan struct{}
	done      sync.WaitGroup
	swaps     atomic.Int64 // successful exchanges
	refills   atomic.Int64 // victims found removed and refilled: proof the race overlapped a deletion
	lastError atomic.Value
}

func startSwapRacer(t *testing.T, dir string, targets []string) *swapRacer {
	t.Helper()
	r := &swapRacer{dir: dir, stop: make(chan struct{})}
	// The racer's own writes go through an os.Root on the volume, so that
	// it cannot follow its own lures out (a failure here must be the
	// provisioner's), and through the directory it opened, so that once the
	// volume is gone nothing brings it back.
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	fill := func(victim string) error {
		if err := root.Mkdir(victim, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if fi, err := root.Lstat(victim); err != nil || !fi.IsDir() {
			return fmt.Errorf("%s is not a directory now", victim)
		}
		if err := root.Mkdir(filepath.Join(victim, "sub"), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		for i := range 200 {
			if err := root.WriteFile(filepath.Join(victim, "sub", fmt.Sprintf("f%d", i)), []byte("racer"), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	d, err := root.Open(".")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	dirFd := int(d.Fd())
	for i, target := range targets {
		victim, lure := fmt.Sprintf("victim-%d", i), fmt.Sprintf("lure-%d", i)
		if err := fill(victim); err != nil {
			t.Fatalf("racer setup: %v", err)
		}
		if err := root.Symlink(target, lure); err != nil {
			t.Fatalf("racer setup: %v", err)
		}
		r.done.Go(func() {
			for {
				select {
				case <-r.stop:
					return
				default:
				}
				// The directory and the link trade places, back and forth.
				err := unix.Renameat2(dirFd, victim, dirFd, lure, unix.RENAME_EXCHANGE)
				switch {
				case err == nil:
					r.swaps.Add(1)
				case errors.Is(err, unix.ENOENT):
					// The provisioner removed one of the pair: put both back.
					r.refills.Add(1)
					_ = fill(victim)
					_ = root.Symlink(target, lure)
				default:
					r.lastError.Store(err)
				}
			}
		})
	}
	return r
}

func (r *swapRacer) Stop() {
	close(r.stop)
	r.done.Wait()
}

// Deleting and archiving a volume while something inside it keeps swapping
// directories for symlinks that lead outside (absolute, relative, to /)
// never touches a file outside the volume: the canary outside the base path
// and a retained neighbour inside it keep their exact bytes, and once the
// racing stops, the deletion completes.
func TestDeletionRacingADirectorySwapStaysInTheVolume(t *testing.T) {
	ns := framework.NewNamespace(t)
	base := baseDir(t)
	startProvisioner(t, base)
	del := storageClass(t, ns+"-delete", immediate, deletePol, nil)
	arch := storageClass(t, ns+"-archive", immediate, deletePol, map[string]string{"onDelete": "archive"})
	keep := storageClass(t, ns+"-retain", immediate, retainPol, nil)

	neighbour := newClaim(ns, "neighbour", "1Mi", &keep.Name, nil)
	create(t, neighbour)
	_, npv := waitBound(t, neighbour, time.Minute)
	nRel := npv.Annotations[policy.AnnPath]
	nDir := filepath.Join(base, nRel)
	for i := range 20 {
		if err := os.WriteFile(filepath.Join(nDir, fmt.Sprintf("keep-%d", i)), []byte("neighbour data"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	nHash := treeHash(t, nDir)

	canary := t.TempDir()
	if err := os.MkdirAll(filepath.Join(canary, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(canary, "dir", "canary"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	canaryHash := treeHash(t, canary)

	for _, tc := range []struct{ name, class string }{{"delete", del.Name}, {"archive", arch.Name}} {
		t.Run(tc.name, func(t *testing.T) {
			claim := newClaim(ns, "raced-"+tc.name, "1Mi", &tc.class, nil)
			create(t, claim)
			claim, pv := waitBound(t, claim, time.Minute)
			dir := filepath.Join(base, pv.Annotations[policy.AnnPath])
			rel, err := filepath.Rel(dir, nDir)
			if err != nil {
				t.Fatal(err)
			}
			r := startSwapRacer(t, dir, []string{
				filepath.Join(canary, "dir"), // absolute, out of the base path
				"/",                          // the host's root
				rel,                          // relative, into the neighbour's volume
				"../../../../../../../..",    // relative, up and out
				"lure-4",                     // a link to itself: a loop
				"does-not-exist",             // dangling
			})
			time.Sleep(500 * time.Millisecond) // the racer is swapping before the delete starts
			deleteObj(t, claim)

			// Race until the provisioner has removed something the racer had to put back,
			// and a little longer; give up after a minute.
			deadline := time.Now().Add(time.Minute)
			for r.refills.Load() < 3 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(2 * time.Second)
			r.Stop()
			t.Logf("racer: %d swaps, %d refills after the provisioner removed its files, last error: %v", r.swaps.Load(), r.refills.Load(), r.lastError.Load())
			if tc.name == "delete" && r.refills.Load() == 0 {
				t.Errorf("the racer never saw the provisioner remove anything: the race did not overlap the deletion")
			}

			waitPVGone(t, pv.Name, 3*time.Minute)
			waitGone(t, dir, time.Minute)
			if tc.name == "archive" {
				matches, _ := filepath.Glob(filepath.Join(base, "archived-"+filepath.Base(dir)+"-*"))
				if len(matches) != 1 {
					t.Fatalf("archives: %v", matches)
				}
				// The links were archived as links, never followed.
				for i := range 6 {
					fi, err := os.Lstat(filepath.Join(matches[0], fmt.Sprintf("lure-%d", i)))
					if err == nil && fi.Mode().Type() == fs.ModeSymlink {
						continue
					}
					fi, err = os.Lstat(filepath.Join(matches[0], fmt.Sprintf("victim-%d", i)))
					if err != nil || fi.Mode().Type() != fs.ModeSymlink {
						t.Errorf("pair %d in the archive: neither entry is a symlink (%v)", i, err)
					}
				}
			}
			if got := treeHash(t, canary); got != canaryHash {
				t.Errorf("the canary outside the base path changed")
			}
			if got := treeHash(t, nDir); got != nHash {
				t.Errorf("the retained neighbour inside the base path changed")
			}
		})
	}
}
