package webhook

import (
	"context"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

// ClaimValidator checks claims of our classes against pkg/policy. It is an
// admission.Validator, served by claimValidatorWebhook.
type ClaimValidator struct {
	lookup *lookup
}

// claimValidatorWebhook is the ClaimValidator as the webhook server runs it.
func claimValidatorWebhook(scheme *runtime.Scheme, lk *lookup) *admission.Webhook {
	return validatingWebhook[corev1.PersistentVolumeClaim](scheme, &ClaimValidator{lookup: lk}, "claims")
}

// ValidateCreate implements admission.Validator.
func (v *ClaimValidator) ValidateCreate(ctx context.Context, claim *corev1.PersistentVolumeClaim) (admission.Warnings, error) {
	name, class, notOurs, warnings := v.ourClass(ctx, claim)
	if class == nil {
		return allow(ctx, notOurs, warnings...)
	}
	params, classErrs := policy.ValidateStorageClass(class, v.lookup.basePaths)
	if len(classErrs) > 0 {
		return nil, fmt.Errorf("StorageClass %q is invalid, so no claim of it can be provisioned; ask the cluster admin to re-create it: %s",
			name, classErrs.ToAggregate().Error())
	}
	nsAnn, warn := v.namespaceAnnotations(ctx, claim.Namespace)
	warnings = append(warnings, warn...)
	source, warn := v.cloneSource(ctx, claim)
	warnings = append(warnings, warn...)
	// The PV name is left to policy: the one the PV will get.
	_, errs, warn := policy.ValidateNewClaim(claim, policy.ClaimContext{
		Class: params, ClassName: name, NamespaceAnnotations: nsAnn, Source: source,
	})
	warnings = append(warnings, warn...)
	return v.verdict(ctx, claim, admissionv1.Create, name, errs, warnings)
}

// ValidateUpdate implements admission.Validator.
func (v *ClaimValidator) ValidateUpdate(ctx context.Context, old, claim *corev1.PersistentVolumeClaim) (admission.Warnings, error) {
	name, class, notOurs, warnings := v.ourClass(ctx, claim)
	if class == nil {
		return allow(ctx, notOurs, warnings...)
	}
	c := policy.ClaimContext{ClassName: name}
	if policy.RequestChanged(old, claim) {
		// Only the size rules need the class, the namespace and the
		// volume; an invalid class was reported when it was made, and
		// its claims' growth is refused by the resizer.
		if params, classErrs := policy.ValidateStorageClass(class, v.lookup.basePaths); len(classErrs) == 0 {
			c.Class = params
		}
		var warn []string
		c.NamespaceAnnotations, warn = v.namespaceAnnotations(ctx, claim.Namespace)
		warnings = append(warnings, warn...)
		c.VolumeQuota = v.volumeQuota(ctx, claim)
	}
	errs, warn := policy.ValidateClaimUpdate(old, claim, c)
	warnings = append(warnings, warn...)
	return v.verdict(ctx, claim, admissionv1.Update, name, errs, warnings)
}

// ValidateDelete implements admission.Validator. validatingWebhook allows
// a DELETE without calling it.
func (v *ClaimValidator) ValidateDelete(context.Context, *corev1.PersistentVolumeClaim) (admission.Warnings, error) {
	return nil, nil
}

// ourClass returns the claim's StorageClass and its name when the class is
// ours. Otherwise the class is nil and notOurs says why the claim is not
// checked, with a warning when the class cannot be read.
func (v *ClaimValidator) ourClass(ctx context.Context, claim *corev1.PersistentVolumeClaim) (name string, class *storagev1.StorageClass, notOurs string, warnings []string) {
	if claim.Namespace == "" {
		req, _ := admission.RequestFromContext(ctx)
		claim.Namespace = req.Namespace
	}
	name, _ = policy.ClaimClassName(claim)
	if name == "" {
		return "", nil, "the claim has no StorageClass; not a hostpath claim", nil
	}
	class, err := v.lookup.class(ctx, name)
	if err != nil {
		klog.FromContext(ctx).Error(err, "Cannot validate claim", "claim", klog.KRef(claim.Namespace, claim.Name))
		return name, nil, "StorageClass unreadable", []string{fmt.Sprintf(
			"hostpath-provisioner could not check this claim (%v); it will be checked again when the volume is provisioned", err)}
	}
	if class == nil {
		return name, nil, fmt.Sprintf("StorageClass %q does not exist; not ours to check", name), nil
	}
	if !v.lookup.ours(class) {
		return name, nil, fmt.Sprintf("StorageClass %q belongs to provisioner %q", name, class.Provisioner), nil
	}
	return name, class, "", nil
}

// verdict admits the claim, or refuses it as Invalid (422) with the field
// errors as causes, so kubectl prints one line per problem, each naming
// field, value and what is allowed, just as for the API server's own
// validation. The warnings go with either answer.
func (v *ClaimValidator) verdict(ctx context.Context, claim *corev1.PersistentVolumeClaim, op admissionv1.Operation, className string, errs field.ErrorList, warnings []string) (admission.Warnings, error) {
	if len(errs) > 0 {
		klog.FromContext(ctx).V(2).Info("Denied claim", "claim", klog.KRef(claim.Namespace, claim.Name), "operation", op, "errors", errs.ToAggregate().Error())
		return warnings, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim").GroupKind(), claimName(claim), errs)
	}
	return allow(ctx, fmt.Sprintf("valid claim of StorageClass %q", className), warnings...)
}

// namespaceAnnotations fails open: the namespace's max-size is enforced
// again at provisioning.
func (v *ClaimValidator) namespaceAnnotations(ctx context.Context, ns string) (map[string]string, []string) {
	ann, err := v.lookup.namespaceAnnotations(ctx, ns)
	if err != nil {
		klog.FromContext(ctx).Error(err, "Cannot check the namespace size limit")
		return nil, []string{fmt.Sprintf("hostpath-provisioner could not check the %s limit of namespace %s (%v); it is checked again at provisioning",
			policy.AnnNamespaceMaxSize, ns, err)}
	}
	return ann, nil
}

func claimName(claim *corev1.PersistentVolumeClaim) string {
	if claim.Name != "" {
		return claim.Name
	}
	return claim.GenerateName
}

// cloneSource reads a clone's source claim. A source that does not exist
// yet is a warning, not a refusal: like any clone in Kubernetes, the claim
// waits until its source appears, and the provisioner checks it then.
func (v *ClaimValidator) cloneSource(ctx context.Context, claim *corev1.PersistentVolumeClaim) (*corev1.PersistentVolumeClaim, []string) {
	name := policy.CloneSource(claim)
	if name == "" {
		return nil, nil
	}
	source, err := v.lookup.claim(ctx, claim.Namespace, name)
	switch {
	case err != nil:
		return nil, []string{fmt.Sprintf("hostpath-provisioner could not read the source claim %s (%v); it will be checked again when the volume is provisioned", name, err)}
	case source == nil:
		return nil, []string{fmt.Sprintf("the source claim %s does not exist yet in namespace %s; this claim stays Pending until it does", name, claim.Namespace)}
	}
	return source, nil
}

// volumeQuota is how the size of the claim's volume is enforced (the PV's
// hostpath.dev/quota), or "" when not known: the claim is not bound, the PV
// cannot be read, or the PV is not bound to this claim (a claim that only
// names a PV learns nothing from it). The resizer checks growth again.
func (v *ClaimValidator) volumeQuota(ctx context.Context, claim *corev1.PersistentVolumeClaim) string {
	if claim.Spec.VolumeName == "" {
		return ""
	}
	pv, err := v.lookup.volume(ctx, claim.Spec.VolumeName)
	if err != nil || pv == nil {
		return ""
	}
	ref := pv.Spec.ClaimRef
	if ref == nil || ref.Namespace != claim.Namespace || ref.Name != claim.Name || ref.UID != claim.UID {
		return ""
	}
	return pv.Annotations[policy.AnnQuota]
}
