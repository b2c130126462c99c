package volume

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"syscall"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

// Usage adds up the allocated bytes of the tree at rel without following
// symlinks, visiting at most maxEntries entries (truncated says the bound
// was hit and the figure is a lower bound).
func (s *Store) Usage(rel string, maxEntries int) (used int64, truncated bool, err error) {
	if err := policy.SafeRelPath(rel); err != nil {
		return 0, false, fmt.Errorf("volume path %q %w", rel, err)
	}
	root := s.root
	seen := 0
	var walk func(dir string) error
	walk = func(dir string) error {
		f, err := root.Open(dir)
		if err != nil {
			return err
		}
		defer f.Close()
		for {
			names, err := f.Readdirnames(1024)
			for _, n := range names {
				if seen >= maxEntries {
					truncated = true
					return nil
				}
				seen++
				p := path.Join(dir, n)
				fi, lerr := root.Lstat(p)
				if lerr != nil {
					continue // removed while walking
				}
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					used += st.Blocks * 512
				}
				if fi.IsDir() {
					if err := walk(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
						return err
					}
				}
			}
			if errors.Is(err, io.EOF) || (err == nil && len(names) == 0) {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	fi, err := root.Lstat(rel)
	if err != nil {
		return 0, false, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		used += st.Blocks * 512
	}
	return used, truncated, walk(rel)
}
