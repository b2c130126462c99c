// Package failpoint lets crash tests kill the process at a named point, to
// prove that every step of provisioning and deletion converges after a
// restart. It is inert unless HOSTPATH_PROVISIONER_FAILPOINTS names points
// (comma separated): nothing in a normal installation sets it, and a point
// costs one map lookup on a nil map when unset.
package failpoint

import (
	"os"
	"strings"
	"syscall"
)

// EnvVar names the failpoints to arm.
const EnvVar = "HOSTPATH_PROVISIONER_FAILPOINTS"

// Points where a crash is interesting.
const (
	AfterMkdir     = "after-mkdir"      // directory made, PV not yet created
	AfterPVCreate  = "after-pv-create"  // PV created, claim not yet bound
	MidDelete      = "mid-delete"       // part of a volume's tree removed
	AfterArchive   = "after-archive"    // directory renamed, PV not yet deleted
	BeforeDeletePV = "before-delete-pv" // directory gone, PV still there
)

var armed = parse(os.Getenv(EnvVar))

func parse(v string) map[string]bool {
	if v == "" {
		return nil
	}
	m := map[string]bool{}
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			m[p] = true
		}
	}
	return m
}

// Armed reports whether the point is armed.
func Armed(name string) bool { return armed[name] }

// Crash kills the process with SIGKILL at an armed point, like the OOM
// killer or a power cut would: no deferred function, no flush, no cleanup.
func Crash(name string) {
	if armed[name] {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never continue past a crash point
	}
}
