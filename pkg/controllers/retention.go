// Package controllers holds the small reconcilers that complete what the
// provisioning library does not do.
package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

// RetentionSync carries a bound claim's hostpath.dev/on-delete annotation to
// its PV (annotation and reclaim policy), so "keep this data" can be decided
// at any time before the claim is deleted. Only the claim the PV is bound
// to decides (boundVolume). Each instance syncs the volumes of its own node
// only, so two instances never race on one PV.
type RetentionSync struct {
	Client   client.Client
	NodeName string
	Recorder record.EventRecorder
}

// SetupWithManager watches claims whose on-delete annotation or binding
// changed.
func (r *RetentionSync) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("retention-sync").
		For(&corev1.PersistentVolumeClaim{}, builder.WithPredicates(predicate.Funcs{
			UpdateFunc: func(e event.UpdateEvent) bool {
				o, n := e.ObjectOld.(*corev1.PersistentVolumeClaim), e.ObjectNew.(*corev1.PersistentVolumeClaim)
				return o.Annotations[policy.AnnOnDelete] != n.Annotations[policy.AnnOnDelete] || o.Spec.VolumeName != n.Spec.VolumeName
			},
		})).
		Complete(r)
}

// Reconcile brings one claim's PV in line with the claim's annotation.
func (r *RetentionSync) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := klog.FromContext(ctx)
	var claim corev1.PersistentVolumeClaim
	if err := r.Client.Get(ctx, req.NamespacedName, &claim); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	want, ok := claim.Annotations[policy.AnnOnDelete]
	if !ok || claim.Spec.VolumeName == "" {
		return ctrl.Result{}, nil
	}
	od, ferr := policy.ParseOnDelete(want, field.NewPath("metadata", "annotations").Key(policy.AnnOnDelete))
	if ferr != nil {
		// Admission normally refuses this; without the webhook, say so where
		// the user looks and leave the PV as it is.
		r.Recorder.Eventf(&claim, corev1.EventTypeWarning, "InvalidOnDelete", "%s; the volume keeps its current policy", ferr.Error())
		return ctrl.Result{}, nil
	}
	pv, err := boundVolume(ctx, r.Client, r.Recorder, &claim, r.NodeName)
	if pv == nil || err != nil {
		return ctrl.Result{}, err
	}
	if pv.Annotations[policy.AnnOnDelete] == string(od) && pv.Spec.PersistentVolumeReclaimPolicy == od.ReclaimPolicy() {
		return ctrl.Result{}, nil
	}
	patch := client.MergeFrom(pv.DeepCopy())
	if pv.Annotations == nil {
		pv.Annotations = map[string]string{}
	}
	pv.Annotations[policy.AnnOnDelete] = string(od)
	pv.Spec.PersistentVolumeReclaimPolicy = od.ReclaimPolicy()
	if err := r.Client.Patch(ctx, pv, patch); err != nil {
		return ctrl.Result{}, fmt.Errorf("updating PV %s to on-delete=%s: %w", pv.Name, od, err)
	}
	logger.Info("Carried on-delete to volume", "claim", klog.KObj(&claim), "pv", pv.Name, "onDelete", od)
	r.Recorder.Eventf(&claim, corev1.EventTypeNormal, "OnDeleteChanged", "Volume %s will be %s when this claim is deleted (reclaim policy %s)",
		pv.Name, pastTense(od), od.ReclaimPolicy())
	return ctrl.Result{}, nil
}

func pastTense(od policy.OnDelete) string {
	switch od {
	case policy.OnDeleteRetain:
		return "retained"
	case policy.OnDeleteArchive:
		return "archived"
	}
	return "deleted"
}
