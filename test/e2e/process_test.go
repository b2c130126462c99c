package e2e

import (
	"context"
	"testing"

	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// Short names for the framework's process helpers, used by every story.
var (
	startProvisioner  = framework.StartProvisioner
	provisionerBinary = framework.ProvisionerBinary
	freeAddr          = framework.FreeAddr
)

// ctxT is a short-hand for a test's context.
func ctxT(t testing.TB) context.Context { return t.Context() }
