// Command hostpath-provisioner turns PersistentVolumeClaims into directories
// on the node it runs on, and serves the admission webhook that keeps bad
// claims out. The claim-to-directory path starts in app.Run, then
// pkg/provisioner (policy) and pkg/volume (the directory work).
package main

import (
	"os"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/mazdermind/hostpath-provisioner/cmd/hostpath-provisioner/app"
)

func main() {
	ctx := klog.NewContext(ctrl.SetupSignalHandler(), klog.Background())
	code := app.Main(ctx, os.Args[1:], os.LookupEnv, os.Stderr, app.Run)
	klog.Flush()
	os.Exit(code)
}
