// Package conformance runs the storage e2e suites of Kubernetes itself
// (test/e2e/storage/testsuites, through the External Storage driver) against
// hostpath-provisioner installed from dist/install.yaml on the loopback
// cluster. Nobody here wrote those specs. `make conformance` runs all of
// them, Serial and Slow included; `make test` runs the CI subset (see
// subsets). CONFORMANCE.md records the last full run and why each excluded
// spec is excluded; TestExclusionsAreDocumented keeps the two in step.
package conformance

import (
	"testing"

	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

func TestMain(m *testing.M) {
	framework.Main(m)
}
