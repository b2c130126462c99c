package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/provisioner"
	"github.com/mazdermind/hostpath-provisioner/pkg/volume"
)

// Resizer grows a bound claim's volume when its request is raised (the API
// server only lets that happen for classes with allowVolumeExpansion): the
// quota limit where one is enforced, then the PV capacity, then the claim's
// status capacity. A directory needs no filesystem resize, so the pod keeps
// running and sees the new limit at once. Each node resizes its own volumes.
type Resizer struct {
	Client   client.Client
	Store    *volume.Store
	NodeName string
	Recorder record.EventRecorder
}

// SetupWithManager watches claims.
func (r *Resizer) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("resizer").For(&corev1.PersistentVolumeClaim{}).Complete(r)
}

// Reconcile resizes one claim's volume if its request exceeds its size.
func (r *Resizer) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var claim corev1.PersistentVolumeClaim
	if err := r.Client.Get(ctx, req.NamespacedName, &claim); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	request := policy.ClaimRequest(&claim)
	if claim.Spec.VolumeName == "" || claim.Status.Phase != corev1.ClaimBound || request == nil {
		return ctrl.Result{}, nil
	}
	var pv corev1.PersistentVolume
	if err := r.Client.Get(ctx, client.ObjectKey{Name: claim.Spec.VolumeName}, &pv); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !ours(&pv) || provisioner.NodeOf(&pv) != r.NodeName {
		return ctrl.Result{}, nil
	}
	current := pv.Spec.Capacity.Storage()
	if request.Cmp(*current) <= 0 {
		return ctrl.Result{}, r.syncStatus(ctx, &claim, *current)
	}
	// Growth must fit the node, like a new claim would have to.
	grow := request.DeepCopy()
	grow.Sub(*current)
	space, err := r.Store.Space()
	if err != nil {
		return ctrl.Result{}, err
	}
	if free := space.FreeQuantity(); grow.Cmp(*free) > 0 {
		r.Recorder.Eventf(&claim, corev1.EventTypeWarning, "VolumeResizeFailed",
			"cannot grow to %s on node %s: %s more is needed, %s has %s", request.String(), r.NodeName, grow.String(), r.Store.Base(), space)
		return ctrl.Result{}, nil
	}
	if pv.Annotations[policy.AnnQuota] != "" && pv.Annotations[policy.AnnQuota] != "none" {
		if err := r.Store.Resize(pv.Annotations[policy.AnnPath], request.Value()); err != nil {
			r.Recorder.Eventf(&claim, corev1.EventTypeWarning, "VolumeResizeFailed", "%v", err)
			return ctrl.Result{}, err
		}
	}
	patch := client.MergeFrom(pv.DeepCopy())
	pv.Spec.Capacity[corev1.ResourceStorage] = *request
	if err := r.Client.Patch(ctx, &pv, patch); err != nil {
		return ctrl.Result{}, fmt.Errorf("updating PV %s capacity: %w", pv.Name, err)
	}
	klog.FromContext(ctx).Info("Resized volume", "pv", pv.Name, "from", current.String(), "to", request.String())
	r.Recorder.Eventf(&claim, corev1.EventTypeNormal, "VolumeResizeSuccessful", "Volume %s grew from %s to %s on node %s",
		pv.Name, current.String(), request.String(), r.NodeName)
	return ctrl.Result{}, r.syncStatus(ctx, &claim, *request)
}

// syncStatus reports the volume's size in the claim's status, which is
// what `kubectl get pvc` shows as CAPACITY.
func (r *Resizer) syncStatus(ctx context.Context, claim *corev1.PersistentVolumeClaim, size resource.Quantity) error {
	if cur, ok := claim.Status.Capacity[corev1.ResourceStorage]; ok && cur.Cmp(size) == 0 {
		return nil
	}
	patch := client.MergeFrom(claim.DeepCopy())
	if claim.Status.Capacity == nil {
		claim.Status.Capacity = corev1.ResourceList{}
	}
	claim.Status.Capacity[corev1.ResourceStorage] = size
	if err := r.Client.Status().Patch(ctx, claim, patch); err != nil {
		return fmt.Errorf("updating claim %s/%s status capacity: %w", claim.Namespace, claim.Name, err)
	}
	return nil
}
