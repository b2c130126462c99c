package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mazdermind/hostpath-provisioner/pkg/copytree/copytreetest"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/quota"
	"github.com/mazdermind/hostpath-provisioner/pkg/quota/quotatest"
)

var bigLimit = Limit{Bytes: 256 << 20, Mode: policy.QuotaAuto}

type cloneEnv struct {
	s       *Store
	base    string
	makeSrc func(t *testing.T, rel string) // an empty source directory as the class would make it
}

func plainEnv(t *testing.T) cloneEnv {
	s, base := newStore(t)
	return cloneEnv{s, base, func(t *testing.T, rel string) {
		if err := os.MkdirAll(filepath.Join(base, rel), 0o755); err != nil {
			t.Fatal(err)
		}
	}}
}

func btrfsEnv(t *testing.T) cloneEnv {
	mnt := quotatest.MountBtrfs(t, true)
	s, err := Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return cloneEnv{s, mnt, func(t *testing.T, rel string) {
		if _, err := s.Create(rel, 0o755, Owner{}, bigLimit); err != nil {
			t.Fatal(err)
		}
	}}
}

func TestCloneCarriesEverythingAndFollowsNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: the source tree needs root (chown to other users, device nodes)")
	}
	envs := []struct {
		name   string
		env    func(t *testing.T) cloneEnv
		method CloneMethod
	}{
		{"on a plain filesystem the tree is copied", plainEnv, CloneCopy},
		{"on btrfs a subvolume is snapshotted", btrfsEnv, CloneSnapshot},
	}
	for _, e := range envs {
		t.Run(e.name, func(t *testing.T) {
			env := e.env(t)
			outside := t.TempDir()
			canary := filepath.Join(outside, "canary")
			must(t, os.WriteFile(canary, []byte("keep me"), 0o644))
			env.makeSrc(t, "ns/src")
			src := filepath.Join(env.base, "ns/src")
			copytreetest.FillSource(t, src, outside)

			var final CloneProgress
			how, _, err := env.s.Clone("ns/src", "ns/clone", bigLimit, CloneOptions{
				ID: "pvc-1", Progress: func(p CloneProgress) { final = p },
			})
			if err != nil {
				t.Fatal(err)
			}
			if how != e.method {
				t.Errorf("method = %s, want %s", how, e.method)
			}
			dst := filepath.Join(env.base, "ns/clone")
			copytreetest.CompareTrees(t, src, dst, how == CloneSnapshot)

			checks := []struct {
				name  string
				check func(t *testing.T)
			}{
				{"a 2770 directory keeps setgid and its group", func(t *testing.T) {
					fi, _ := os.Lstat(filepath.Join(dst, "shared"))
					if fi == nil || fi.Mode() != fs.ModeDir|fs.ModeSetgid|0o770 || fi.Sys().(*syscall.Stat_t).Gid != 5678 {
						t.Errorf("shared: %v", fi)
					}
				}},
				{"a 4755 file keeps setuid and its owner", func(t *testing.T) {
					fi, _ := os.Lstat(filepath.Join(dst, "shared/bin"))
					if fi == nil || fi.Mode() != fs.ModeSetuid|0o755 || fi.Sys().(*syscall.Stat_t).Uid != 1234 {
						t.Errorf("shared/bin: %v", fi)
					}
				}},
				{"the top directory takes the source's mode and owner", func(t *testing.T) {
					fi, _ := os.Lstat(dst)
					st := fi.Sys().(*syscall.Stat_t)
					if fi.Mode().Perm() != 0o750 || st.Uid != 1234 || st.Gid != 5678 {
						t.Errorf("top: %v %d:%d", fi.Mode(), st.Uid, st.Gid)
					}
				}},
				{"symlinks to /, ../../etc, nowhere and themselves are links with their text", func(t *testing.T) {
					for name, want := range map[string]string{"to-root": "/", "to-etc": "../../etc", "dangling": "nowhere", "loop": "loop"} {
						fi, err := os.Lstat(filepath.Join(dst, "links", name))
						got, _ := os.Readlink(filepath.Join(dst, "links", name))
						if err != nil || fi.Mode()&fs.ModeSymlink == 0 || got != want {
							t.Errorf("links/%s: %v -> %q, %v", name, fi, got, err)
						}
					}
				}},
				{"nothing outside the base path is read, copied or changed", func(t *testing.T) {
					if b, err := os.ReadFile(canary); err != nil || string(b) != "keep me" {
						t.Errorf("canary = %q, %v", b, err)
					}
					if entries, _ := os.ReadDir(outside); len(entries) != 1 {
						t.Errorf("outside now holds %v", entries)
					}
					for _, name := range []string{"to-outside", "to-canary"} {
						if fi, err := os.Lstat(filepath.Join(dst, "links", name)); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
							t.Errorf("links/%s is not a link: %v %v", name, fi, err)
						}
					}
				}},
				{"a file with a 100 MiB hole stays sparse", func(t *testing.T) {
					fi, err := os.Lstat(filepath.Join(dst, "data/sparse"))
					if err != nil {
						t.Fatal(err)
					}
					if blocks := fi.Sys().(*syscall.Stat_t).Blocks; fi.Size() != 100<<20+4 || blocks*512 > 1<<20 {
						t.Errorf("size %d, allocated %d bytes", fi.Size(), blocks*512)
					}
				}},
				{"hard links inside the tree stay hard links", func(t *testing.T) {
					a, _ := os.Lstat(filepath.Join(dst, "hard/a"))
					b, _ := os.Lstat(filepath.Join(dst, "hard/b"))
					if a == nil || b == nil || !os.SameFile(a, b) {
						t.Errorf("hard/a and hard/b are separate files")
					}
				}},
				{"a fifo is copied as a fifo", func(t *testing.T) {
					if fi, err := os.Lstat(filepath.Join(dst, "fifo")); err != nil || fi.Mode() != fs.ModeNamedPipe|0o640 {
						t.Errorf("fifo: %v %v", fi, err)
					}
				}},
				{"the source is unchanged by writes to the clone", func(t *testing.T) {
					must(t, os.WriteFile(filepath.Join(dst, "data/hello.txt"), []byte("changed"), 0o644))
					if b, _ := os.ReadFile(filepath.Join(src, "data/hello.txt")); string(b) != "hello" {
						t.Errorf("source now reads %q", b)
					}
				}},
				{"no temporary directory is left", func(t *testing.T) {
					if _, err := os.Lstat(filepath.Join(env.base, "ns/.clone-clone")); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("temporary directory: %v", err)
					}
				}},
				{"progress ends with Done and, for a copy, the totals", func(t *testing.T) {
					if !final.Done || final.Method != how {
						t.Fatalf("final progress = %+v", final)
					}
					if how != CloneCopy {
						return
					}
					want := CloneCounts{Dirs: 37, Files: 8, Symlinks: 6, Fifos: 1, Skipped: 2, Bytes: 5 + 12 + 100<<20 + 4 + 4 + 1 + 6 + 6}
					if final.Copied != want || final.Total != want {
						t.Errorf("copied %+v, total %+v; want %+v", final.Copied, final.Total, want)
					}
				}},
			}
			for _, c := range checks {
				t.Run(c.name, c.check)
			}
		})
	}
}

func TestCloneOnBtrfs(t *testing.T) {
	tests := []struct {
		name          string
		makeSrc       func(t *testing.T, s *Store, mnt string)
		limit         Limit
		want          CloneMethod
		wantSubvolume bool
		wantEnforced  bool
	}{
		{
			name: "a subvolume is snapshotted and the clone gets its own limit",
			makeSrc: func(t *testing.T, s *Store, mnt string) {
				if _, err := s.Create("src", 0o755, Owner{}, bigLimit); err != nil {
					t.Fatal(err)
				}
			},
			limit: Limit{Bytes: 8 << 20, Mode: policy.QuotaAuto}, want: CloneSnapshot, wantSubvolume: true, wantEnforced: true,
		},
		{
			name:    "a plain directory is copied into a limited subvolume",
			makeSrc: func(t *testing.T, s *Store, mnt string) { must(t, os.Mkdir(filepath.Join(mnt, "src"), 0o755)) },
			limit:   Limit{Bytes: 8 << 20, Mode: policy.QuotaAuto}, want: CloneCopy, wantSubvolume: true, wantEnforced: true,
		},
		{
			name: "a subvolume with one nested inside is copied, nested data included",
			makeSrc: func(t *testing.T, s *Store, mnt string) {
				if _, err := s.Create("src", 0o755, Owner{}, bigLimit); err != nil {
					t.Fatal(err)
				}
				// Not a volume (those never nest): a subvolume inside one,
				// as a tenant with CAP_SYS_ADMIN could make.
				if _, err := s.create("src/inner", 0o755, Owner{}, bigLimit); err != nil {
					t.Fatal(err)
				}
				must(t, os.WriteFile(filepath.Join(mnt, "src/inner/nested"), []byte("nested"), 0o644))
			},
			limit: Limit{Bytes: 8 << 20, Mode: policy.QuotaAuto}, want: CloneCopy, wantSubvolume: true, wantEnforced: true,
		},
		{
			name: "with quota off a subvolume is copied into a plain directory",
			makeSrc: func(t *testing.T, s *Store, mnt string) {
				if _, err := s.Create("src", 0o755, Owner{}, bigLimit); err != nil {
					t.Fatal(err)
				}
			},
			limit: Limit{Mode: policy.QuotaOff}, want: CloneCopy,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mnt := quotatest.MountBtrfs(t, true)
			s, err := Open(mnt)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tt.makeSrc(t, s, mnt)
			must(t, os.WriteFile(filepath.Join(mnt, "src/data"), bytes.Repeat([]byte("d"), 1<<20), 0o644))

			how, enforced, err := s.Clone("src", "ns/clone", tt.limit, CloneOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if how != tt.want || enforced != tt.wantEnforced {
				t.Errorf("Clone = %s, enforced %v; want %s, %v", how, enforced, tt.want, tt.wantEnforced)
			}
			dst := filepath.Join(mnt, "ns/clone")
			copytreetest.CompareTrees(t, filepath.Join(mnt, "src"), dst, false)
			f, err := os.Open(dst)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got := quota.IsSubvolume(int(f.Fd())); got != tt.wantSubvolume {
				t.Errorf("clone is a subvolume: %v, want %v", got, tt.wantSubvolume)
			}
			if tt.wantEnforced {
				big := make([]byte, 16<<20)
				if err := os.WriteFile(filepath.Join(dst, "big"), big, 0o644); !errors.Is(err, syscall.EDQUOT) {
					t.Errorf("writing 16 MiB into a clone limited to 8 MiB: %v, want EDQUOT", err)
				}
			}
		})
	}
}

func TestCloneRefusesWhatItMustNotCopy(t *testing.T) {
	s, base := newStore(t)
	outside := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600))
	must(t, os.MkdirAll(filepath.Join(base, "src/sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(base, "src/sub/f"), []byte("f"), 0o644))
	must(t, os.Symlink("src", filepath.Join(base, "inside-link")))
	must(t, os.Symlink(outside, filepath.Join(base, "outside-link")))
	must(t, os.WriteFile(filepath.Join(base, "file"), []byte("f"), 0o644))
	must(t, os.Symlink("src/sub", filepath.Join(base, "into-src"))) // a parent that leads into the source

	tests := []struct {
		name, src, dst string
		limit          Limit
		want           string
	}{
		{"a source that is a symlink inside the base is refused", "inside-link", "c1", Limit{}, "symlink"},
		{"a source that is a symlink outside the base is refused", "outside-link", "c2", Limit{}, "symlink"},
		{"a source that is a file is refused", "file", "c3", Limit{}, "regular file"},
		{"a missing source is refused", "missing", "c4", Limit{}, "no such file"},
		{"a source that climbs out is refused", "../x", "c5", Limit{}, ".."},
		{"an absolute destination is refused", "src", "/tmp/c6", Limit{}, "absolute"},
		{"a clone onto its own source is refused", "src", "src", Limit{}, "same directory"},
		{"a destination below a symlink into the source is refused", "src", "into-src/c7", Limit{}, "component into-src of into-src/c7 is a symlink"},
		{"a required quota that cannot be enforced here is refused", "src", "c8", Limit{Bytes: 1 << 20, Mode: policy.QuotaRequired}, "cannot enforce sizes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.Clone(tt.src, tt.dst, tt.limit, CloneOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.src)) {
				t.Errorf("the error does not name the source: %v", err)
			}
		})
	}
	entries, _ := os.ReadDir(filepath.Join(base, "src/sub"))
	if len(entries) != 1 {
		t.Errorf("the source was changed: %v", entries)
	}
	for _, name := range []string{"c1", "c2", "c3", "c4", "c8", ".clone-c1", ".clone-c8"} {
		if _, err := os.Lstat(filepath.Join(base, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a refused clone left %s: %v", name, err)
		}
	}
}

func TestCloneDestinationRules(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, s *Store, base string)
		id      string
		wantErr error
	}{
		{
			name:    "a destination holding data is a collision and is left alone",
			prepare: func(t *testing.T, s *Store, base string) { writeTree(t, base, "dst/theirs") },
			wantErr: ErrCollision,
		},
		{
			name: "a destination that is a symlink is a collision",
			prepare: func(t *testing.T, s *Store, base string) {
				must(t, os.Symlink(t.TempDir(), filepath.Join(base, "dst")))
			},
			wantErr: ErrCollision,
		},
		{
			name:    "an empty destination directory is replaced by the clone",
			prepare: func(t *testing.T, s *Store, base string) { must(t, os.Mkdir(filepath.Join(base, "dst"), 0o700)) },
		},
		{
			name: "the leftover of an interrupted clone is removed and the clone done again",
			prepare: func(t *testing.T, s *Store, base string) {
				writeTree(t, base, ".clone-dst/half-copied", ".clone-dst/stale/deeper")
				must(t, os.Chmod(filepath.Join(base, ".clone-dst/stale"), 0o500))
			},
		},
		{
			name: "a clone finished for the same request is adopted on retry",
			prepare: func(t *testing.T, s *Store, base string) {
				if _, _, err := s.Clone("src", "dst", Limit{}, CloneOptions{ID: "pvc-1"}); err != nil {
					t.Fatal(err)
				}
			},
			id: "pvc-1",
		},
		{
			name: "a clone finished for another request is a collision",
			prepare: func(t *testing.T, s *Store, base string) {
				if _, _, err := s.Clone("src", "dst", Limit{}, CloneOptions{ID: "pvc-1"}); err != nil {
					t.Fatal(err)
				}
			},
			id: "pvc-2", wantErr: ErrCollision,
		},
		{
			name: "without an ID a finished clone cannot be told from data and is a collision",
			prepare: func(t *testing.T, s *Store, base string) {
				if _, _, err := s.Clone("src", "dst", Limit{}, CloneOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: ErrCollision,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, base := newStore(t)
			writeTree(t, base, "src/a", "src/sub/b")
			tt.prepare(t, s, base)
			before, _ := os.ReadDir(filepath.Join(base, "dst"))

			_, _, err := s.Clone("src", "dst", Limit{}, CloneOptions{ID: tt.id})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if _, lerr := os.Lstat(filepath.Join(base, ".clone-dst")); !errors.Is(lerr, fs.ErrNotExist) {
				t.Errorf("temporary directory left: %v", lerr)
			}
			if err != nil {
				if after, _ := os.ReadDir(filepath.Join(base, "dst")); len(after) != len(before) {
					t.Errorf("a refused destination was changed: %v -> %v", before, after)
				}
				return
			}
			copytreetest.CompareTrees(t, filepath.Join(base, "src"), filepath.Join(base, "dst"), false)
			if entries, _ := os.ReadDir(filepath.Join(base, "dst")); len(entries) != 2 {
				t.Errorf("the clone holds %v, want exactly the source's a and sub", entries)
			}
		})
	}
}

func TestCloneLeftoverOfAnInterruptedSnapshotIsRemoved(t *testing.T) {
	env := btrfsEnv(t)
	env.makeSrc(t, "src")
	writeTree(t, env.base, "src/a")
	// A crash right after the snapshot leaves a full snapshot at the
	// temporary name.
	if _, _, err := env.s.Clone("src", "first", bigLimit, CloneOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(env.base, "first"), filepath.Join(env.base, ".clone-dst")); err != nil {
		t.Fatal(err)
	}
	writeTree(t, env.base, ".clone-dst/stale")
	how, _, err := env.s.Clone("src", "dst", bigLimit, CloneOptions{})
	if err != nil || how != CloneSnapshot {
		t.Fatalf("Clone = %s, %v", how, err)
	}
	if _, err := os.Lstat(filepath.Join(env.base, "dst/stale")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the stale snapshot was adopted: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(env.base, ".clone-dst")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the leftover is still there: %v", err)
	}
}

func TestCloneWithProjectQuotas(t *testing.T) {
	limit := Limit{Bytes: 10 << 20, Mode: policy.QuotaAuto}
	t.Run("the copy gets a project of its own with the limit", func(t *testing.T) {
		s, base, f := fakeStore(t)
		writeTree(t, base, "src/a")
		how, enforced, err := s.Clone("src", "dst", limit, CloneOptions{ID: "pvc-1"})
		if err != nil || how != CloneCopy || !enforced {
			t.Fatalf("Clone = %s, %v, %v; want an enforced copy", how, enforced, err)
		}
		id := f.projectOf(t, filepath.Join(base, "dst"))
		if !ourProject(id) || f.record(id).Limit != 10<<20 {
			t.Fatalf("the clone has project %d with limit %d", id, f.record(id).Limit)
		}

		// A retry after a crash before the PV was saved: same project,
		// limit set again, nothing cleared.
		before := len(f.log())
		how, enforced, err = s.Clone("src", "dst", limit, CloneOptions{ID: "pvc-1"})
		if err != nil || how != CloneCopy || !enforced {
			t.Fatalf("retry = %s, %v, %v", how, enforced, err)
		}
		if got := f.projectOf(t, filepath.Join(base, "dst")); got != id {
			t.Errorf("the adopted clone moved from project %d to %d", id, got)
		}
		if calls := f.log()[before:]; !slices.Equal(calls, []string{fmt.Sprintf("limit %d %d", id, 10<<20), fmt.Sprintf("project %d", id)}) {
			t.Errorf("the retry did %v", calls)
		}
	})
	t.Run("a leftover and a failed attempt give their projects back", func(t *testing.T) {
		s, base, f := fakeStore(t)
		writeTree(t, base, "src/a")
		if _, err := s.create(".clone-dst", 0o700, Owner{}, limit); err != nil { // as an interrupted clone left it
			t.Fatal(err)
		}
		leftover := f.projectOf(t, filepath.Join(base, ".clone-dst"))
		must(t, os.Symlink("src", filepath.Join(base, "into-src")))
		if _, _, err := s.Clone("src", "into-src/dst", limit, CloneOptions{}); err == nil {
			t.Fatal("a clone into its own source succeeded")
		}
		if _, _, err := s.Clone("src", "dst", limit, CloneOptions{}); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(f.log(), fmt.Sprintf("clear %d", leftover)) {
			t.Errorf("the leftover's project %d was not cleared: %v", leftover, f.log())
		}
		// The hint may hand the freed ID out again; what matters is that
		// only the finished clone's project holds a limit.
		dst := f.projectOf(t, filepath.Join(base, "dst"))
		for id, q := range f.quotas {
			if id != dst && q.Limit != 0 {
				t.Errorf("project %d keeps a limit of %d with no volume: %v", id, q.Limit, f.log())
			}
		}
		if f.record(dst).Limit != 10<<20 {
			t.Errorf("the clone's project %d has limit %d", dst, f.record(dst).Limit)
		}
	})
}

func TestCloneProgress(t *testing.T) {
	tests := []struct {
		name      string
		every     time.Duration
		wantCalls func(n int) bool
	}{
		{"a quick clone reports once, at the end", time.Hour, func(n int) bool { return n == 1 }},
		{"a slow clone also reports while it runs", 0, func(n int) bool { return n > 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := cloneProgressEvery
			cloneProgressEvery = tt.every
			defer func() { cloneProgressEvery = old }()
			s, base := newStore(t)
			writeTree(t, base, "src/a", "src/b/c", "src/b/d")
			var calls []CloneProgress
			if _, _, err := s.Clone("src", "dst", Limit{}, CloneOptions{Progress: func(p CloneProgress) { calls = append(calls, p) }}); err != nil {
				t.Fatal(err)
			}
			if !tt.wantCalls(len(calls)) {
				t.Fatalf("%d calls: %+v", len(calls), calls)
			}
			for _, p := range calls[:len(calls)-1] {
				if p.Done {
					t.Errorf("Done before the end: %+v", p)
				}
			}
			last := calls[len(calls)-1]
			want := CloneCounts{Dirs: 1, Files: 3, Bytes: 3}
			if !last.Done || last.Scanning || last.Copied != want || last.Total != want {
				t.Errorf("last = %+v, want Done with %+v copied of %+v", last, want, want)
			}
		})
	}
}

// writeTree makes files (their name as content) and their parents.
func writeTree(t testing.TB, base string, files ...string) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(base, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(filepath.Base(f)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkClone10kFiles compares Store.Clone (no symlink following,
// progress with a pre-scan, syncfs before the rename) with `cp -a` on the
// same source, in the same run. "x-cp-a" is the ratio to cp alone;
// "x-cp-a-sync" to cp followed by `sync -f`, the same durability as ours.
func BenchmarkClone10kFiles(b *testing.B) {
	const files = 10_000
	base := b.TempDir()
	s, err := Open(base)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	makeTree(b, filepath.Join(base, "src"), files)
	var ours, cp, cpSync time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, _, err := s.Clone("src", "ours", Limit{}, CloneOptions{ID: "bench", Progress: func(CloneProgress) {}}); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t0)

		t0 = time.Now()
		if out, err := exec.Command("cp", "-a", filepath.Join(base, "src"), filepath.Join(base, "cp")).CombinedOutput(); err != nil {
			b.Fatalf("cp -a: %v %s", err, out)
		}
		cp += time.Since(t0)
		if out, err := exec.Command("sync", "-f", filepath.Join(base, "cp")).CombinedOutput(); err != nil {
			b.Fatalf("sync -f: %v %s", err, out)
		}
		cpSync += time.Since(t0)

		b.StopTimer()
		for _, d := range []string{"ours", "cp"} {
			if err := s.Remove(d); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(ours.Milliseconds())/float64(b.N), "ms-ours/op")
	b.ReportMetric(float64(cp.Milliseconds())/float64(b.N), "ms-cp-a/op")
	b.ReportMetric(float64(ours)/float64(cp), "x-cp-a")
	b.ReportMetric(float64(ours)/float64(cpSync), "x-cp-a-sync")
}
