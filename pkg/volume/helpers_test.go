package volume

import (
	"testing"

	"github.com/mazdermind/hostpath-provisioner/pkg/quota/quotatest"
)

// must stops the test when a setup step fails, so that no test runs on a
// tree it did not build.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// btrfsStore is a store on a fresh btrfs loop filesystem, with qgroups on or
// off, closed when the test ends; it returns the store and its mount point.
func btrfsStore(t *testing.T, quotas bool) (*Store, string) {
	t.Helper()
	mnt := quotatest.MountBtrfs(t, quotas)
	s, err := Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, mnt
}
