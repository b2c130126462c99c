package copytree

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCopyDataKeepsHolesWhicheverWayItCopies(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("data"), 1<<18) // 1 MiB
	for _, off := range []int64{0, 16 << 20} {
		if _, err := f.WriteAt(data, off); err != nil {
			t.Fatal(err)
		}
	}
	must(t, f.Truncate(40<<20)) // and a trailing hole
	f.Close()
	want, _ := os.ReadFile(src)

	tests := []struct {
		name                     string
		tryReflink, tryCopyRange bool
	}{
		{"with every fast path allowed", true, true},
		{"with copy_file_range only", false, true},
		{"with plain reads and writes", false, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := unix.Open(src, unix.O_RDONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(in)
			dst := filepath.Join(dir, fmt.Sprint("dst", i))
			out, err := unix.Open(dst, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(out)
			var st unix.Stat_t
			must(t, unix.Fstat(in, &st))
			c := &copier{tryReflink: tt.tryReflink, tryCopyRange: tt.tryCopyRange, report: &reporter{}}
			if err := c.copyData(in, out, &st); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(dst)
			if !bytes.Equal(got, want) {
				t.Errorf("content differs (%d bytes, want %d)", len(got), len(want))
			}
			var dstSt unix.Stat_t
			must(t, unix.Stat(dst, &dstSt))
			if dstSt.Blocks*512 > 4<<20 {
				t.Errorf("the copy allocates %d bytes for 2 MiB of data", dstSt.Blocks*512)
			}
			if c.report.p.Copied.Bytes != st.Size {
				t.Errorf("progress counted %d bytes, want %d", c.report.p.Copied.Bytes, st.Size)
			}
		})
	}
}
