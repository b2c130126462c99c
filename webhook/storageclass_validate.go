package webhook

import (
	"context"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

// ClassValidator checks StorageClasses of our provisioner, and warns about
// default-class markings that change which class class-less claims get. It
// is an admission.Validator, served by classValidatorWebhook.
type ClassValidator struct {
	opts   Options
	lookup *lookup
}

// classValidatorWebhook is the ClassValidator as the webhook server runs it.
func classValidatorWebhook(scheme *runtime.Scheme, o Options, lk *lookup) *admission.Webhook {
	return validatingWebhook[storagev1.StorageClass](scheme, &ClassValidator{opts: o, lookup: lk}, "StorageClasses")
}

// ValidateCreate implements admission.Validator.
func (v *ClassValidator) ValidateCreate(ctx context.Context, class *storagev1.StorageClass) (admission.Warnings, error) {
	return v.validate(ctx, class, admissionv1.Create)
}

// ValidateUpdate implements admission.Validator.
func (v *ClassValidator) ValidateUpdate(ctx context.Context, _, class *storagev1.StorageClass) (admission.Warnings, error) {
	return v.validate(ctx, class, admissionv1.Update)
}

// ValidateDelete implements admission.Validator. validatingWebhook allows
// a DELETE without calling it.
func (v *ClassValidator) ValidateDelete(context.Context, *storagev1.StorageClass) (admission.Warnings, error) {
	return nil, nil
}

// validate checks class at op, CREATE or UPDATE.
func (v *ClassValidator) validate(ctx context.Context, class *storagev1.StorageClass, op admissionv1.Operation) (admission.Warnings, error) {
	var list storagev1.StorageClassList
	listErr := v.lookup.cache.List(ctx, &list)
	if listErr != nil {
		klog.FromContext(ctx).Error(listErr, "Cannot list StorageClasses")
	}
	warnings := v.defaultWarnings(class, list.Items, listErr)
	if !v.lookup.ours(class) {
		return allow(ctx, fmt.Sprintf("provisioner %q is not ours", class.Provisioner), warnings...)
	}

	// A new class is also checked against the classes of ours that exist:
	// their volumes and its own must never nest. Parameters are immutable,
	// so an update is checked as the class alone, as the provisioner does.
	var others []storagev1.StorageClass
	if op == admissionv1.Create {
		if listErr != nil {
			warnings = append(warnings, fmt.Sprintf(
				"hostpath-provisioner could not list the StorageClasses (%v), so it did not check whether this class's volumes could be inside another class's; the provisioner refuses such a volume when it would be made", listErr))
		}
		for _, o := range list.Items {
			if v.lookup.ours(&o) {
				others = append(others, o)
			}
		}
	}
	params, errs := policy.ValidateStorageClass(class, v.lookup.basePaths, others...)
	if class.AllowVolumeExpansion != nil && *class.AllowVolumeExpansion && params != nil && params.Quota == policy.QuotaOff {
		warnings = append(warnings, "allowVolumeExpansion: true with quota: off: growing a claim only changes its recorded size, nothing enforces it")
	}
	if len(errs) == 0 {
		return allow(ctx, "valid hostpath StorageClass", warnings...)
	}
	if op == admissionv1.Update {
		// Parameters, provisioner, reclaimPolicy and mountOptions are
		// immutable: refusing the update could not fix them, but it would
		// block removing finalizers and editing labels or annotations.
		return allow(ctx, "invalid class, but the update cannot make it worse", append(warnings,
			fmt.Sprintf("StorageClass %q is invalid and claims of it will be refused; these fields are immutable, delete and re-create the class: %s",
				class.Name, errs.ToAggregate().Error()))...)
	}
	klog.FromContext(ctx).V(2).Info("Denied StorageClass", "class", class.Name, "errors", errs.ToAggregate().Error())
	return warnings, apierrors.NewInvalid(storagev1.SchemeGroupVersion.WithKind("StorageClass").GroupKind(), class.Name, errs)
}

// defaultWarnings explains what marking a class default means for claims
// without a class, since Kubernetes' DefaultStorageClass admission plugin
// runs before our webhook and so takes precedence over --default-class.
// classes are the StorageClasses that exist, unless listing them failed.
func (v *ClassValidator) defaultWarnings(class *storagev1.StorageClass, classes []storagev1.StorageClass, listErr error) []string {
	if !policy.IsDefaultClass(class) {
		return nil
	}
	var warnings []string
	if !v.lookup.ours(class) && v.opts.DefaultClass != "" {
		warnings = append(warnings, fmt.Sprintf(
			"StorageClass %q is marked as the cluster default: Kubernetes' DefaultStorageClass admission plugin runs before admission webhooks and gives it to every claim without a class, "+
				"so the hostpath default class %q only applies in namespaces annotated %s",
			class.Name, v.opts.DefaultClass, policy.AnnNamespaceDefaultClass))
	}
	if listErr != nil {
		return warnings
	}
	for _, other := range classes {
		if other.Name != class.Name && policy.IsDefaultClass(&other) {
			warnings = append(warnings, fmt.Sprintf(
				"StorageClass %q is also marked as the cluster default; with several, Kubernetes uses the newest, remove %s from all but one",
				other.Name, policy.AnnIsDefaultClass))
		}
	}
	return warnings
}
