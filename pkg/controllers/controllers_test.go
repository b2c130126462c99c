package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

func ourPV(name, node string, phase corev1.PersistentVolumePhase, reclaim corev1.PersistentVolumeReclaimPolicy) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: []string{libFinalizer}, Annotations: map[string]string{
			policy.AnnNode: node, policy.AnnPath: "ns-c-" + name, policy.AnnBasePath: "/var/kubernetes", policy.AnnOnDelete: "delete",
		}},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: reclaim,
			ClaimRef:                      &corev1.ObjectReference{Namespace: "ns", Name: "c", UID: "uid-c"},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: "/var/kubernetes/ns-c-" + name},
			},
		},
		Status: corev1.PersistentVolumeStatus{Phase: phase},
	}
}

// syncRetention reconciles claim c in namespace ns against pv1 and
// returns the PV as it is afterwards and the events recorded.
func syncRetention(t *testing.T, claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) (*corev1.PersistentVolume, *record.FakeRecorder) {
	t.Helper()
	c := fake.NewClientBuilder().WithObjects(claim, pv).Build()
	events := record.NewFakeRecorder(5)
	r := &RetentionSync{Client: c, NodeName: "n1", Recorder: events}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "c"}}); err != nil {
		t.Fatal(err)
	}
	got := &corev1.PersistentVolume{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: "pv1"}, got); err != nil {
		t.Fatal(err)
	}
	return got, events
}

func TestRetentionSyncCarriesTheClaimsDecisionToThePV(t *testing.T) {
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", UID: "uid-c", Annotations: map[string]string{policy.AnnOnDelete: "retain"}},
		Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: "pv1"},
	}
	pv := ourPV("pv1", "n1", corev1.VolumeBound, corev1.PersistentVolumeReclaimDelete)
	got, events := syncRetention(t, claim, pv)
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
				ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", UID: "uid-c", Annotations: map[string]string{policy.AnnOnDelete: tt.value}},
				Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: "pv1"},
			}
			c := fake.NewClientBuilder().WithObjects(claim, ourPV("pv1", tt.node, corev1.VolumeBound, corev1.PersistentVolumeReclaimDelete)).Build()
			r := &RetentionSync{Client: c, NodeName: "n1", Recorder: record.NewFakeRecorder(5)}
			if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "c"}}); err != nil {
				t.Fatal(err)
			}
			got := &corev1.PersistentVolume{}
			if err := c.Get(context.Background(), client.ObjectKey{Name: "pv1"}, got); err != nil {
				t.Fatal(err)
			}
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

func TestRetentionSyncNeverChangesAVolumeForAClaimThatOnlyNamesIt(t *testing.T) {
	for _, tt := range []struct {
		name string
		ref  *corev1.ObjectReference
	}{
		{"bound to another namespace's claim", &corev1.ObjectReference{Namespace: "victim", Name: "c", UID: "uid-c"}},
		{"bound to a claim of the same name that was re-created", &corev1.ObjectReference{Namespace: "ns", Name: "c", UID: "uid-old"}},
		{"released, no claim", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			claim := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", UID: "uid-c", Annotations: map[string]string{policy.AnnOnDelete: "delete"}},
				Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: "pv1"},
			}
			pv := ourPV("pv1", "n1", corev1.VolumeBound, corev1.PersistentVolumeReclaimRetain)
			pv.Annotations[policy.AnnOnDelete] = "retain"
			pv.Spec.ClaimRef = tt.ref
			got, events := syncRetention(t, claim, pv)
			if got.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || got.Annotations[policy.AnnOnDelete] != "retain" {
				t.Errorf("PV changed: %s %v", got.Spec.PersistentVolumeReclaimPolicy, got.Annotations)
			}
			if ev := <-events.Events; !strings.Contains(ev, ReasonNotBound) || !strings.Contains(ev, "pv1") {
				t.Errorf("event = %q, want %s naming the PV", ev, ReasonNotBound)
			}
		})
	}
}
