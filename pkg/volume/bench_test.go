package volume

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// makeTree writes n small files in directories of 100, the shape of a
// volume full of small files (a mail spool, a package cache).
func makeTree(b *testing.B, dir string, n int) {
	b.Helper()
	for i := 0; i < n; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%04d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d", i)), []byte("x"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRemove100kFiles compares Store.Remove (fd-relative, no symlink
// following) with `rm -rf` on identical trees, in the same run. The ratio
// is reported as the metric "x-rm-rf"; the target is at most 1.5.
func BenchmarkRemove100kFiles(b *testing.B) {
	const files = 100_000
	base := b.TempDir()
	s, err := Open(base)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var ours, rm time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		makeTree(b, filepath.Join(base, "ours"), files)
		makeTree(b, filepath.Join(base, "rm"), files)
		// Both trees start written out, and each goes first every other
		// round: the first removal would otherwise also pay for the
		// writeback of the trees just made.
		if out, err := exec.Command("sync").CombinedOutput(); err != nil {
			b.Fatalf("sync: %v %s", err, out)
		}
		b.StartTimer()

		removals := []func(){
			func() {
				t0 := time.Now()
				if err := s.Remove("ours"); err != nil {
					b.Fatal(err)
				}
				ours += time.Since(t0)
			},
			func() {
				t0 := time.Now()
				if out, err := exec.Command("rm", "-rf", filepath.Join(base, "rm")).CombinedOutput(); err != nil {
					b.Fatalf("rm -rf: %v %s", err, out)
				}
				rm += time.Since(t0)
			},
		}
		removals[i%2]()
		removals[1-i%2]()
	}
	b.ReportMetric(float64(ours.Milliseconds())/float64(b.N), "ms-ours/op")
	b.ReportMetric(float64(rm.Milliseconds())/float64(b.N), "ms-rm-rf/op")
	b.ReportMetric(float64(ours)/float64(rm), "x-rm-rf")
}
