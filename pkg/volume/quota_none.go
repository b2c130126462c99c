package volume

import (
	"errors"
	"fmt"
	"os"

	"github.com/mazdermind/hostpath-provisioner/pkg/beneath"
	"github.com/mazdermind/hostpath-provisioner/pkg/quota"
)

// noBackend is a filesystem that cannot hold a volume to its size, or whose
// quotas the admin has not switched on: sizes are recorded on the PV, not
// enforced. The store asks it nothing for a new volume (quota "auto" goes
// without a limit, "required" is refused before anything is made).
type noBackend struct{ base *os.File }

var errNoQuota = errors.New("this filesystem does not enforce sizes")

func (noBackend) Kind() quota.Kind { return quota.None }

func (n noBackend) MakeDir(rel string) error { return beneath.Mkdir(n.base, rel, 0o700) }

func (noBackend) Limit(string, int64) error { return errNoQuota }

// SetLimit is asked for by a resize of a PV that says its size is enforced,
// made while this filesystem could enforce it (quotas since switched off,
// or the base path moved to another filesystem). The size cannot be held
// here, so the resize fails, saying so; a symlink on the way to the volume
// is refused first, as by every backend.
func (n noBackend) SetLimit(rel string, _ int64) error {
	return inDir(n.base, rel, func(int) error {
		return fmt.Errorf("the PV says its size is enforced, but %w now (quotas switched off, or the base path moved to another filesystem)", errNoQuota)
	})
}

func (noBackend) HasOwnLimit(string) (bool, error) { return false, nil }

func (noBackend) Release(int, string, string) (func() error, error) { return nil, nil }

func (noBackend) Reserved() (uint64, bool, error) { return 0, false, nil }

func (noBackend) Usage(*os.File) (Usage, bool, error) { return Usage{}, false, nil }
