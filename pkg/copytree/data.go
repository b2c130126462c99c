package copytree

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// copyData copies the data of in to out. It shares extents where it can
// and otherwise copies only the data regions, so holes stay holes.
func (c *copier) copyData(in, out int, st *unix.Stat_t) error {
	size := st.Size
	if size == 0 {
		return nil
	}
	if c.tryReflink {
		err := unix.IoctlFileClone(out, in)
		if err == nil {
			c.report.p.Copied.Bytes += size
			return nil
		}
		if notSupported(err) && !errors.Is(err, unix.EINVAL) {
			c.tryReflink = false
		}
		// Other failures (EINVAL: btrfs will not share between a nodatacow
		// file and a normal one) fall back for this file only; a real
		// problem such as a full disk shows again below.
	}
	// Progress counts holes as done once the copy has passed them.
	accounted, end := int64(0), int64(0)
	// A file with as many blocks as bytes has no holes worth two lseeks.
	sparse := st.Blocks*512 < size
	for off := int64(0); off < size; {
		start, stop := off, size
		if sparse {
			var err error
			if start, stop, err = dataRegion(in, off, size); err != nil {
				return err
			}
			if start >= size {
				break
			}
		}
		n, err := c.copyRange(in, out, start, stop)
		end = start + n
		c.report.p.Copied.Bytes += end - accounted
		accounted = end
		if err != nil {
			return err
		}
		if end < stop {
			break // the source shrank while we copied
		}
		off = stop
		c.report.tick()
	}
	c.report.p.Copied.Bytes += size - accounted
	if end < size {
		// A trailing hole, or a source that shrank: the copy still has the
		// size the source had when opened.
		return unix.Ftruncate(out, size)
	}
	return nil
}

// dataRegion finds the first data region at or after off: [start, stop).
// start is size when only a hole remains.
func dataRegion(fd int, off, size int64) (start, stop int64, err error) {
	start, err = unix.Seek(fd, off, unix.SEEK_DATA)
	switch {
	case errors.Is(err, unix.ENXIO):
		return size, size, nil
	case errors.Is(err, unix.EINVAL):
		return off, size, nil // the filesystem cannot tell holes: all data
	case err != nil:
		return 0, 0, fmt.Errorf("finding data: %w", err)
	}
	stop, err = unix.Seek(fd, start, unix.SEEK_HOLE)
	if err != nil {
		return 0, 0, fmt.Errorf("finding a hole: %w", err)
	}
	return start, min(stop, size), nil
}

// copyRange copies [start, stop) of in to the same offsets of out and
// returns how much it copied (less only when the source got shorter).
func (c *copier) copyRange(in, out int, start, stop int64) (int64, error) {
	pos := start
	for pos < stop {
		if c.tryCopyRange {
			roff, woff := pos, pos
			n, err := unix.CopyFileRange(in, &roff, out, &woff, int(min(stop-pos, 1<<30)), 0)
			if err == nil {
				if n == 0 {
					break
				}
				pos += int64(n)
				continue
			}
			if !notSupported(err) {
				return pos - start, err
			}
			c.tryCopyRange = false
		}
		if c.buf == nil {
			c.buf = make([]byte, 1<<20)
		}
		n, err := unix.Pread(in, c.buf[:min(int64(len(c.buf)), stop-pos)], pos)
		if err != nil {
			return pos - start, err
		}
		if n == 0 {
			break
		}
		if err := pwriteAll(out, c.buf[:n], pos); err != nil {
			return pos - start, err
		}
		pos += int64(n)
	}
	return pos - start, nil
}

func pwriteAll(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// notSupported tells errors that mean "not here" (this filesystem, this
// pair of filesystems, this kernel) from real failures.
func notSupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EXDEV) ||
		errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS)
}
