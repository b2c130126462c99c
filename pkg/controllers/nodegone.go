package controllers

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mazdermind/hostpath-provisioner/pkg/location"
)

// libFinalizer is the provisioning library's finalizer on PVs it manages.
const libFinalizer = "external-provisioner.volume.kubernetes.io/finalizer"

// NodeGone releases volumes stranded on a node that no longer exists: only
// that node's instance may delete its directory, so without this a Released
// PV with reclaim policy Delete would wait forever. After a grace period
// (a node may be re-registering) the lease holder records an Event saying
// where the uncleaned directory was, and deletes the PV. Retained volumes
// are never touched: they are the admin's to decide.
type NodeGone struct {
	Client      client.Client
	IsLeader    func() bool
	GracePeriod time.Duration
	Recorder    record.EventRecorder
	Now         func() time.Time

	mu        sync.Mutex
	firstSeen map[string]time.Time // PV name -> when its node was first seen missing
}

// SetupWithManager watches PVs; node deletions reach them through resync
// and the requeue below.
func (r *NodeGone) SetupWithManager(mgr ctrl.Manager) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	r.firstSeen = map[string]time.Time{}
	return ctrl.NewControllerManagedBy(mgr).Named("node-gone").For(&corev1.PersistentVolume{}).Complete(r)
}

// Reconcile releases one stranded volume once its grace period is over.
func (r *NodeGone) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var pv corev1.PersistentVolume
	if err := r.Client.Get(ctx, req.NamespacedName, &pv); err != nil {
		r.forget(req.Name)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !location.Ours(&pv) || pv.Status.Phase != corev1.VolumeReleased || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		r.forget(pv.Name)
		return ctrl.Result{}, nil
	}
	node := location.NodeOf(&pv)
	err := r.Client.Get(ctx, client.ObjectKey{Name: node}, &corev1.Node{})
	if err == nil {
		r.forget(pv.Name)
		return ctrl.Result{}, nil
	}
	if !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("reading node %s: %w", node, err)
	}
	if !r.IsLeader() {
		return ctrl.Result{RequeueAfter: r.GracePeriod}, nil
	}
	now := r.Now()
	r.mu.Lock()
	first, seen := r.firstSeen[pv.Name]
	if !seen {
		first = now
		r.firstSeen[pv.Name] = now
	}
	r.mu.Unlock()
	if wait := first.Add(r.GracePeriod).Sub(now); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}

	_, where := location.SourcePath(&pv)
	r.Recorder.Eventf(&pv, corev1.EventTypeWarning, "NodeGone",
		"Node %s no longer exists; releasing this volume without cleaning its directory %s on that node (it may still hold data if the machine comes back)", node, where)
	klog.FromContext(ctx).Info("Releasing volume of a node that is gone", "pv", pv.Name, "node", node, "path", where)

	if i := slices.Index(pv.Finalizers, libFinalizer); i >= 0 {
		patch := client.MergeFrom(pv.DeepCopy())
		pv.Finalizers = slices.Delete(pv.Finalizers, i, i+1)
		if err := r.Client.Patch(ctx, &pv, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("removing finalizer of %s: %w", pv.Name, err)
		}
	}
	if err := r.Client.Delete(ctx, &pv); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("deleting PV %s: %w", pv.Name, err)
	}
	r.forget(pv.Name)
	return ctrl.Result{}, nil
}

func (r *NodeGone) forget(name string) {
	r.mu.Lock()
	delete(r.firstSeen, name)
	r.mu.Unlock()
}
