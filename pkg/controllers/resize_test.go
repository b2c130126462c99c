package controllers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/mazdermind/hostpath-provisioner/pkg/basepath"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/volume"
)

// resizeFixture is a Bound 1Mi claim of class "hp" whose request is then
// raised, with a namespace and the class, as the API server would have them.
type resizeFixture struct {
	c      client.WithWatch
	r      *Resizer
	events *record.FakeRecorder
}

func newResizeFixture(t *testing.T, params, nsAnn map[string]string, request string, mutate func(*corev1.PersistentVolumeClaim, *corev1.PersistentVolume)) *resizeFixture {
	t.Helper()
	store, err := volume.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	pv := ourPV("pv1", "n1", corev1.VolumeBound, corev1.PersistentVolumeReclaimDelete)
	pv.Annotations[policy.AnnBasePath] = store.Base()
	pv.Spec.HostPath.Path = filepath.Join(store.Base(), pv.Annotations[policy.AnnPath])
	if err := os.Mkdir(pv.Spec.HostPath.Path, 0o755); err != nil {
		t.Fatal(err)
	}
	pv.Spec.StorageClassName = "hp"
	pv.Spec.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", UID: "uid-c"},
		Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv1", Resources: corev1.VolumeResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(request)}}},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}},
	}
	if mutate != nil {
		mutate(claim, pv)
	}
	expand := true
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "hp"}, Provisioner: policy.ProvisionerName, Parameters: params, AllowVolumeExpansion: &expand}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Annotations: nsAnn}}
	c := fake.NewClientBuilder().WithObjects(pv, claim, class, ns).WithStatusSubresource(claim).Build()
	events := record.NewFakeRecorder(10)
	return &resizeFixture{c: c, events: events, r: &Resizer{Client: c, Stores: basepath.Single(policy.DefaultBasePathName, store), NodeName: "n1", Recorder: events}}
}

func (f *resizeFixture) reconcile(t *testing.T) {
	t.Helper()
	if _, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "c"}}); err != nil {
		t.Fatal(err)
	}
}

func (f *resizeFixture) get(t *testing.T) (*corev1.PersistentVolumeClaim, *corev1.PersistentVolume) {
	t.Helper()
	claim := &corev1.PersistentVolumeClaim{}
	pv := &corev1.PersistentVolume{}
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "c"}, claim); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Get(context.Background(), client.ObjectKey{Name: "pv1"}, pv); err != nil {
		t.Fatal(err)
	}
	return claim, pv
}

// beforePVPatch runs fn before each PV patch the resizer makes; an error
// from fn fails that patch.
func (f *resizeFixture) beforePVPatch(fn func(ctx context.Context, c client.Client) error) {
	f.r.Client = interceptor.NewClient(f.c, interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if _, ok := obj.(*corev1.PersistentVolume); ok {
				if err := fn(ctx, c); err != nil {
					return err
				}
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
	})
}

func (f *resizeFixture) event(t *testing.T) string {
	t.Helper()
	select {
	case ev := <-f.events.Events:
		return ev
	default:
		return ""
	}
}

func TestResizerGrowsThePVAndTheClaimStatusAndEndsTheResize(t *testing.T) {
	f := newResizeFixture(t, nil, nil, "2Mi", nil)
	f.reconcile(t)
	claim, pv := f.get(t)
	if pv.Spec.Capacity.Storage().String() != "2Mi" || claim.Status.Capacity.Storage().String() != "2Mi" {
		t.Errorf("PV %s, claim status %s; want both 2Mi", pv.Spec.Capacity.Storage(), claim.Status.Capacity.Storage())
	}
	if a := claim.Status.AllocatedResources[corev1.ResourceStorage]; a.String() != "2Mi" {
		t.Errorf("status.allocatedResources = %s, want 2Mi", a.String())
	}
	if s, ok := claim.Status.AllocatedResourceStatuses[corev1.ResourceStorage]; ok {
		t.Errorf("status.allocatedResourceStatuses[storage] = %s, want it cleared after the resize", s)
	}
	if ev := f.event(t); !strings.Contains(ev, "VolumeResizeSuccessful") {
		t.Errorf("event = %q", ev)
	}
}

// Whoever sees the PV at its new size and then reads the claim must find
// the resize finished: the Kubernetes volume-expand suite checks the claim's
// allocatedResourceStatuses right after the PV capacity changes, and a claim
// still saying ControllerResizeInProgress then fails it.
func TestResizerFinishesTheClaimBeforeThePVShowsTheNewSize(t *testing.T) {
	f := newResizeFixture(t, nil, nil, "2Mi", nil)
	var seen *corev1.PersistentVolumeClaim
	f.beforePVPatch(func(ctx context.Context, c client.Client) error {
		seen = &corev1.PersistentVolumeClaim{}
		return c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "c"}, seen)
	})
	f.reconcile(t)
	if seen == nil {
		t.Fatal("the resizer never patched the PV")
	}
	if s, ok := seen.Status.AllocatedResourceStatuses[corev1.ResourceStorage]; ok {
		t.Errorf("when the PV capacity was written, the claim's allocatedResourceStatuses[storage] = %s; want it cleared", s)
	}
	if got := seen.Status.Capacity.Storage().String(); got != "2Mi" {
		t.Errorf("when the PV capacity was written, the claim's status.capacity = %s; want 2Mi", got)
	}
	if _, pv := f.get(t); pv.Spec.Capacity.Storage().String() != "2Mi" {
		t.Errorf("PV capacity %s, want 2Mi", pv.Spec.Capacity.Storage())
	}
}

// A PV patch that fails after the claim was settled is worked through
// again: the next reconcile finds the PV short of the request.
func TestResizerRetriesAPVPatchThatFailedAfterTheClaimWasSettled(t *testing.T) {
	f := newResizeFixture(t, nil, nil, "2Mi", nil)
	fail := true
	f.beforePVPatch(func(context.Context, client.Client) error {
		if fail {
			fail = false
			return errors.New("injected: the API server is away")
		}
		return nil
	})
	if _, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "c"}}); err == nil {
		t.Fatal("a failed PV patch was not returned as an error (it would not be retried)")
	}
	f.reconcile(t)
	claim, pv := f.get(t)
	if pv.Spec.Capacity.Storage().String() != "2Mi" || claim.Status.Capacity.Storage().String() != "2Mi" {
		t.Errorf("after the retry: PV %s, claim status %s; want both 2Mi", pv.Spec.Capacity.Storage(), claim.Status.Capacity.Storage())
	}
	if s, ok := claim.Status.AllocatedResourceStatuses[corev1.ResourceStorage]; ok {
		t.Errorf("after the retry: allocatedResourceStatuses[storage] = %s, want it cleared", s)
	}
}

func TestResizerRefusesGrowthThatBreaksARuleAndLeavesEverythingAsItWas(t *testing.T) {
	for _, tt := range []struct {
		name          string
		params, nsAnn map[string]string
		request       string
		want          []string
	}{
		{name: "class maxSize", params: map[string]string{policy.ParamMaxSize: "2Mi"}, request: "50Gi",
			want: []string{"spec.resources.requests[storage]", "50Gi", "at most 2Mi", policy.ParamMaxSize}},
		{name: "namespace max-size", nsAnn: map[string]string{policy.AnnNamespaceMaxSize: "4Mi"}, request: "8Mi",
			want: []string{"spec.resources.requests[storage]", "8Mi", "at most 4Mi", policy.AnnNamespaceMaxSize}},
		{name: "more than the node has", request: "1Ei", want: []string{"cannot grow to 1Ei", "more is needed"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newResizeFixture(t, tt.params, tt.nsAnn, tt.request, nil)
			f.reconcile(t)
			claim, pv := f.get(t)
			if pv.Spec.Capacity.Storage().String() != "1Mi" || claim.Status.Capacity.Storage().String() != "1Mi" {
				t.Errorf("PV %s, claim status %s; want both still 1Mi", pv.Spec.Capacity.Storage(), claim.Status.Capacity.Storage())
			}
			if s := claim.Status.AllocatedResourceStatuses[corev1.ResourceStorage]; s != corev1.PersistentVolumeClaimControllerResizeInfeasible {
				t.Errorf("status.allocatedResourceStatuses[storage] = %q, want %s", s, corev1.PersistentVolumeClaimControllerResizeInfeasible)
			}
			ev := f.event(t)
			for _, w := range append(tt.want, "VolumeResizeFailed", "Warning") {
				if !strings.Contains(ev, w) {
					t.Errorf("event %q does not contain %q", ev, w)
				}
			}
			// A second look (our own status write triggers one) says nothing new.
			f.reconcile(t)
			if ev := f.event(t); ev != "" {
				t.Errorf("the refusal was repeated: %q", ev)
			}

			// Recovery: the user lowers the request back to the volume's size.
			claim.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("1Mi")
			if err := f.c.Update(context.Background(), claim); err != nil {
				t.Fatal(err)
			}
			f.reconcile(t)
			claim, _ = f.get(t)
			if _, ok := claim.Status.AllocatedResourceStatuses[corev1.ResourceStorage]; ok {
				t.Errorf("after lowering the request, status.allocatedResourceStatuses = %v, want it cleared", claim.Status.AllocatedResourceStatuses)
			}
			if a := claim.Status.AllocatedResources[corev1.ResourceStorage]; a.String() != "1Mi" {
				t.Errorf("after lowering the request, status.allocatedResources = %s, want 1Mi", a.String())
			}
		})
	}
}

func TestResizerNeverGrowsAVolumeWhosePathHasASymlink(t *testing.T) {
	var dir string
	f := newResizeFixture(t, nil, nil, "2Mi", func(_ *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) {
		dir = pv.Spec.HostPath.Path
	})
	// The volume's directory is swapped for a link to another directory.
	other := dir + "-other"
	if err := os.Rename(dir, other); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(other), dir); err != nil {
		t.Fatal(err)
	}
	f.reconcile(t)
	claim, pv := f.get(t)
	if pv.Spec.Capacity.Storage().String() != "1Mi" {
		t.Errorf("the PV grew to %s through a swapped component", pv.Spec.Capacity.Storage())
	}
	if s := claim.Status.AllocatedResourceStatuses[corev1.ResourceStorage]; s != corev1.PersistentVolumeClaimControllerResizeInfeasible {
		t.Errorf("status.allocatedResourceStatuses[storage] = %q, want %s", s, corev1.PersistentVolumeClaimControllerResizeInfeasible)
	}
	if ev := f.event(t); !strings.Contains(ev, "VolumeResizeFailed") || !strings.Contains(ev, "symlink") {
		t.Errorf("event = %q, want VolumeResizeFailed naming the symlink", ev)
	}
}

func TestResizerNeverGrowsAVolumeForAClaimThatOnlyNamesIt(t *testing.T) {
	f := newResizeFixture(t, nil, nil, "50Mi", func(claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) {
		pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "victim", Name: "data", UID: "uid-v"}
	})
	f.reconcile(t)
	claim, pv := f.get(t)
	if pv.Spec.Capacity.Storage().String() != "1Mi" {
		t.Errorf("the victim's PV grew to %s", pv.Spec.Capacity.Storage())
	}
	if len(claim.Status.AllocatedResourceStatuses) != 0 || claim.Status.AllocatedResources != nil {
		t.Errorf("the claim got a resize status: %+v", claim.Status)
	}
	if ev := f.event(t); !strings.Contains(ev, ReasonNotBound) || !strings.Contains(ev, "victim/data") {
		t.Errorf("event = %q, want %s naming the PV's real claim", ev, ReasonNotBound)
	}
}
