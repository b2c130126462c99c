package e2e

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mazdermind/hostpath-provisioner/pkg/failpoint"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// treeHash fingerprints every path, mode and file content below dir.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	var entries []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v", strings.TrimPrefix(p, dir), info.Mode())
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		entries = append(entries, line)
		return nil
	})
	if err != nil {
		t.Fatalf("hashing %s: %v", dir, err)
	}
	sort.Strings(entries)
	for _, e := range entries {
		fmt.Fprintln(h, e)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func listBase(t *testing.T, base string) []string {
	t.Helper()
	names, err := framework.VolumeDirs(base)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// A SIGKILL at any step of provisioning or deletion converges after a
// restart: every claim Bound with exactly its own directory, nothing
// orphaned, deleted volumes gone, archived data byte-identical, and a
// retained neighbour untouched throughout.
func TestCrashAtEveryStepConverges(t *testing.T) {
	ns := framework.NewNamespace(t)
	base := baseDir(t)
	proc := startProvisioner(t, base)
	del := storageClass(t, ns+"-delete", immediate, deletePol, nil)
	arch := storageClass(t, ns+"-archive", immediate, deletePol, map[string]string{"onDelete": "archive"})
	keep := storageClass(t, ns+"-retain", immediate, retainPol, nil)

	// A retained neighbour whose bytes must survive every crash.
	neighbour := newClaim(ns, "neighbour", "1Mi", &keep.Name, nil)
	create(t, neighbour)
	neighbour, npv := waitBound(t, neighbour, time.Minute)
	runWriter(t, ns, "neighbour-writer", neighbour.Name, "data", "do not lose me")
	nDir := filepath.Join(base, npv.Annotations[policy.AnnPath])
	nHash := treeHash(t, nDir)

	// Canary outside the base path; pods plant symlinks to it and to /.
	canary := t.TempDir()
	if err := os.WriteFile(filepath.Join(canary, "canary"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	canaryHash := treeHash(t, canary)

	provisionPoints := []string{failpoint.AfterMkdir, failpoint.AfterPVCreate}
	for i, point := range provisionPoints {
		t.Run("provision/"+point, func(t *testing.T) {
			proc.RestartWith(failpoint.EnvVar + "=" + point)
			claim := newClaim(ns, fmt.Sprintf("p%d", i), "1Mi", &del.Name, nil)
			create(t, claim)
			proc.WaitCrashed(time.Minute)
			proc.RestartWith()
			claim, pv := waitBound(t, claim, 2*time.Minute)
			want := filepath.Join(base, pv.Annotations[policy.AnnPath])
			if fi, err := os.Stat(want); err != nil || fi.Mode().Perm() != 0o777 {
				t.Errorf("directory after recovery: %v %v", fi, err)
			}
			// Exactly one directory per claim: nothing half-made left over.
			var mine []string
			for _, n := range listBase(t, base) {
				if strings.HasPrefix(n, ns+"-"+claim.Name+"-") {
					mine = append(mine, n)
				}
			}
			if len(mine) != 1 {
				t.Errorf("directories for %s: %v", claim.Name, mine)
			}
		})
	}

	deletePoints := []struct {
		point string
		class string
	}{
		{failpoint.MidDelete, del.Name},
		{failpoint.BeforeDeletePV, del.Name},
		{failpoint.AfterArchive, arch.Name},
	}
	for i, dp := range deletePoints {
		t.Run("delete/"+dp.point, func(t *testing.T) {
			proc.RestartWith()
			claim := newClaim(ns, fmt.Sprintf("d%d", i), "1Mi", &dp.class, nil)
			create(t, claim)
			claim, pv := waitBound(t, claim, time.Minute)
			framework.RunPod(t, writerPod(ns, claim.Name+"-writer", claim.Name,
				"for i in 1 2 3 4 5 6 7 8; do mkdir -p /data/d$i/e && echo $i > /data/d$i/e/f; done; ln -s / /data/root-link; ln -s "+canary+" /data/d1/canary-link; ln -s "+canary+"/canary /data/d2/canary-file; sync"))
			framework.WaitPodSucceeded(t, ns, claim.Name+"-writer", 2*time.Minute)
			dir := filepath.Join(base, pv.Annotations[policy.AnnPath])
			before := treeHash(t, dir)

			proc.RestartWith(failpoint.EnvVar + "=" + dp.point)
			deleteObj(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: claim.Name + "-writer"}})
			deleteObj(t, claim)
			proc.WaitCrashed(time.Minute)
			proc.RestartWith()
			waitPVGone(t, pv.Name, 2*time.Minute)
			waitGone(t, dir, time.Minute)
			if dp.point == failpoint.AfterArchive {
				matches, _ := filepath.Glob(filepath.Join(base, "archived-"+filepath.Base(dir)+"-*"))
				if len(matches) != 1 {
					t.Fatalf("archives after crash: %v", matches)
				}
				if got := treeHash(t, matches[0]); got != before {
					t.Errorf("archived tree changed across the crash")
				}
			}
		})
	}

	if got := treeHash(t, nDir); got != nHash {
		t.Errorf("the retained neighbour changed")
	}
	if got := treeHash(t, canary); got != canaryHash {
		t.Errorf("the canary outside the base path changed")
	}
}
