package volume

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/beneath"
)

// The registry: how a volume is recognised on disk (see the package doc).
const (
	registryDir = ".hostpath-provisioner"
	volumesDir  = "volumes" // one entry per volume directory
	parentsDir  = "parents" // one entry per parent directory the store made
)

// maxEntry bounds what is read of an entry: a path and a PV name.
const maxEntry = 8 << 10

// entry is one registry file: the path it is about and, for a volume, its
// PV (empty when not known).
type entry struct {
	rel, pv string
}

func entryName(rel string) string {
	sum := sha256.Sum256([]byte(rel))
	return hex.EncodeToString(sum[:])
}

func (e entry) encode() string { return e.rel + "\n" + e.pv + "\n" }

func decodeEntry(b []byte) (entry, bool) {
	rel, rest, ok := strings.Cut(string(b), "\n")
	if !ok {
		return entry{}, false
	}
	return entry{rel: rel, pv: strings.TrimSuffix(rest, "\n")}, true
}

// pvOf is how messages name an entry's PV.
func (e entry) pvOf() string {
	if e.pv == "" {
		return "PV not recorded"
	}
	return "PV " + e.pv
}

// registry opens the registry's directory kind; with create it is made
// (0700, synced into the base path) when missing. Without create a missing
// registry is (nil, nil): nothing is registered.
func (s *Store) registry(kind string, create bool) (*os.File, error) {
	d, err := s.openDir(registryDir + "/" + kind)
	if errors.Is(err, fs.ErrNotExist) && create {
		for _, p := range []string{registryDir, registryDir + "/" + kind} {
			if err := beneath.Mkdir(s.dir, p, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return nil, fmt.Errorf("creating the registry: %w", err)
			}
		}
		if err := s.dir.Sync(); err != nil {
			return nil, fmt.Errorf("syncing the base path: %w", err)
		}
		if d, err = s.openDir(registryDir); err == nil {
			err = d.Sync()
			d.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("syncing the registry: %w", err)
		}
		d, err = s.openDir(registryDir + "/" + kind)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) && !create:
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("opening the registry: %w", err)
	}
	return d, nil
}

// readEntry reads the entry name of the registry directory d.
func readEntry(d *os.File, name string) (entry, bool, error) {
	fd, err := unix.Openat(int(d.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return entry{}, false, nil
	}
	if err != nil {
		return entry{}, false, fmt.Errorf("reading registry entry %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxEntry))
	if err != nil {
		return entry{}, false, fmt.Errorf("reading registry entry %s: %w", name, err)
	}
	e, ok := decodeEntry(b)
	return e, ok, nil
}

// entry is the registry's entry for rel, if it has one.
func (s *Store) entry(kind, rel string) (entry, bool, error) {
	d, err := s.registry(kind, false)
	if d == nil || err != nil {
		return entry{}, false, err
	}
	defer d.Close()
	e, ok, err := readEntry(d, entryName(rel))
	return e, ok && e.rel == rel, err
}

// registered says whether the registry has an entry of kind for rel.
func (s *Store) registered(kind, rel string) (bool, error) {
	_, ok, err := s.entry(kind, rel)
	return ok, err
}

// write makes e the entry of kind for e.rel, durably: a synced temporary
// file renamed over the entry, then the directory synced. An entry that
// already says the same is left as it is. fresh says there was none.
func (s *Store) write(kind string, e entry) (fresh bool, err error) {
	d, err := s.registry(kind, true)
	if err != nil {
		return false, err
	}
	defer d.Close()
	name := entryName(e.rel)
	old, ok, err := readEntry(d, name)
	if err != nil {
		return false, err
	}
	if ok && old == e {
		return false, nil
	}
	tmp := name + ".tmp"
	if err := unix.Unlinkat(int(d.Fd()), tmp, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return false, fmt.Errorf("registering %q: %w", e.rel, err)
	}
	f, err := beneath.CreateFile(d, tmp, os.O_WRONLY, 0o600)
	if err != nil {
		return false, fmt.Errorf("registering %q: %w", e.rel, err)
	}
	_, err = f.WriteString(e.encode())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = beneath.Rename(d, tmp, d, name, 0)
	}
	if err == nil {
		err = d.Sync()
	}
	if err != nil {
		_ = unix.Unlinkat(int(d.Fd()), tmp, 0)
		return false, fmt.Errorf("registering %q: %w", e.rel, err)
	}
	return !ok, nil
}

// unregister removes the entry of kind for rel; none is success.
func (s *Store) unregister(kind, rel string) error {
	d, err := s.registry(kind, false)
	if d == nil || err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Unlinkat(int(d.Fd()), entryName(rel), 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unregistering %q: %w", rel, err)
	}
	return d.Sync()
}

// registerVolume registers rel as a volume of PV pv. undo removes the
// entry again if this call made it (and does nothing if it was there).
func (s *Store) registerVolume(rel, pv string) (undo func(), err error) {
	fresh, err := s.write(volumesDir, entry{rel: rel, pv: pv})
	if err != nil {
		return nil, err
	}
	return func() {
		if fresh {
			_ = s.unregister(volumesDir, rel)
		}
	}, nil
}

// registerParent registers rel as a parent directory the store makes.
func (s *Store) registerParent(rel string) error {
	_, err := s.write(parentsDir, entry{rel: rel})
	return err
}

// volumes lists the registered volumes.
func (s *Store) volumes() ([]entry, error) {
	d, err := s.registry(volumesDir, false)
	if d == nil || err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("listing the registry: %w", err)
	}
	var list []entry
	for _, n := range names {
		if strings.HasSuffix(n, ".tmp") {
			continue
		}
		e, ok, err := readEntry(d, n)
		if err != nil {
			return nil, err
		}
		if ok && entryName(e.rel) == n {
			list = append(list, e)
		}
	}
	return list, nil
}

// refuseNesting refuses rel when one of its ancestors is a registered
// volume whose directory exists. A symlink on the way is refused too.
// Called with s.mu held.
func (s *Store) refuseNesting(rel string) error {
	for outer := range ancestors(rel) {
		e, ok, err := s.entry(volumesDir, outer)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		st, err := beneath.Lstat(s.dir, outer)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // a stale entry: its directory is gone
		case err != nil:
			return fmt.Errorf("inspecting the volume %q around %q: %w; touching nothing", outer, rel, err)
		case st.Mode&unix.S_IFMT == unix.S_IFDIR:
			return fmt.Errorf("volume path %q lies inside the volume %q (%s): %w", rel, outer, e.pvOf(), ErrNested)
		}
	}
	return nil
}

// refuseHolding refuses to remove or move rel when a registered volume
// lies inside it (left by an older version that let volumes nest): its
// directory exists, or its path no longer resolves cleanly, which says the
// owner of rel has moved it around. Called with s.mu held.
func (s *Store) refuseHolding(rel string) error {
	list, err := s.volumes()
	if err != nil {
		return err
	}
	for _, e := range list {
		if !strings.HasPrefix(e.rel, rel+"/") {
			continue
		}
		if _, err := beneath.Lstat(s.dir, e.rel); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%q holds the volume %q (%s): %w; touching nothing", rel, e.rel, e.pvOf(), ErrNested)
		}
	}
	return nil
}

// Register records rel as a volume of PV pv, as Create does before it
// makes the directory. It is idempotent; it is how volumes made by
// versions without a registry are adopted (the caller lists their PVs at
// start), so that they block nesting and are not pruned.
func (s *Store) Register(rel, pv string) error {
	if err := checkPath(rel); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.registerVolume(rel, pv)
	return err
}

// IsVolume says whether rel is registered as a volume (whether or not its
// directory still exists).
func (s *Store) IsVolume(rel string) (bool, error) {
	if err := checkPath(rel); err != nil {
		return false, err
	}
	return s.registered(volumesDir, rel)
}
