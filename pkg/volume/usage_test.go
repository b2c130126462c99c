package volume

import (
	"os"
	"path/filepath"
	"testing"
)

func TestUsageCountsAllocatedBytesWithoutFollowingSymlinks(t *testing.T) {
	base := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "huge"), make([]byte, 4<<20), 0o644)
	vol := filepath.Join(base, "vol")
	os.MkdirAll(filepath.Join(vol, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(vol, "a", "b", "f"), make([]byte, 1<<20), 0o644)
	os.Symlink(outside, filepath.Join(vol, "link"))
	s, err := Open(base)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	used, truncated, err := s.Usage("vol", 100)
	if err != nil || truncated {
		t.Fatalf("Walk: %v truncated=%v", err, truncated)
	}
	if used < 1<<20 || used >= 4<<20 {
		t.Errorf("used = %d: want the 1MiB file counted and the 4MiB file behind the symlink not", used)
	}
	if _, truncated, _ := s.Usage("vol", 2); !truncated {
		t.Error("a walk past its bound must say it is truncated")
	}
}
