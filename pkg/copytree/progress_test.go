package copytree

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestProgressCountsFirstAndReportsWhileItCopies(t *testing.T) {
	src := t.TempDir()
	for _, f := range []string{"a", "b/c", "b/d"} {
		must(t, os.MkdirAll(filepath.Dir(filepath.Join(src, f)), 0o755))
		must(t, os.WriteFile(filepath.Join(src, f), []byte("x"), 0o644))
	}
	want := Counts{Dirs: 1, Files: 3, Bytes: 3}
	for _, tt := range []struct {
		name      string
		every     time.Duration
		wantCalls func(n int) bool
	}{
		{"a copy quicker than the interval reports nothing", time.Hour, func(n int) bool { return n == 0 }},
		{"a slow copy reports while it counts and while it copies", 0, func(n int) bool { return n > 1 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls []Progress
			got, err := copyTree(t, src, filepath.Join(t.TempDir(), "dst"), Options{Every: tt.every, Progress: func(p Progress) { calls = append(calls, p) }})
			if err != nil {
				t.Fatal(err)
			}
			if got.Copied != want || got.Total != want || got.Scanning {
				t.Errorf("Copy = %+v, want %+v copied of %+v counted", got, want, want)
			}
			if !tt.wantCalls(len(calls)) {
				t.Fatalf("%d calls: %+v", len(calls), calls)
			}
			if len(calls) > 1 && (!calls[0].Scanning || calls[len(calls)-1].Scanning || calls[len(calls)-1].Total != want) {
				t.Errorf("calls %+v: want counting first, then copying with the total known", calls)
			}
		})
	}
}
