// Package e2e holds the user stories of hostpath-provisioner, proven against
// a real single-node cluster on loopback (see test/framework).
package e2e

import (
	"testing"

	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

func TestMain(m *testing.M) {
	framework.Main(m)
}
