package webhook

import (
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Paths the handlers are served on; config/webhook points the Mutating- and
// ValidatingWebhookConfiguration at them.
const (
	MutatePVCPath            = "/mutate-pvc"
	ValidatePVCPath          = "/validate-pvc"
	ValidateStorageClassPath = "/validate-storageclass"
)

// Options configure the handlers.
type Options struct {
	// ProvisionerName is the StorageClass provisioner we serve (the legacy
	// name is always served too, see policy.IsOurProvisioner).
	ProvisionerName string
	// DefaultClass is given to class-less claims in namespaces without a
	// hostpath.dev/default-class annotation; "" gives them nothing.
	DefaultClass string
	// Namespace is the installation's namespace. The webhook configurations
	// exclude it (and kube-system) so the provisioner can always start;
	// requests from it that do arrive are handled like any other.
	Namespace string
	// BasePaths are the names of the base paths the process is configured
	// with (policy.DefaultBasePathName among them): a class's basePath
	// must name one.
	BasePaths []string
}

// SetupWithManager registers the three handlers on the manager's webhook
// server. StorageClasses and Namespaces are read from the manager's cache
// (the provisioner and the reconcilers watch them anyway), with a direct
// read as fallback for an object created a moment ago. An annotation
// changed a moment ago may be seen a few milliseconds late; the provisioner
// re-checks every limit when it provisions.
//
// The defaulter is a raw handler: its one-field JSON patch costs less than
// the typed defaulter's diff of the whole claim. The validators are
// controller-runtime typed validators (validatingWebhook).
func SetupWithManager(mgr ctrl.Manager, o Options) error {
	if o.ProvisionerName == "" {
		return fmt.Errorf("webhook: ProvisionerName must not be empty")
	}
	lk := &lookup{cache: mgr.GetClient(), api: mgr.GetAPIReader(), provisioner: o.ProvisionerName, basePaths: o.BasePaths}
	srv := mgr.GetWebhookServer()
	srv.Register(MutatePVCPath, &admission.Webhook{Handler: &ClaimDefaulter{opts: o, lookup: lk, decoder: admission.NewDecoder(mgr.GetScheme())}})
	srv.Register(ValidatePVCPath, claimValidatorWebhook(mgr.GetScheme(), lk))
	srv.Register(ValidateStorageClassPath, classValidatorWebhook(mgr.GetScheme(), o, lk))
	return nil
}
