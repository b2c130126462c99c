package basepath

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// dirID is what a directory is: its filesystem, inode and mount. The
// mount matters too: a read-only bind mount over a base path leaves the
// device and inode as they were, but the pods (whose hostPath the kubelet
// resolves anew) get the read-only one, so the store must as well.
type dirID struct{ dev, ino, mnt uint64 }

func statDir(dir string) (dirID, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, dir, 0, unix.STATX_TYPE|unix.STATX_INO|unix.STATX_MNT_ID, &st); err != nil {
		return dirID{}, &fs.PathError{Op: "stat", Path: dir, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return dirID{}, &fs.PathError{Op: "stat", Path: dir, Err: errors.New("not a directory")}
	}
	id := dirID{dev: unix.Mkdev(st.Dev_major, st.Dev_minor), ino: st.Ino}
	if st.Mask&unix.STATX_MNT_ID != 0 { // kernels before 5.8 do not say
		id.mnt = st.Mnt_id
	}
	return id, nil
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
