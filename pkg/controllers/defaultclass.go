package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

// notLeaderRequeue is how soon a non-leader looks at a claim again: the
// lease may have moved to us in the meantime.
const notLeaderRequeue = 30 * time.Second

// DefaultClass gives a StorageClass to class-less claims that were created
// while the admission webhook was down (failurePolicy Ignore lets them
// through). The API server allows spec.storageClassName to change once from
// nil to a value (retroactive default class assignment, GA in 1.28), which
// is what makes this possible at all.
//
// Kube-controller-manager's PV controller does the same retroactive
// assignment with the cluster default class, whenever one is marked. To
// never race it for a claim (and never have the outcome depend on who comes
// first), this reconciler steps back whenever any class is marked default,
// ours included, and only logs that it did; the webhook is what applies
// namespace defaults over a cluster default, at admission.
//
// Only the lease holder acts, so instances on several nodes do not patch
// the same claim.
type DefaultClass struct {
	Client client.Client
	// DefaultClass is used in namespaces without hostpath.dev/default-class;
	// "" assigns nothing there.
	DefaultClass string
	// Namespace is the installation's namespace; like kube-system it is
	// excluded from the webhook, so it is excluded here too.
	Namespace string
	IsLeader  func() bool
	Recorder  record.EventRecorder
}

// SetupWithManager watches class-less, unbound claims only.
func (r *DefaultClass) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("default-class").
		For(&corev1.PersistentVolumeClaim{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			c, ok := o.(*corev1.PersistentVolumeClaim)
			return ok && r.wants(c)
		}))).
		Complete(r)
}

// wants reports whether a claim is one this reconciler should give a class.
func (r *DefaultClass) wants(c *corev1.PersistentVolumeClaim) bool {
	if _, set := policy.ClaimClassName(c); set {
		return false
	}
	// A claim for a pre-made volume (volumeName, selector) stays
	// class-less, as the webhook leaves it.
	return c.DeletionTimestamp == nil && policy.PreMadeVolume(c) == "" &&
		(c.Status.Phase == corev1.ClaimPending || c.Status.Phase == "") &&
		c.Namespace != "kube-system" && c.Namespace != r.Namespace
}

// Reconcile assigns the namespace's or the configured default class.
func (r *DefaultClass) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := klog.FromContext(ctx)
	var claim corev1.PersistentVolumeClaim
	if err := r.Client.Get(ctx, req.NamespacedName, &claim); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !r.wants(&claim) {
		return ctrl.Result{}, nil
	}
	if r.IsLeader != nil && !r.IsLeader() {
		return ctrl.Result{RequeueAfter: notLeaderRequeue}, nil
	}

	var classes storagev1.StorageClassList
	if err := r.Client.List(ctx, &classes); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing StorageClasses: %w", err)
	}
	if def := policy.ClusterDefaultClass(classes.Items); def != nil {
		logger.V(2).Info("Leaving class-less claim to kube-controller-manager, which assigns the cluster default class",
			"claim", klog.KObj(&claim), "clusterDefault", def.Name)
		return ctrl.Result{}, nil
	}

	var ns corev1.Namespace
	if err := r.Client.Get(ctx, client.ObjectKey{Name: claim.Namespace}, &ns); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("reading Namespace %s: %w", claim.Namespace, err)
	}
	class, why := ns.Annotations[policy.AnnNamespaceDefaultClass], fmt.Sprintf("the namespace annotation %s", policy.AnnNamespaceDefaultClass)
	if class == "" {
		class, why = r.DefaultClass, "the hostpath-provisioner default class"
	}
	if class == "" {
		return ctrl.Result{}, nil
	}

	// The optimistic lock makes a concurrent change (a user setting the
	// class, the claim being bound) a conflict and a retry, after which
	// wants() sees the new state, instead of us overwriting it.
	patch := client.MergeFromWithOptions(claim.DeepCopy(), client.MergeFromWithOptimisticLock{})
	claim.Spec.StorageClassName = &class
	if err := r.Client.Patch(ctx, &claim, patch); err != nil {
		return ctrl.Result{}, fmt.Errorf("setting storageClassName %q on claim %s: %w", class, klog.KObj(&claim), err)
	}
	logger.Info("Assigned default StorageClass to class-less claim", "claim", klog.KObj(&claim), "class", class, "why", why)
	if r.Recorder != nil {
		r.Recorder.Eventf(&claim, corev1.EventTypeNormal, "DefaultClassAssigned",
			"storageClassName set to %q (%s): the claim was created without a class while the admission webhook was unavailable", class, why)
	}
	return ctrl.Result{}, nil
}
