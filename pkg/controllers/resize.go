package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mazdermind/hostpath-provisioner/pkg/basepath"
	"github.com/mazdermind/hostpath-provisioner/pkg/beneath"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

// Resizer grows a bound claim's volume when its request is raised (the API
// server only lets that happen for classes with allowVolumeExpansion): the
// quota limit where one is enforced, then the claim's status capacity, then
// the PV capacity. A directory needs no filesystem resize, so the pod keeps
// running and sees the new limit at once. Each node resizes its own volumes.
//
// Growth is a changed claim, so it passes the same rules as admission does
// (policy.ValidateClaimUpdate: class minSize/maxSize, the namespace's
// max-size, quota: required): the webhook fails open, this does not.
//
// It speaks the resize status protocol Kubernetes defines for external
// resizers, which tools and users watch: status.allocatedResources is the
// size being worked towards, status.allocatedResourceStatuses says
// ControllerResizeInProgress while it is, and is cleared once the PV and
// status.capacity have the new size. Growth that cannot be done (a rule, a
// full disk) is ControllerResizeInfeasible with a Warning event, and the
// PV, the limit and status.capacity stay as they were; the user may then
// lower the request again, down to the current size, to recover.
type Resizer struct {
	Client   client.Client
	Stores   *basepath.Set
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
	pv, err := boundVolume(ctx, r.Client, r.Recorder, &claim, r.NodeName)
	if pv == nil || err != nil {
		return ctrl.Result{}, err
	}
	current := pv.Spec.Capacity.Storage()
	if request.Cmp(*current) <= 0 {
		return ctrl.Result{}, r.settle(ctx, &claim, *current)
	}
	if reason := r.refusal(ctx, &claim, pv, *current); reason != "" {
		return ctrl.Result{}, r.infeasible(ctx, &claim, *request, reason)
	}
	if err := r.setStatus(ctx, &claim, *request, corev1.PersistentVolumeClaimControllerResizeInProgress); err != nil {
		return ctrl.Result{}, err
	}
	// The directory must be where the PV says and reachable without a
	// symlink, even when only the recorded size changes: a volume whose
	// path was tampered with is not grown at all.
	store, loc, _, err := r.Stores.ForVolume(pv)
	if err == nil {
		err = store.Check(loc.Rel)
	}
	if err != nil {
		return ctrl.Result{}, r.infeasible(ctx, &claim, *request, err.Error())
	}
	if q := pv.Annotations[policy.AnnQuota]; q != "" && q != "none" {
		if err := store.Resize(loc.Rel, request.Value()); err != nil {
			if errors.Is(err, beneath.ErrSymlink) {
				// A swapped component: nothing was touched, and retrying
				// will not change that until an admin looks.
				return ctrl.Result{}, r.infeasible(ctx, &claim, *request, err.Error())
			}
			r.Recorder.Eventf(&claim, corev1.EventTypeWarning, "VolumeResizeFailed", "%v", err)
			return ctrl.Result{}, err
		}
	}
	// The volume has its new size now; the claim says so before the PV
	// does. Whoever sees the PV grown and then reads the claim (the
	// Kubernetes volume-expand suite does exactly that) must find the
	// resize finished, not still in progress. Should the PV patch fail, the
	// retry finds the PV short of the request and goes through it again.
	if err := r.settle(ctx, &claim, *request); err != nil {
		return ctrl.Result{}, err
	}
	patch := client.MergeFrom(pv.DeepCopy())
	pv.Spec.Capacity[corev1.ResourceStorage] = *request
	if err := r.Client.Patch(ctx, pv, patch); err != nil {
		return ctrl.Result{}, fmt.Errorf("updating PV %s capacity: %w", pv.Name, err)
	}
	klog.FromContext(ctx).Info("Resized volume", "pv", pv.Name, "from", current.String(), "to", request.String())
	r.Recorder.Eventf(&claim, corev1.EventTypeNormal, "VolumeResizeSuccessful", "Volume %s grew from %s to %s on node %s",
		pv.Name, current.String(), request.String(), r.NodeName)
	return ctrl.Result{}, nil
}

// refusal says why growing claim's volume from current to its request is
// not allowed or does not fit, or "".
func (r *Resizer) refusal(ctx context.Context, claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume, current resource.Quantity) string {
	var class storagev1.StorageClass
	if err := r.Client.Get(ctx, client.ObjectKey{Name: pv.Spec.StorageClassName}, &class); err != nil {
		return fmt.Sprintf("cannot read StorageClass %q to check the growth against its rules: %v", pv.Spec.StorageClassName, err)
	}
	params, errs := policy.ValidateStorageClass(&class, r.Stores.Names())
	if len(errs) > 0 {
		return fmt.Sprintf("StorageClass %s is invalid: %v", class.Name, errs.ToAggregate())
	}
	var ns corev1.Namespace
	if err := r.Client.Get(ctx, client.ObjectKey{Name: claim.Namespace}, &ns); err != nil {
		return fmt.Sprintf("cannot read namespace %s to check its %s: %v", claim.Namespace, policy.AnnNamespaceMaxSize, err)
	}
	// The volume's size is what the claim had before this growth.
	old := claim.DeepCopy()
	old.Spec.Resources.Requests[corev1.ResourceStorage] = current
	errs, _ = policy.ValidateClaimUpdate(old, claim, policy.ClaimContext{
		Class: params, ClassName: class.Name, NamespaceAnnotations: ns.Annotations,
		PVName: pv.Name, VolumeQuota: pv.Annotations[policy.AnnQuota],
	})
	if len(errs) > 0 {
		return errs.ToAggregate().Error()
	}
	grow := policy.ClaimRequest(claim).DeepCopy()
	grow.Sub(current)
	store, _, _, err := r.Stores.ForVolume(pv)
	if err != nil {
		return err.Error()
	}
	space, err := store.Space()
	if err != nil {
		return err.Error()
	}
	if free := space.FreeQuantity(); grow.Cmp(*free) > 0 {
		return fmt.Sprintf("cannot grow to %s on node %s: %s more is needed, %s has %s",
			policy.ClaimRequest(claim).String(), r.NodeName, grow.String(), store.Base(), space)
	}
	return ""
}

// infeasible reports growth that will not be done: once per requested size
// (the status says it while the request stays), so a claim that stays
// invalid does not repeat its event at every resync.
func (r *Resizer) infeasible(ctx context.Context, claim *corev1.PersistentVolumeClaim, request resource.Quantity, reason string) error {
	if statusIs(claim, request, corev1.PersistentVolumeClaimControllerResizeInfeasible) {
		return nil
	}
	r.Recorder.Eventf(claim, corev1.EventTypeWarning, "VolumeResizeFailed", "Not growing to %s: %s; the volume keeps %s. Lower the request again to recover",
		request.String(), reason, claim.Status.Capacity.Storage().String())
	return r.setStatus(ctx, claim, request, corev1.PersistentVolumeClaimControllerResizeInfeasible)
}

func statusIs(claim *corev1.PersistentVolumeClaim, size resource.Quantity, s corev1.ClaimResourceStatus) bool {
	alloc, ok := claim.Status.AllocatedResources[corev1.ResourceStorage]
	return ok && alloc.Cmp(size) == 0 && claim.Status.AllocatedResourceStatuses[corev1.ResourceStorage] == s
}

// setStatus records the size being worked towards and how it goes.
func (r *Resizer) setStatus(ctx context.Context, claim *corev1.PersistentVolumeClaim, size resource.Quantity, s corev1.ClaimResourceStatus) error {
	if statusIs(claim, size, s) {
		return nil
	}
	patch := client.MergeFrom(claim.DeepCopy())
	setStorage(&claim.Status.AllocatedResources, size)
	if claim.Status.AllocatedResourceStatuses == nil {
		claim.Status.AllocatedResourceStatuses = map[corev1.ResourceName]corev1.ClaimResourceStatus{}
	}
	claim.Status.AllocatedResourceStatuses[corev1.ResourceStorage] = s
	if err := r.Client.Status().Patch(ctx, claim, patch); err != nil {
		return fmt.Errorf("updating claim %s/%s resize status to %s: %w", claim.Namespace, claim.Name, s, err)
	}
	return nil
}

// settle reports the volume's size in the claim's status (what `kubectl
// get pvc` shows as CAPACITY) and ends any resize in progress or refused:
// the volume has size, and nothing more is being worked on.
func (r *Resizer) settle(ctx context.Context, claim *corev1.PersistentVolumeClaim, size resource.Quantity) error {
	_, resizing := claim.Status.AllocatedResourceStatuses[corev1.ResourceStorage]
	cur, ok := claim.Status.Capacity[corev1.ResourceStorage]
	alloc, hasAlloc := claim.Status.AllocatedResources[corev1.ResourceStorage]
	if ok && cur.Cmp(size) == 0 && !resizing && (!hasAlloc || alloc.Cmp(size) == 0) && !hasResizeCondition(claim) {
		return nil
	}
	patch := client.MergeFrom(claim.DeepCopy())
	setStorage(&claim.Status.Capacity, size)
	setStorage(&claim.Status.AllocatedResources, size)
	delete(claim.Status.AllocatedResourceStatuses, corev1.ResourceStorage)
	if len(claim.Status.AllocatedResourceStatuses) == 0 {
		claim.Status.AllocatedResourceStatuses = nil
	}
	var kept []corev1.PersistentVolumeClaimCondition
	for _, c := range claim.Status.Conditions {
		if !isResizeCondition(c.Type) {
			kept = append(kept, c)
		}
	}
	claim.Status.Conditions = kept
	if err := r.Client.Status().Patch(ctx, claim, patch); err != nil {
		return fmt.Errorf("updating claim %s/%s status capacity: %w", claim.Namespace, claim.Name, err)
	}
	return nil
}

// setStorage sets the storage quantity of a list that may be nil.
func setStorage(list *corev1.ResourceList, size resource.Quantity) {
	if *list == nil {
		*list = corev1.ResourceList{}
	}
	(*list)[corev1.ResourceStorage] = size
}

func hasResizeCondition(claim *corev1.PersistentVolumeClaim) bool {
	for _, c := range claim.Status.Conditions {
		if isResizeCondition(c.Type) {
			return true
		}
	}
	return false
}

func isResizeCondition(t corev1.PersistentVolumeClaimConditionType) bool {
	return t == corev1.PersistentVolumeClaimResizing || t == corev1.PersistentVolumeClaimFileSystemResizePending ||
		t == corev1.PersistentVolumeClaimControllerResizeError || t == corev1.PersistentVolumeClaimNodeResizeError
}
