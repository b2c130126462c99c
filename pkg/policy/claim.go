package policy

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ClaimContext is what the claim rules depend on besides the claim.
type ClaimContext struct {
	// Class is the parsed class parameters: ValidateStorageClass's result
	// when it reported no errors. ValidateNewClaim refuses a nil Class;
	// ValidateClaimUpdate then skips the class's rules (an invalid class is
	// reported where the class is validated).
	Class *ClassParameters
	// ClassName names the class in messages.
	ClassName string
	// NamespaceAnnotations are the annotations of the claim's namespace
	// (hostpath.dev/max-size).
	NamespaceAnnotations map[string]string
	// Source is the clone source (the claim CloneSource names) when known,
	// else nil; its rules are then checked when the volume is provisioned.
	Source *corev1.PersistentVolumeClaim
	// PVName renders the pathPattern. "" at admission: the name the PV
	// will get, "pvc-" and the claim's UID, is used.
	PVName string
	// VolumeQuota is the bound PV's hostpath.dev/quota ("btrfs", "project",
	// "none"), "" when not known; growth is then not checked against
	// quota: required.
	VolumeQuota string
}

// placeholderUID stands in for a claim's UID at admission when the request
// carries none; the API server sets metadata.uid before validating
// admission, so this only matters for hand-made requests.
const placeholderUID = "00000000-0000-0000-0000-000000000000"

func (c ClaimContext) pvName(claim *corev1.PersistentVolumeClaim) string {
	if c.PVName != "" {
		return c.PVName
	}
	if claim.UID != "" {
		return "pvc-" + string(claim.UID)
	}
	return "pvc-" + placeholderUID
}

// ValidateNewClaim applies every rule to a claim that is to be provisioned:
// its spec, its size, its hostpath.dev/ annotations, its directory (path,
// relative to the base path, valid only when errs is empty), its clone
// source when c.Source is given, and the warnings a user should see at
// admission. The webhook calls it at CREATE and the provisioner before it
// makes a directory, so both decide alike.
func ValidateNewClaim(claim *corev1.PersistentVolumeClaim, c ClaimContext) (path string, errs field.ErrorList, warnings []string) {
	if c.Class == nil {
		return "", field.ErrorList{field.InternalError(field.NewPath("spec", "storageClassName"),
			fmt.Errorf("the parameters of StorageClass %q are not known", c.ClassName))}, nil
	}
	errs = append(errs, validateClaimSpec(claim, field.NewPath("spec"))...)
	errs = append(errs, validateClaimSize(ClaimRequest(claim), c, requestPath())...)
	errs = append(errs, validateClaimAnnotations(claim.Annotations, field.NewPath("metadata", "annotations"))...)
	rel, perrs := claimPath(c.Class.Pattern, c.ClassName, c.pvName(claim), claim)
	errs = append(errs, perrs...)
	if c.Source != nil && CloneSource(claim) != "" {
		errs = append(errs, validateCloneOf(claim, c.Source)...)
	}
	if len(errs) > 0 {
		rel = ""
	}
	return rel, errs, claimWarnings(claim)
}

// ValidateClaimUpdate applies the rules to what an update of claim (from
// old) changes: our annotations when they changed, and the size when the
// request changed, growth included (class minSize/maxSize, the namespace
// hostpath.dev/max-size, and quota: required for a volume whose size is not
// enforced). What the claim already had is not checked again: refusing an
// update for an old problem would block binding and the removal of
// finalizers. A request lowered below the current one is the API server's
// to refuse. The webhook calls it at UPDATE and the resizer before it
// grows a volume.
func ValidateClaimUpdate(old, claim *corev1.PersistentVolumeClaim, c ClaimContext) (field.ErrorList, []string) {
	var errs field.ErrorList
	if !maps.Equal(ourAnnotations(old.Annotations), ourAnnotations(claim.Annotations)) {
		errs = append(errs, validateClaimAnnotations(claim.Annotations, field.NewPath("metadata", "annotations"))...)
	}
	if RequestChanged(old, claim) {
		fp := requestPath()
		errs = append(errs, validateClaimSize(ClaimRequest(claim), c, fp)...)
		gerrs, warnings := validateGrowthQuota(ClaimRequest(old), ClaimRequest(claim), c, fp)
		return append(errs, gerrs...), warnings
	}
	return errs, nil
}

// ClaimRequest returns the claim's storage request, or nil when it has none.
func ClaimRequest(claim *corev1.PersistentVolumeClaim) *resource.Quantity {
	q, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return nil
	}
	return &q
}

// RequestChanged reports whether an update changes the storage request, so
// a caller can skip reading what only the size rules need.
func RequestChanged(old, claim *corev1.PersistentVolumeClaim) bool {
	qa, qb := ClaimRequest(old), ClaimRequest(claim)
	if qa == nil || qb == nil {
		return qa != qb
	}
	return qa.Cmp(*qb) != 0
}

func requestPath() *field.Path {
	return field.NewPath("spec", "resources", "requests").Key(string(corev1.ResourceStorage))
}

// validateClaimSize checks a storage request against the class's
// minSize/maxSize and the namespace's hostpath.dev/max-size annotation.
func validateClaimSize(req *resource.Quantity, c ClaimContext, fp *field.Path) field.ErrorList {
	if req == nil {
		return field.ErrorList{field.Required(fp, "a size is required, for example storage: 1Gi")}
	}
	if req.Sign() <= 0 {
		return field.ErrorList{field.Invalid(fp, req.String(), "must be larger than zero")}
	}
	var errs field.ErrorList
	class := c.Class
	if class != nil && class.MinSize != nil && req.Cmp(*class.MinSize) < 0 {
		errs = append(errs, field.Invalid(fp, req.String(),
			fmt.Sprintf("must be at least %s (StorageClass parameter %s)", class.MinSize.String(), ParamMinSize)))
	}
	if class != nil && class.MaxSize != nil && req.Cmp(*class.MaxSize) > 0 {
		errs = append(errs, field.Invalid(fp, req.String(),
			fmt.Sprintf("must be at most %s (StorageClass parameter %s)", class.MaxSize.String(), ParamMaxSize)))
	}
	if v, ok := c.NamespaceAnnotations[AnnNamespaceMaxSize]; ok {
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

// validateGrowthQuota refuses to grow a volume whose size is not enforced
// when the class requires enforcement: the new size would be a number that
// nothing holds the volume to. Where the class allows that, it warns.
func validateGrowthQuota(old, req *resource.Quantity, c ClaimContext, fp *field.Path) (field.ErrorList, []string) {
	if c.Class == nil || c.VolumeQuota != "none" || old == nil || req == nil || req.Cmp(*old) <= 0 {
		return nil, nil
	}
	if c.Class.Quota != QuotaRequired {
		return nil, []string{fmt.Sprintf("%s: the size of this volume is not enforced (PV annotation %s=none), so growing it to %s changes the recorded size only",
			fp, AnnQuota, req.String())}
	}
	return field.ErrorList{field.Invalid(fp, req.String(), fmt.Sprintf(
		"cannot grow from %s: the StorageClass %q parameter %s is %q, but the size of this volume is not enforced (PV annotation %s=none); re-create the claim to get an enforced volume",
		old.String(), c.ClassName, ParamQuota, QuotaRequired, AnnQuota))}, nil
}

// validateClaimSpec checks the parts of a claim's spec a directory cannot
// serve. These fields are immutable, so they are only checked on create.
func validateClaimSpec(claim *corev1.PersistentVolumeClaim, spec *field.Path) field.ErrorList {
	var errs field.ErrorList
	if claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		errs = append(errs, field.NotSupported(spec.Child("volumeMode"), string(corev1.PersistentVolumeBlock),
			[]string{string(corev1.PersistentVolumeFilesystem)}))
	}
	return append(errs, validateDataSource(claim, spec)...)
}

// claimWarnings are non-fatal facts the user should know at admission.
func claimWarnings(claim *corev1.PersistentVolumeClaim) []string {
	var w []string
	if claim.Spec.Selector != nil {
		// Kubernetes lets such a claim bind to a pre-made volume of its
		// class whose labels match; refusing it would break that.
		w = append(w, "spec.selector: a selector only matches pre-made PersistentVolumes of this class; "+
			"hostpath-provisioner does not provision for a claim with a selector, so it stays Pending until a matching volume exists")
	}
	if kind := Populator(claim); kind != "" {
		w = append(w, fmt.Sprintf("spec.dataSourceRef: %s is filled by its volume populator, not by hostpath-provisioner: "+
			"the populator provisions a volume of this class for itself and binds it to this claim, which stays Pending until then "+
			"(and for good if no populator for that kind is installed)", kind))
	}
	for _, m := range claim.Spec.AccessModes {
		if m == corev1.ReadWriteMany || m == corev1.ReadOnlyMany {
			w = append(w, fmt.Sprintf("spec.accessModes: %s is allowed, but a hostpath volume lives on one node, so every pod using it will be scheduled to that node", m))
			break
		}
	}
	return w
}

// validateClaimAnnotations checks every hostpath.dev/ annotation on a claim:
// the key must be one we know (a typo would silently lose the user's intent,
// for example to keep their data) and the value must be valid.
func validateClaimAnnotations(annotations map[string]string, fp *field.Path) field.ErrorList {
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

// ourAnnotations are the hostpath.dev/ annotations among ann.
func ourAnnotations(ann map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range ann {
		if strings.HasPrefix(k, Prefix) {
			out[k] = v
		}
	}
	return out
}
