package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ClaimRequest returns the claim's storage request, or nil when it has none.
func ClaimRequest(claim *corev1.PersistentVolumeClaim) *resource.Quantity {
	q, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return nil
	}
	return &q
}

// ValidateClaimSize checks the storage request against the class's
// minSize/maxSize and the namespace's hostpath.dev/max-size annotation.
func ValidateClaimSize(claim *corev1.PersistentVolumeClaim, class *ClassParameters, namespaceAnnotations map[string]string) field.ErrorList {
	fp := field.NewPath("spec", "resources", "requests").Key(string(corev1.ResourceStorage))
	req := ClaimRequest(claim)
	if req == nil {
		return field.ErrorList{field.Required(fp, "a size is required, for example storage: 1Gi")}
	}
	if req.Sign() <= 0 {
		return field.ErrorList{field.Invalid(fp, req.String(), "must be larger than zero")}
	}
	var errs field.ErrorList
	if class != nil && class.MinSize != nil && req.Cmp(*class.MinSize) < 0 {
		errs = append(errs, field.Invalid(fp, req.String(),
			fmt.Sprintf("must be at least %s (StorageClass parameter %s)", class.MinSize.String(), ParamMinSize)))
	}
	if class != nil && class.MaxSize != nil && req.Cmp(*class.MaxSize) > 0 {
		errs = append(errs, field.Invalid(fp, req.String(),
			fmt.Sprintf("must be at most %s (StorageClass parameter %s)", class.MaxSize.String(), ParamMaxSize)))
	}
	if v, ok := namespaceAnnotations[AnnNamespaceMaxSize]; ok {
		limit, err := resource.ParseQuantity(v)
		switch {
		case err != nil || limit.Sign() <= 0:
			errs = append(errs, field.Invalid(fp, req.String(),
				fmt.Sprintf("cannot be checked: the namespace annotation %s=%q is not a positive quantity; ask the cluster admin to fix it", AnnNamespaceMaxSize, v)))
		case req.Cmp(limit) > 0:
			errs = append(errs, field.Invalid(fp, req.String(),
				fmt.Sprintf("must be at most %s (namespace annotation %s)", limit.String(), AnnNamespaceMaxSize)))
		}
	}
	return errs
}

// ValidateClaimSpec checks the parts of a claim's spec a directory cannot
// serve. These fields are immutable, so they are only checked on create.
func ValidateClaimSpec(claim *corev1.PersistentVolumeClaim) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		errs = append(errs, field.NotSupported(spec.Child("volumeMode"), string(corev1.PersistentVolumeBlock),
			[]string{string(corev1.PersistentVolumeFilesystem)}))
	}
	errs = append(errs, validateDataSource(claim)...)
	if claim.Spec.Selector != nil {
		errs = append(errs, field.Forbidden(spec.Child("selector"),
			"a selector only matches pre-made volumes; dynamically provisioned hostpath volumes cannot satisfy it"))
	}
	return errs
}

// ClaimWarnings are non-fatal facts the user should know at admission.
func ClaimWarnings(claim *corev1.PersistentVolumeClaim) []string {
	var w []string
	for _, m := range claim.Spec.AccessModes {
		if m == corev1.ReadWriteMany || m == corev1.ReadOnlyMany {
			w = append(w, fmt.Sprintf("spec.accessModes: %s is allowed, but a hostpath volume lives on one node, so every pod using it will be scheduled to that node", m))
			break
		}
	}
	return w
}

// ValidateClaimAnnotations checks every hostpath.dev/ annotation on a claim:
// the key must be one we know (a typo would silently lose the user's intent,
// for example to keep their data) and the value must be valid.
func ValidateClaimAnnotations(annotations map[string]string) field.ErrorList {
	fp := field.NewPath("metadata", "annotations")
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		if strings.HasPrefix(k, Prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var errs field.ErrorList
	for _, k := range keys {
		switch {
		case k == AnnOnDelete:
			if _, err := ParseOnDelete(annotations[k], fp.Key(k)); err != nil {
				errs = append(errs, err)
			}
		case slices.Contains(ClaimAnnotations, k):
		default:
			errs = append(errs, field.Invalid(fp.Key(k), annotations[k], unknownKeyDetail("annotation", k, ClaimAnnotations)))
		}
	}
	return errs
}

// ClaimPath renders a claim's directory, relative to the base path.
func ClaimPath(pattern *PathPattern, pvName string, claim *corev1.PersistentVolumeClaim) (string, *field.Error) {
	p, err := pattern.Render(PatternData{
		PVName: pvName,
		PVC: PatternClaim{
			Namespace:   claim.Namespace,
			Name:        claim.Name,
			Labels:      claim.Labels,
			Annotations: claim.Annotations,
		},
	})
	if err != nil {
		return "", field.Invalid(field.NewPath("parameters").Key(ParamPathPattern), pattern.String(),
			fmt.Sprintf("for claim %s/%s: %v", claim.Namespace, claim.Name, err))
	}
	return p, nil
}
