// Package bench measures hostpath-provisioner on the loopback cluster.
// Every figure is reported next to a baseline measured in the same run, as
// a ratio, because absolute times on a shared 2-core machine vary. Run with
// `make bench`; the latest figures are in BENCHMARKS.md.
package bench

import (
	"testing"

	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }
