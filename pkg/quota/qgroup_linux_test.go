package quota

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/quota/quotatest"
)

// The expected numbers come from compiling linux/btrfs.h and
// linux/btrfs_tree.h on amd64 and printing sizeof, offsetof and the macros.
func TestQgroupReadoutStructuresMatchTheKernelHeaders(t *testing.T) {
	checks := []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof(struct btrfs_ioctl_search_key)", unsafe.Sizeof(treeSearchKey{}), 104},
		{"sizeof(struct btrfs_ioctl_search_args)", unsafe.Sizeof(treeSearchArgs{}), 4096},
		{"sizeof(struct btrfs_ioctl_ino_lookup_args)", unsafe.Sizeof(inoLookupArgs{}), 4096},
		{"offsetof(btrfs_ioctl_search_key, nr_items)", unsafe.Offsetof(treeSearchKey{}.NrItems), 64},
		{"BTRFS_IOC_TREE_SEARCH", iocTreeSearch, 0xd0009411},
		{"BTRFS_IOC_INO_LOOKUP", iocInoLookup, 0xd0009412},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
}

// searchResult builds a tree search buffer as the kernel fills it.
func searchResult(items ...treeItem) []byte {
	var buf []byte
	for _, it := range items {
		h := make([]byte, searchHeaderSize)
		ne := binary.NativeEndian
		ne.PutUint64(h[0:], it.TransID)
		ne.PutUint64(h[8:], it.Key.ObjectID)
		ne.PutUint64(h[16:], it.Key.Offset)
		ne.PutUint32(h[24:], uint32(it.Key.Type))
		ne.PutUint32(h[28:], uint32(len(it.Data)))
		buf = append(append(buf, h...), it.Data...)
	}
	return append(buf, make([]byte, 64)...) // the rest of the kernel's buffer
}

func leU64s(vs ...uint64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

func TestParseSearchResultSplitsHeadersAndItems(t *testing.T) {
	info := treeItem{TransID: 7, Key: treeKey{Type: qgroupInfoKey, Offset: 257}, Data: leU64s(9, 3<<20, 3<<20, 1<<20, 1<<20)}
	limit := treeItem{TransID: 8, Key: treeKey{Type: qgroupLimitKey, Offset: 257}, Data: leU64s(qgroupLimitMaxRfer, 10<<20, 0, 0, 0)}
	empty := treeItem{TransID: 9, Key: treeKey{ObjectID: math.MaxUint64, Type: 1, Offset: 2}, Data: []byte{}}
	buf := searchResult(info, limit, empty)

	got, err := parseSearchResult(buf, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d items, want 3", len(got))
	}
	for i, want := range []treeItem{info, limit, empty} {
		if got[i].TransID != want.TransID || got[i].Key != want.Key || string(got[i].Data) != string(want.Data) {
			t.Errorf("item %d = %+v, want %+v", i, got[i], want)
		}
	}
	qi, err := parseQgroupInfo(got[0].Data)
	if err != nil || qi != (qgroupInfo{Referenced: 3 << 20, Exclusive: 1 << 20}) {
		t.Errorf("parseQgroupInfo = %+v, %v", qi, err)
	}
	if l, ok, err := parseQgroupLimit(got[1].Data); err != nil || !ok || l != 10<<20 {
		t.Errorf("parseQgroupLimit = %d, %v, %v; want 10 MiB", l, ok, err)
	}
	if got, err := parseSearchResult(buf, 0); err != nil || len(got) != 0 {
		t.Errorf("no items: %v, %v", got, err)
	}
}

func TestParseSearchResultRefusesATruncatedBuffer(t *testing.T) {
	full := searchResult(treeItem{Key: treeKey{Type: qgroupInfoKey}, Data: leU64s(1, 2, 3, 4, 5)})
	tests := []struct {
		name string
		buf  []byte
		n    uint32
	}{
		{"more items claimed than the buffer holds", full[:searchHeaderSize+40], 2},
		{"header cut short", full[:20], 1},
		{"data cut short", full[:searchHeaderSize+39], 1},
		{"type beyond a byte", func() []byte {
			b := append([]byte(nil), full...)
			binary.NativeEndian.PutUint32(b[24:], 256)
			return b
		}(), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseSearchResult(tt.buf, tt.n); err == nil {
				t.Error("want an error")
			}
		})
	}
}

func TestQgroupItemsTooShortOrWithoutALimitFlag(t *testing.T) {
	if _, err := parseQgroupInfo(make([]byte, 39)); err == nil {
		t.Error("a 39-byte info item must be refused")
	}
	if _, _, err := parseQgroupLimit(make([]byte, 39)); err == nil {
		t.Error("a 39-byte limit item must be refused")
	}
	// Only max_excl set: there is no referenced-bytes limit to report.
	if l, ok, err := parseQgroupLimit(leU64s(1<<1, 0, 5<<20, 0, 0)); err != nil || ok || l != 0 {
		t.Errorf("parseQgroupLimit without MAX_RFER = %d, %v, %v; want no limit", l, ok, err)
	}
}

func TestTreeKeyNextCarriesIntoTypeAndObjectID(t *testing.T) {
	tests := []struct {
		k, want treeKey
		ok      bool
	}{
		{treeKey{1, 2, 3}, treeKey{1, 2, 4}, true},
		{treeKey{1, 2, math.MaxUint64}, treeKey{1, 3, 0}, true},
		{treeKey{1, math.MaxUint8, math.MaxUint64}, treeKey{2, 0, 0}, true},
		{treeKey{math.MaxUint64, math.MaxUint8, math.MaxUint64}, treeKey{math.MaxUint64, math.MaxUint8, math.MaxUint64}, false},
	}
	for _, tt := range tests {
		got, ok := tt.k.next()
		if got != tt.want || ok != tt.ok {
			t.Errorf("%+v.next() = %+v, %v; want %+v, %v", tt.k, got, ok, tt.want, tt.ok)
		}
		if ok && !got.after(tt.k) {
			t.Errorf("%+v must sort after %+v", got, tt.k)
		}
	}
}

func TestQgroupUsageAndLimitsOnARealFilesystem(t *testing.T) {
	mnt := quotatest.MountBtrfs(t, true)
	parent := mustOpenDir(t, mnt)
	for _, name := range []string{"a", "b"} {
		if err := CreateSubvolume(int(parent.Fd()), name); err != nil {
			t.Fatal(err)
		}
	}
	a, b := mustOpenDir(t, filepath.Join(mnt, "a")), mustOpenDir(t, filepath.Join(mnt, "b"))
	if err := SetLimit(int(a.Fd()), 10<<20); err != nil {
		t.Fatal(err)
	}
	if err := SetLimit(int(b.Fd()), 20<<20); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(mnt, "a", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeMiB(filepath.Join(mnt, "a", "sub", "data"), 3); err != nil {
		t.Fatal(err)
	}
	// Qgroup numbers change when a transaction commits.
	if err := unix.Syncfs(int(parent.Fd())); err != nil {
		t.Fatal(err)
	}

	ref, limit, err := QgroupUsage(int(a.Fd()))
	if err != nil || ref < 3<<20 || limit != 10<<20 {
		t.Errorf("QgroupUsage(a) = %d, %d, %v; want at least 3 MiB referenced, limit 10 MiB", ref, limit, err)
	}
	sub := mustOpenDir(t, filepath.Join(mnt, "a", "sub"))
	if r, l, err := QgroupUsage(int(sub.Fd())); err != nil || r != ref || l != limit {
		t.Errorf("QgroupUsage of a directory inside a = %d, %d, %v; want a's numbers %d, %d", r, l, err, ref, limit)
	}
	if ref, limit, err := QgroupUsage(int(b.Fd())); err != nil || ref >= 1<<20 || limit != 20<<20 {
		t.Errorf("QgroupUsage(b) = %d, %d, %v; want under 1 MiB referenced, limit 20 MiB", ref, limit, err)
	}
	if ref, limit, err := QgroupUsage(int(parent.Fd())); err != nil || limit != 0 || ref == 0 {
		t.Errorf("QgroupUsage(top level) = %d, %d, %v; want some use and no limit", ref, limit, err)
	}

	idA, idB := subvolumeIDT(t, a), subvolumeIDT(t, b)
	limits, err := QgroupLimits(int(parent.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if len(limits) != 2 || limits[idA] != 10<<20 || limits[idB] != 20<<20 {
		t.Errorf("QgroupLimits = %v; want exactly %d: 10 MiB and %d: 20 MiB", limits, idA, idB)
	}

	// A deleted subvolume's limit promises nothing any more, whether or not
	// its qgroup is still there.
	b.Close()
	if err := os.Remove(filepath.Join(mnt, "b")); err != nil {
		t.Fatal(err)
	}
	limits, err = QgroupLimits(int(parent.Fd()))
	if err != nil || len(limits) != 1 || limits[idA] != 10<<20 {
		t.Errorf("right after deleting b, QgroupLimits = %v, %v; want only %d: 10 MiB", limits, err, idA)
	}
	if err := unix.Syncfs(int(parent.Fd())); err != nil {
		t.Fatal(err)
	}
	limits, err = QgroupLimits(int(parent.Fd()))
	if err != nil || len(limits) != 1 || limits[idA] != 10<<20 {
		t.Errorf("after deleting b and a commit, QgroupLimits = %v, %v; want only %d: 10 MiB", limits, err, idA)
	}
}

func TestQgroupLimitsReadsPastOneSearchBuffer(t *testing.T) {
	mnt := quotatest.MountBtrfs(t, true)
	parent := mustOpenDir(t, mnt)
	// A limit item with its header is 72 bytes: 120 of them need three
	// searches of the 3992-byte buffer.
	const n = 120
	for i := range n {
		name := fmt.Sprintf("v%03d", i)
		if err := CreateSubvolume(int(parent.Fd()), name); err != nil {
			t.Fatal(err)
		}
		v, err := os.Open(filepath.Join(mnt, name))
		if err != nil {
			t.Fatal(err)
		}
		err = SetLimit(int(v.Fd()), uint64(i+1)<<20)
		v.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	limits, err := QgroupLimits(int(parent.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if len(limits) != n {
		t.Fatalf("QgroupLimits found %d limits, want %d", len(limits), n)
	}
	var sum uint64
	for _, l := range limits {
		sum += l
	}
	if want := uint64(n*(n+1)/2) << 20; sum != want {
		t.Errorf("sum of limits = %d, want %d", sum, want)
	}
}

func TestQgroupReadoutSaysWhenQuotasAreOff(t *testing.T) {
	mnt := quotatest.MountBtrfs(t, false)
	parent := mustOpenDir(t, mnt)
	if err := CreateSubvolume(int(parent.Fd()), "vol"); err != nil {
		t.Fatal(err)
	}
	vol := mustOpenDir(t, filepath.Join(mnt, "vol"))
	if _, _, err := QgroupUsage(int(vol.Fd())); !errors.Is(err, ErrQuotaDisabled) {
		t.Errorf("QgroupUsage: %v, want ErrQuotaDisabled", err)
	}
	if _, err := QgroupLimits(int(parent.Fd())); !errors.Is(err, ErrQuotaDisabled) {
		t.Errorf("QgroupLimits: %v, want ErrQuotaDisabled", err)
	}
}

func TestQgroupUsageOffBtrfsIsAnError(t *testing.T) {
	dir := mustOpenDir(t, t.TempDir())
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(dir.Fd()), &st); err != nil || statfsType(&st) == unix.BTRFS_SUPER_MAGIC {
		t.Skip("skipping: the temporary directory is on btrfs")
	}
	if _, _, err := QgroupUsage(int(dir.Fd())); err == nil || errors.Is(err, ErrQuotaDisabled) {
		t.Errorf("QgroupUsage on a non-btrfs directory: %v; want an error that is not ErrQuotaDisabled", err)
	}
}

func subvolumeIDT(t *testing.T, f *os.File) uint64 {
	t.Helper()
	id, err := subvolumeOf(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustOpenDir(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
