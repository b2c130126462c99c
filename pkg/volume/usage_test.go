package volume

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/quota/quotatest"
)

func TestUsageCountsAllocatedBytesWithoutFollowingSymlinks(t *testing.T) {
	base := t.TempDir()
	outside := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "huge"), make([]byte, 4<<20), 0o644))
	vol := filepath.Join(base, "vol")
	must(t, os.MkdirAll(filepath.Join(vol, "a", "b"), 0o755))
	must(t, os.WriteFile(filepath.Join(vol, "a", "b", "f"), make([]byte, 1<<20), 0o644))
	must(t, os.Symlink(outside, filepath.Join(vol, "link")))
	s, err := Open(base)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := s.Usage("vol", 100)
	if err != nil || u.Truncated || u.Source != FromWalk {
		t.Fatalf("Usage = %+v, %v; want a complete walk", u, err)
	}
	if u.Used < 1<<20 || u.Used >= 4<<20 {
		t.Errorf("used = %d: want the 1MiB file counted and the 4MiB file behind the symlink not", u.Used)
	}
	if u, _ := s.Usage("vol", 2); !u.Truncated {
		t.Error("a walk past its bound must say it is truncated")
	}
}

func writeFile(t *testing.T, name string, size int) {
	t.Helper()
	if err := os.WriteFile(name, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
}

func syncfs(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
}

func TestUsageOnBtrfsComesFromTheQgroupWithoutAWalk(t *testing.T) {
	s, mnt := btrfsStore(t, true)
	if _, err := s.Create("ns/vol", 0o777, Owner{}, Limit{Bytes: 64 << 20, Mode: policy.QuotaRequired}); err != nil {
		t.Fatal(err)
	}
	// Many small files too, so that a walk bounded at one entry could not
	// have found the bytes.
	must(t, os.MkdirAll(filepath.Join(mnt, "ns/vol/a/b"), 0o755))
	for i := range 20 {
		writeFile(t, filepath.Join(mnt, "ns/vol/a/b", "f"+string(rune('a'+i))), 4096)
	}
	writeFile(t, filepath.Join(mnt, "ns/vol/a/big"), 3<<20)
	syncfs(t, mnt) // qgroup numbers move at a transaction commit

	u, err := s.Usage("ns/vol", 1)
	if err != nil {
		t.Fatal(err)
	}
	if u.Source != FromQgroup || u.Truncated {
		t.Fatalf("Usage = %+v: want the qgroup's number, not a walk", u)
	}
	if u.Used < 3<<20+20*4096 || u.Used > 8<<20 {
		t.Errorf("used = %d, want the 3 MiB file and 20 small ones (and a little metadata)", u.Used)
	}
	if u.Limit != 64<<20 {
		t.Errorf("limit = %d, want 64 MiB", u.Limit)
	}
	t.Logf("qgroup: %d bytes referenced, limit %d", u.Used, u.Limit)

	if err := s.Resize("ns/vol", 96<<20); err != nil {
		t.Fatal(err)
	}
	if u, err := s.Usage("ns/vol", 1); err != nil || u.Limit != 96<<20 {
		t.Errorf("after Resize: %+v, %v; want the new limit", u, err)
	}
}

func TestUsageOnBtrfsWalksWhereTheQgroupHasNoNumber(t *testing.T) {
	for _, tt := range []struct {
		name   string
		quotas bool
		mode   policy.QuotaMode
	}{
		{"quotas off", false, policy.QuotaAuto},
		{"a plain directory (quota: off)", true, policy.QuotaOff},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mnt := quotatest.MountBtrfs(t, tt.quotas)
			s, err := Open(mnt)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Create("vol", 0o777, Owner{}, Limit{Bytes: 64 << 20, Mode: tt.mode}); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(mnt, "vol/f"), 1<<20)
			syncfs(t, mnt)
			u, err := s.Usage("vol", 100)
			if err != nil || u.Source != FromWalk || u.Used < 1<<20 || u.Limit != 0 {
				t.Errorf("Usage = %+v, %v; want a walk that finds the 1 MiB", u, err)
			}
		})
	}
}
