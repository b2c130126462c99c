package basepath

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/mazdermind/hostpath-provisioner/pkg/location"
	"github.com/mazdermind/hostpath-provisioner/pkg/volume"
)

// ErrUnavailable marks an error of a base path that cannot be used now
// (missing, not a mount point, not writable, no directory on this node):
// a claim of its classes may do better on another node.
var ErrUnavailable = errors.New("base path unavailable")

// UnavailableError says which base path cannot be used and why.
type UnavailableError struct {
	Name, Dir, Node string
	Err             error
}

func (e *UnavailableError) Error() string {
	if e.Dir == "" {
		return fmt.Sprintf("base path %q has no directory on node %s: %v", e.Name, e.Node, e.Err)
	}
	return fmt.Sprintf("base path %q (%s) on node %s: %v", e.Name, e.Dir, e.Node, e.Err)
}

func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// Set is this node's base paths, each with its store. A store is opened
// when first needed and checked at every use, so a disk mounted after the
// start is picked up and one that went away is noticed.
type Set struct {
	node    string
	entries []*entry
}

type entry struct {
	Resolved
	mu    sync.Mutex
	store *volume.Store
	// opened is how the directory looked when store was opened: a
	// different device, inode or mount now means something was mounted
	// over it (or unmounted), and the held store points at the wrong one.
	opened dirID
	// open is volume.Open, replaced in tests.
	open func(string) (*volume.Store, error)
}

// Open resolves cfg for node. Stores open lazily: a base path that is
// broken now fails only when it is used, with an error naming it.
func Open(cfg *Config, node string) (*Set, error) {
	rs, err := cfg.ForNode(node)
	if err != nil {
		return nil, err
	}
	s := &Set{node: node}
	for _, r := range rs {
		s.entries = append(s.entries, &entry{Resolved: r, open: volume.Open})
	}
	return s, nil
}

// Single is a Set of one store, named default: a process with only
// --base-path, and tests.
func Single(name string, store *volume.Store) *Set {
	e := &entry{Resolved: Resolved{Name: name, Dir: store.Base()}, store: store, open: volume.Open}
	e.opened, _ = statDir(store.Base())
	return &Set{entries: []*entry{e}}
}

// Names are the configured base path names, also those without a
// directory on this node: a class naming one of them is valid (it
// provisions on other nodes).
func (s *Set) Names() []string {
	out := make([]string, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.Name
	}
	return out
}

// Resolved lists the base paths as they are on this node.
func (s *Set) Resolved() []Resolved {
	out := make([]Resolved, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.Resolved
	}
	return out
}

// dirs are the directories of this node's base paths.
func (s *Set) dirs() []string {
	var out []string
	for _, e := range s.entries {
		if e.Dir != "" {
			out = append(out, e.Dir)
		}
	}
	return out
}

func (s *Set) entry(name string) (*entry, error) {
	for _, e := range s.entries {
		if e.Name == name {
			return e, nil
		}
	}
	return nil, fmt.Errorf("no base path is named %q; the configured ones are %v", name, s.Names())
}

// ForProvisioning returns the store of base path name, checked as a new
// volume needs it: present, the mount point it must be, writable.
func (s *Set) ForProvisioning(name string) (*volume.Store, error) {
	e, err := s.entry(name)
	if err != nil {
		return nil, err
	}
	st, err := s.use(e)
	if err != nil {
		return nil, err
	}
	if err := st.Writable(); err != nil {
		return nil, s.unavailable(e, err)
	}
	return st, nil
}

// ForVolume returns the store holding pv's directory and where in it the
// directory is (location.Resolve over this node's base paths), checked as
// for any work on an existing volume: present and the mount point it must
// be. It never hands out the directory underneath an unmounted disk.
func (s *Set) ForVolume(pv *corev1.PersistentVolume) (*volume.Store, location.Location, string, error) {
	loc, err := location.Resolve(pv, s.dirs())
	if err != nil {
		return nil, location.Location{}, "", err
	}
	for _, e := range s.entries {
		if e.Dir != "" && filepath.Clean(e.Dir) == loc.Base {
			st, err := s.use(e)
			return st, loc, e.Name, err
		}
	}
	return nil, location.Location{}, "", fmt.Errorf("PV %s: base path %s is not configured on node %s", pv.Name, loc.Base, s.node)
}

// Usage measures pv's directory (usage.Volumes).
func (s *Set) Usage(pv *corev1.PersistentVolume, maxEntries int) (volume.Usage, error) {
	st, loc, _, err := s.ForVolume(pv)
	if err != nil {
		return volume.Usage{}, err
	}
	return st.Usage(loc.Rel, maxEntries)
}

// Check is the readiness of base path name: usable and writable. A base
// path without a directory on this node has nothing to check.
func (s *Set) Check(name string) error {
	e, err := s.entry(name)
	if err != nil || e.Dir == "" {
		return err
	}
	_, err = s.ForProvisioning(name)
	return err
}

// Space reads base path name's free space for the metrics, without the
// write probe (a scrape must not write).
func (s *Set) Space(name string) (volume.Space, error) {
	e, err := s.entry(name)
	if err != nil {
		return volume.Space{}, err
	}
	st, err := s.use(e)
	if err != nil {
		return volume.Space{}, err
	}
	return st.Space()
}

// use returns e's store, opening it (again) when the directory is not the
// one it was opened on.
func (s *Set) use(e *entry) (*volume.Store, error) {
	if e.Dir == "" {
		return nil, s.unavailable(e, errors.New("it is not configured for this node (basePaths[].nodes sets it to \"\", and it has no path for other nodes)"))
	}
	if e.MustBeMountpoint {
		// Before anything is opened: an unmounted disk's empty directory
		// is never the store.
		if err := checkMountpoint(e.Dir); err != nil {
			return nil, s.unavailable(e, err)
		}
	}
	id, err := statDir(e.Dir)
	if err != nil {
		return nil, s.unavailable(e, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.store != nil && e.opened == id {
		return e.store, nil
	}
	st, err := e.open(e.Dir)
	if err != nil {
		return nil, s.unavailable(e, err)
	}
	// The old store is not closed: operations running on it (a copy, a
	// removal) keep their descriptor. A remount is rare; one descriptor
	// per remount is the price.
	e.store, e.opened = st, id
	return st, nil
}

func (s *Set) unavailable(e *entry, err error) error {
	return &UnavailableError{Name: e.Name, Dir: e.Dir, Node: s.node, Err: err}
}

// Close releases the stores opened last.
func (s *Set) Close() {
	for _, e := range s.entries {
		e.mu.Lock()
		if e.store != nil {
			_ = e.store.Close() // closing a directory descriptor reports nothing useful
			e.store = nil
		}
		e.mu.Unlock()
	}
}
