package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/volume"
)

func ourPV(name, node string, phase corev1.PersistentVolumePhase, reclaim corev1.PersistentVolumeReclaimPolicy) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: []string{libFinalizer}, Annotations: map[string]string{
			policy.AnnNode: node, policy.AnnPath: "ns-c-" + name, policy.AnnBasePath: "/var/kubernetes", policy.AnnOnDelete: "delete",
		}},
		Spec:   corev1.PersistentVolumeSpec{PersistentVolumeReclaimPolicy: reclaim},
		Status: corev1.PersistentVolumeStatus{Phase: phase},
	}
}

func TestRetentionSyncCarriesTheClaimsDecisionToThePV(t *testing.T) {
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", Annotations: map[string]string{policy.AnnOnDelete: "retain"}},
		Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: "pv1"},
	}
	pv := ourPV("pv1", "n1", corev1.VolumeBound, corev1.PersistentVolumeReclaimDelete)
	c := fake.NewClientBuilder().WithObjects(claim, pv).Build()
	events := record.NewFakeRecorder(5)
	r := &RetentionSync{Client: c, NodeName: "n1", Recorder: events}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "c"}}); err != nil {
		t.Fatal(err)
	}
	got := &corev1.PersistentVolume{}
	c.Get(context.Background(), client.ObjectKey{Name: "pv1"}, got)
	if got.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || got.Annotations[policy.AnnOnDelete] != "retain" {
		t.Errorf("PV = %s %v", got.Spec.PersistentVolumeReclaimPolicy, got.Annotations)
	}
	if ev := <-events.Events; !strings.Contains(ev, "OnDeleteChanged") || !strings.Contains(ev, "retained") {
		t.Errorf("event = %q", ev)
	}
}

func TestRetentionSyncLeavesOtherNodesAndBadValuesAlone(t *testing.T) {
	for _, tt := range []struct {
		name, value, node string
	}{
		{"another node's volume", "retain", "n2"},
		{"an invalid value", "forever", "n1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			claim := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", Annotations: map[string]string{policy.AnnOnDelete: tt.value}},
				Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: "pv1"},
			}
			c := fake.NewClientBuilder().WithObjects(claim, ourPV("pv1", tt.node, corev1.VolumeBound, corev1.PersistentVolumeReclaimDelete)).Build()
			r := &RetentionSync{Client: c, NodeName: "n1", Recorder: record.NewFakeRecorder(5)}
			if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "c"}}); err != nil {
				t.Fatal(err)
			}
			got := &corev1.PersistentVolume{}
			c.Get(context.Background(), client.ObjectKey{Name: "pv1"}, got)
			if got.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || got.Annotations[policy.AnnOnDelete] != "delete" {
				t.Errorf("PV changed: %s %v", got.Spec.PersistentVolumeReclaimPolicy, got.Annotations)
			}
		})
	}
}

func TestNodeGoneReleasesAStrandedVolumeAfterTheGracePeriod(t *testing.T) {
	pv := ourPV("pv1", "vanished", corev1.VolumeReleased, corev1.PersistentVolumeReclaimDelete)
	c := fake.NewClientBuilder().WithObjects(pv).WithStatusSubresource(pv).Build()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	events := record.NewFakeRecorder(5)
	r := &NodeGone{Client: c, IsLeader: func() bool { return true }, GracePeriod: time.Minute, Recorder: events, Now: func() time.Time { return now }}
	r.firstSeen = map[string]time.Time{}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Name: "pv1"}}

	res, err := r.Reconcile(context.Background(), req)
	if err != nil || res.RequeueAfter != time.Minute {
		t.Fatalf("first look: %+v %v, want a requeue after the grace period", res, err)
	}
	now = now.Add(61 * time.Second)
	if _, err := r.Reconcile(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(context.Background(), client.ObjectKey{Name: "pv1"}, &corev1.PersistentVolume{}); !apierrors.IsNotFound(err) {
		t.Errorf("PV still exists: %v", err)
	}
	if ev := <-events.Events; !strings.Contains(ev, "NodeGone") || !strings.Contains(ev, "/var/kubernetes/ns-c-pv1") {
		t.Errorf("event = %q", ev)
	}
}

func TestNodeGoneNeverTouchesRetainedOrLiveVolumes(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "alive"}}
	for _, pv := range []*corev1.PersistentVolume{
		ourPV("retained", "vanished", corev1.VolumeReleased, corev1.PersistentVolumeReclaimRetain),
		ourPV("bound", "vanished", corev1.VolumeBound, corev1.PersistentVolumeReclaimDelete),
		ourPV("live-node", "alive", corev1.VolumeReleased, corev1.PersistentVolumeReclaimDelete),
	} {
		t.Run(pv.Name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithObjects(pv, node).WithStatusSubresource(pv).Build()
			r := &NodeGone{Client: c, IsLeader: func() bool { return true }, GracePeriod: 0, Recorder: record.NewFakeRecorder(5), Now: time.Now}
			r.firstSeen = map[string]time.Time{}
			if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: pv.Name}}); err != nil {
				t.Fatal(err)
			}
			if err := c.Get(context.Background(), client.ObjectKey{Name: pv.Name}, &corev1.PersistentVolume{}); err != nil {
				t.Errorf("PV was released: %v", err)
			}
		})
	}
}

func TestResizerGrowsThePVAndTheClaimStatus(t *testing.T) {
	store, err := volume.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	pv := ourPV("pv1", "n1", corev1.VolumeBound, corev1.PersistentVolumeReclaimDelete)
	pv.Spec.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"},
		Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv1", Resources: corev1.VolumeResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Mi")}}},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}},
	}
	c := fake.NewClientBuilder().WithObjects(pv, claim).WithStatusSubresource(claim).Build()
	events := record.NewFakeRecorder(5)
	r := &Resizer{Client: c, Store: store, NodeName: "n1", Recorder: events}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "c"}}); err != nil {
		t.Fatal(err)
	}
	gotPV := &corev1.PersistentVolume{}
	c.Get(context.Background(), client.ObjectKey{Name: "pv1"}, gotPV)
	gotClaim := &corev1.PersistentVolumeClaim{}
	c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "c"}, gotClaim)
	if gotPV.Spec.Capacity.Storage().String() != "2Mi" || gotClaim.Status.Capacity.Storage().String() != "2Mi" {
		t.Errorf("PV %s, claim status %s; want both 2Mi", gotPV.Spec.Capacity.Storage(), gotClaim.Status.Capacity.Storage())
	}
	if ev := <-events.Events; !strings.Contains(ev, "VolumeResizeSuccessful") {
		t.Errorf("event = %q", ev)
	}

	// Growth beyond the node's free space is refused with an event.
	claim2 := gotClaim.DeepCopy()
	claim2.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("1Ei")
	c.Update(context.Background(), claim2)
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "c"}}); err != nil {
		t.Fatal(err)
	}
	if ev := <-events.Events; !strings.Contains(ev, "VolumeResizeFailed") {
		t.Errorf("event = %q", ev)
	}
}
