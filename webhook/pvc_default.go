package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

// ClaimDefaulter gives class-less claims a StorageClass on CREATE. See the
// package documentation for how it works alongside Kubernetes' own
// DefaultStorageClass admission plugin.
type ClaimDefaulter struct {
	opts    Options
	lookup  *lookup
	decoder admission.Decoder
}

// Handle implements admission.Handler.
func (d *ClaimDefaulter) Handle(ctx context.Context, req admission.Request) admission.Response {
	logger := klog.FromContext(ctx)
	if req.Operation != admissionv1.Create || req.SubResource != "" {
		return admission.Allowed("only claim creation is defaulted")
	}
	var claim corev1.PersistentVolumeClaim
	if err := d.decoder.Decode(req, &claim); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding PersistentVolumeClaim: %w", err))
	}
	if claim.Namespace == "" {
		claim.Namespace = req.Namespace
	}
	if v, ok := claim.Annotations[policy.AnnBetaStorageClass]; ok {
		return admission.Allowed(fmt.Sprintf("the claim names StorageClass %q in the %s annotation", v, policy.AnnBetaStorageClass))
	}
	if claim.Spec.StorageClassName != nil && *claim.Spec.StorageClassName == "" {
		return admission.Allowed(`storageClassName "" asks for a pre-made volume without a class; left as is`)
	}
	if claim.Spec.StorageClassName != nil && ownsStorageClassName(claim.ManagedFields) {
		return admission.Allowed(fmt.Sprintf("the request sets storageClassName %q", *claim.Spec.StorageClassName))
	}

	if why := policy.PreMadeVolume(&claim); why != "" {
		if claim.Spec.StorageClassName != nil {
			return admission.Allowed(fmt.Sprintf("storageClassName %q was set by another admission step; a claim for a pre-made volume keeps it", *claim.Spec.StorageClassName))
		}
		return admission.Allowed("claim for a pre-made volume").WithWarnings(fmt.Sprintf(
			"spec.storageClassName left empty: %s, so the claim binds to that volume as it would without hostpath-provisioner; "+
				"a claim for a new hostpath volume sets spec.storageClassName and has neither spec.volumeName nor spec.selector", why))
	}

	nsAnn, err := d.lookup.namespaceAnnotations(ctx, claim.Namespace)
	if err != nil {
		// Without the namespace we cannot know its default; guessing could
		// give the claim the wrong class for good (storageClassName is
		// immutable once set). The DefaultClass reconciler assigns it later.
		logger.Error(err, "Cannot default the claim's StorageClass", "claim", klog.KRef(claim.Namespace, claim.Name))
		return admission.Allowed("namespace unreadable").WithWarnings(fmt.Sprintf(
			"hostpath-provisioner could not read namespace %s to choose a default StorageClass (%v); the class will be assigned shortly by the hostpath-provisioner controller", claim.Namespace, err))
	}
	nsClass := nsAnn[policy.AnnNamespaceDefaultClass]
	clusterDefault, err := d.lookup.clusterDefault(ctx)
	if err != nil {
		logger.Error(err, "Cannot find the cluster default StorageClass; defaulting without it")
	}

	if claim.Spec.StorageClassName == nil {
		return d.setClass(ctx, req, &claim, nsClass, clusterDefaultWarning(d.lookup, clusterDefault))
	}

	// The class was set by an earlier admission step, not by the requester.
	current := *claim.Spec.StorageClassName
	if clusterDefault == nil || clusterDefault.Name != current {
		return admission.Allowed(fmt.Sprintf("storageClassName %q was set by another admission step; left as is", current))
	}
	if nsClass != "" && nsClass != current {
		return d.setClass(ctx, req, &claim, nsClass, fmt.Sprintf(
			"Kubernetes' DefaultStorageClass admission plugin had set the cluster default StorageClass %q; the namespace annotation %s takes precedence",
			current, policy.AnnNamespaceDefaultClass))
	}
	if nsClass == "" && d.opts.DefaultClass != "" && d.opts.DefaultClass != current && !d.lookup.ours(clusterDefault) {
		return admission.Allowed("cluster default class kept").WithWarnings(fmt.Sprintf(
			"this claim got the cluster default StorageClass %q from Kubernetes' DefaultStorageClass admission plugin, which runs before admission webhooks, "+
				"so the hostpath default class %q was not applied; to get a hostpath volume set spec.storageClassName: %s, "+
				"or annotate the namespace with %s=%s", current, d.opts.DefaultClass, d.opts.DefaultClass, policy.AnnNamespaceDefaultClass, d.opts.DefaultClass))
	}
	return admission.Allowed(fmt.Sprintf("storageClassName %q is the cluster default", current))
}

// setClass patches spec.storageClassName to the namespace's class, else the
// provisioner default, and says in a warning which one and why. extra, when
// not empty, is one more warning.
func (d *ClaimDefaulter) setClass(ctx context.Context, req admission.Request, claim *corev1.PersistentVolumeClaim, nsClass, extra string) admission.Response {
	class, why := nsClass, fmt.Sprintf("from the annotation %s on namespace %s", policy.AnnNamespaceDefaultClass, claim.Namespace)
	if class == "" {
		class, why = d.opts.DefaultClass, "the hostpath-provisioner default (--default-class)"
	}
	if class == "" {
		return admission.Allowed("no default StorageClass is configured")
	}
	var warnings []string
	warnings = append(warnings, fmt.Sprintf("spec.storageClassName set to %q: %s", class, why))
	if extra != "" {
		warnings = append(warnings, extra)
	}
	sc, err := d.lookup.class(ctx, class)
	switch {
	case err != nil:
		klog.FromContext(ctx).Error(err, "Cannot check the default StorageClass", "class", class)
	case sc == nil:
		warnings = append(warnings, fmt.Sprintf("StorageClass %q does not exist; the claim stays Pending until it is created", class))
	}

	klog.FromContext(ctx).V(2).Info("Defaulted StorageClass", "claim", klog.KRef(claim.Namespace, claim.Name), "class", class, "why", why)
	// One field changes, so the patch is written, not computed: diffing the
	// whole encoded claim cost more than the rest of the review.
	// "add" sets the member whether or not it is present (RFC 6902 4.1).
	return admission.Patched("", jsonpatch.NewOperation("add", "/spec/storageClassName", class)).WithWarnings(warnings...)
}

// clusterDefaultWarning explains, for a claim that reached us class-less,
// why a cluster default class did not apply. That happens only when the
// DefaultStorageClass plugin is disabled or the class was marked default a
// moment ago; either way the user should know the cluster has two defaults.
func clusterDefaultWarning(l *lookup, clusterDefault *storagev1.StorageClass) string {
	if clusterDefault == nil || l.ours(clusterDefault) {
		return ""
	}
	return fmt.Sprintf("StorageClass %q is marked as the cluster default (%s), but this claim reached the hostpath webhook without a class, "+
		"so the DefaultStorageClass admission plugin did not run for it (disabled, or the class was marked default a moment ago); "+
		"normally that plugin runs before admission webhooks and gives class-less claims %q, so the hostpath default does not apply",
		clusterDefault.Name, policy.AnnIsDefaultClass, clusterDefault.Name)
}

// ownsStorageClassName reports whether a field manager of the request owns
// spec.storageClassName, that is whether the requester (not an admission
// plugin) set it. Without managedFields we cannot tell and assume the
// requester did, so we never override a choice a user may have made.
func ownsStorageClassName(entries []metav1.ManagedFieldsEntry) bool {
	if len(entries) == 0 {
		return true
	}
	for _, e := range entries {
		if e.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Spec map[string]json.RawMessage `json:"f:spec"`
		}
		if err := json.Unmarshal(e.FieldsV1.GetRawBytes(), &fields); err != nil {
			return true // unreadable: be conservative
		}
		if _, ok := fields.Spec["f:storageClassName"]; ok {
			return true
		}
	}
	return false
}
