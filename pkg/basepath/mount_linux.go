package basepath

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"
)

type dirID struct{ dev, ino uint64 }

func statDir(dir string) (dirID, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return dirID{}, &fs.PathError{Op: "stat", Path: dir, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return dirID{}, &fs.PathError{Op: "stat", Path: dir, Err: errors.New("not a directory")}
	}
	return dirID{dev: uint64(st.Dev), ino: st.Ino}, nil //nolint:unconvert // Dev is uint32 on some architectures
}

// checkMountpoint says whether dir is a filesystem of its own: its device
// differs from its parent's (a btrfs subvolume counts, as it is one to
// df and to quotas). The root of the parent's filesystem bound onto dir
// is not detected; a disk that did not mount is.
func checkMountpoint(dir string) error {
	d, err := statDir(dir)
	if err != nil {
		return err
	}
	p, err := statDir(filepath.Dir(dir))
	if err != nil {
		return err
	}
	if d.dev == p.dev {
		return fmt.Errorf("is not a mount point (it is on the same filesystem as %s) but mustBeMountpoint is set: mount its disk; nothing is provisioned into the directory underneath", filepath.Dir(dir))
	}
	return nil
}
