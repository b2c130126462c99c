package provisioner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2/ktesting"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v10/controller"

	"github.com/mazdermind/hostpath-provisioner/pkg/basepath"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/volume"
)

const node = "node-a"

type fixture struct {
	p      *Provisioner
	base   string // the default base path
	bulk   string // the base path named bulk
	store  *volume.Store
	leader bool
	events *record.FakeRecorder
	client client.Client // what the provisioner reads
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	base, bulk := t.TempDir(), t.TempDir()
	stores, err := basepath.Open(&basepath.Config{BasePaths: []basepath.BasePath{
		{Name: policy.DefaultBasePathName, Path: base}, {Name: "bulk", Path: bulk},
	}}, node)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stores.Close)
	store, err := stores.ForProvisioning(policy.DefaultBasePathName)
	if err != nil {
		t.Fatal(err)
	}
	cb := fake.NewClientBuilder().WithObjects(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "small", Annotations: map[string]string{policy.AnnNamespaceMaxSize: "1Mi"}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node, Labels: map[string]string{corev1.LabelHostname: "host-a"}}},
	)
	f := &fixture{base: base, bulk: bulk, store: store, leader: true, events: record.NewFakeRecorder(10), client: cb.Build()}
	f.p = New(Config{
		NodeName: node, Stores: stores, IsLeader: func() bool { return f.leader },
		Reader: f.client, Recorder: f.events,
		Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
	})
	return f
}

func claim(ns, name, size string, ann map[string]string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: "uid-1", Annotations: ann},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
}

func class(params map[string]string, reclaim corev1.PersistentVolumeReclaimPolicy) *storagev1.StorageClass {
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "hostpath"}, Provisioner: policy.ProvisionerName, Parameters: params, ReclaimPolicy: &reclaim}
}

func TestProvisionCreatesTheOriginalLayoutAndDescribesThePV(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	pv, state, err := f.p.Provision(ctx, controller.ProvisionOptions{
		StorageClass: class(nil, corev1.PersistentVolumeReclaimDelete), PVName: "pvc-1", PVC: claim("default", "hostpath-test-claim", "1Mi", nil),
	})
	if err != nil || state != controller.ProvisioningFinished {
		t.Fatalf("Provision: %v %v", state, err)
	}
	dir := filepath.Join(f.base, "default-hostpath-test-claim-pvc-1")
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o777 {
		t.Fatalf("directory: %v %v", fi, err)
	}
	if pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != dir {
		t.Errorf("hostPath = %+v", pv.Spec.HostPath)
	}
	if got := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values; len(got) != 1 || got[0] != "host-a" {
		t.Errorf("node affinity must use the hostname label, got %v", got)
	}
	if pv.Annotations[policy.AnnNode] != node || pv.Annotations[policy.AnnPath] != "default-hostpath-test-claim-pvc-1" || pv.Annotations[policy.AnnOnDelete] != "delete" ||
		pv.Annotations[policy.AnnQuota] != "none" {
		t.Errorf("annotations = %v", pv.Annotations)
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.Spec.Capacity.Storage().String() != "1Mi" {
		t.Errorf("spec = %+v", pv.Spec)
	}
}

func TestProvisionHonoursRetainAndLocal(t *testing.T) {
	f := newFixture(t)
	pv, _, err := f.p.Provision(testCtx(t), controller.ProvisionOptions{
		StorageClass: class(map[string]string{"volumeType": "local"}, corev1.PersistentVolumeReclaimDelete), PVName: "pvc-2",
		PVC: claim("default", "c", "1Mi", map[string]string{policy.AnnOnDelete: "retain"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Spec.Local == nil || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || pv.Annotations[policy.AnnOnDelete] != "retain" {
		t.Errorf("pv = %+v %v", pv.Spec, pv.Annotations)
	}
}

func TestProvisionRefuses(t *testing.T) {
	tests := []struct {
		name      string
		class     *storagev1.StorageClass
		claim     *corev1.PersistentVolumeClaim
		setup     func(t *testing.T, base string)
		wantState controller.ProvisioningState
		wantErr   string
		selected  bool
	}{
		{name: "an invalid class parameter", class: class(map[string]string{"onDelete": "keep"}, ""), claim: claim("default", "c", "1Mi", nil),
			wantErr: `StorageClass hostpath is invalid: parameters[onDelete]: Unsupported value: "keep"`},
		{name: "an invalid claim annotation", class: class(nil, ""), claim: claim("default", "c", "1Mi", map[string]string{"hostpath.dev/ondelete": "x"}),
			wantErr: "did you mean \"hostpath.dev/on-delete\""},
		{name: "a claim over the namespace limit", class: class(nil, ""), claim: claim("small", "c", "2Mi", nil),
			wantErr: "must be at most 1Mi (namespace annotation hostpath.dev/max-size)"},
		{name: "a claim larger than the free space, with an Immediate claim retried later", class: class(nil, ""), claim: claim("default", "c", "1Ei", nil),
			wantState: controller.ProvisioningFinished, wantErr: "not enough space on node node-a: the claim requests 1Ei"},
		{name: "a claim larger than the free space, rescheduled when it has a node", class: class(nil, ""), claim: claim("default", "c", "1Ei", nil), selected: true,
			wantState: controller.ProvisioningReschedule, wantErr: "not enough space"},
		{name: "a directory that already holds data", class: class(nil, ""), claim: claim("default", "c", "1Mi", nil),
			setup: func(t *testing.T, base string) {
				mkdirAll(t, filepath.Join(base, "default-c-pvc-1"), 0o755)
				writeFile(t, filepath.Join(base, "default-c-pvc-1", "other-tenant"), nil, 0o644)
			}, wantErr: "the directory already exists and is not empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.setup != nil {
				tt.setup(t, f.base)
			}
			opts := controller.ProvisionOptions{StorageClass: tt.class, PVName: "pvc-1", PVC: tt.claim}
			if tt.selected {
				opts.SelectedNode = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
			}
			pv, state, err := f.p.Provision(testCtx(t), opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if pv != nil {
				t.Error("a refused claim must not get a PV")
			}
			want := tt.wantState
			if want == "" {
				want = controller.ProvisioningFinished
			}
			if state != want {
				t.Errorf("state = %v, want %v", state, want)
			}
			if tt.setup == nil {
				if entries, _ := os.ReadDir(f.base); len(entries) != 0 {
					t.Errorf("a refused claim touched the disk: %v", entries)
				}
			}
		})
	}
}

func TestOnlyTheRightInstanceProvisions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	wffc := claim("default", "c", "1Mi", map[string]string{policy.AnnSelectedNode: node})
	other := claim("default", "c", "1Mi", map[string]string{policy.AnnSelectedNode: "node-b"})
	immediate := claim("default", "c", "1Mi", nil)
	if !f.p.ShouldProvision(ctx, wffc) || f.p.ShouldProvision(ctx, other) || !f.p.ShouldProvision(ctx, immediate) {
		t.Error("as leader: own node yes, other node no, Immediate yes")
	}
	f.leader = false
	if !f.p.ShouldProvision(ctx, wffc) || f.p.ShouldProvision(ctx, immediate) {
		t.Error("without the lease: own node yes, Immediate no")
	}
	_, _, err := f.p.Provision(testCtx(t), controller.ProvisionOptions{StorageClass: class(nil, ""), PVName: "pvc-1", PVC: immediate})
	var ignored *controller.IgnoredError
	if !errors.As(err, &ignored) {
		t.Errorf("Provision without the lease = %v, want IgnoredError", err)
	}
}

func TestAClaimForAPopulatorIsLeftToIt(t *testing.T) {
	f := newFixture(t)
	g := "hello.example.com"
	for _, annotations := range []map[string]string{{policy.AnnSelectedNode: node}, nil} {
		c := claim("default", "c", "1Mi", annotations)
		c.Spec.DataSourceRef = &corev1.TypedObjectReference{APIGroup: &g, Kind: "Hello", Name: "example-hello"}
		if f.p.ShouldProvision(context.Background(), c) {
			t.Errorf("claim %v filled by a populator: ShouldProvision = true, want false (the populator's own claim is provisioned)", annotations)
		}
	}
}

func pvFor(f *fixture, rel, onDelete string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-1", Annotations: map[string]string{
			policy.AnnNode: node, policy.AnnPath: rel, policy.AnnBasePath: f.base, policy.AnnOnDelete: onDelete,
		}},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: filepath.Join(f.base, rel)},
		}},
	}
}

func TestDelete(t *testing.T) {
	ctx := testCtx(t)
	t.Run("delete removes the tree", func(t *testing.T) {
		f := newFixture(t)
		mkdirAll(t, filepath.Join(f.base, "v", "sub"), 0o755)
		if err := f.p.Delete(ctx, pvFor(f, "v", "delete")); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(f.base, "v")); !os.IsNotExist(err) {
			t.Errorf("still there: %v", err)
		}
	})
	t.Run("archive renames and records an event", func(t *testing.T) {
		f := newFixture(t)
		mkdirAll(t, filepath.Join(f.base, "v"), 0o755)
		if err := f.p.Delete(ctx, pvFor(f, "v", "archive")); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(f.base, "archived-v-20260102T030405Z")); err != nil {
			t.Error(err)
		}
		if ev := <-f.events.Events; !strings.Contains(ev, "VolumeArchived") {
			t.Errorf("event = %q", ev)
		}
	})
	t.Run("retain never deletes", func(t *testing.T) {
		f := newFixture(t)
		mkdirAll(t, filepath.Join(f.base, "v"), 0o755)
		if err := f.p.Delete(ctx, pvFor(f, "v", "retain")); err == nil || !strings.Contains(err.Error(), "retain") {
			t.Fatalf("err = %v", err)
		}
		if _, err := os.Stat(filepath.Join(f.base, "v")); err != nil {
			t.Error("retained data was deleted")
		}
	})
	t.Run("a path annotation that disagrees with the source path touches nothing", func(t *testing.T) {
		f := newFixture(t)
		for _, d := range []string{"mine", "victim"} {
			mkdirAll(t, filepath.Join(f.base, d), 0o755)
			writeFile(t, filepath.Join(f.base, d, "canary"), []byte(d), 0o644)
		}
		pv := pvFor(f, "mine", "delete")
		pv.Annotations[policy.AnnPath] = "victim"
		err := f.p.Delete(ctx, pv)
		if err == nil || !strings.Contains(err.Error(), "disagrees with spec.hostPath.path") {
			t.Fatalf("err = %v, want a refusal naming the disagreement", err)
		}
		for _, d := range []string{"mine", "victim"} {
			if b, err := os.ReadFile(filepath.Join(f.base, d, "canary")); err != nil || string(b) != d {
				t.Errorf("%s/canary = %q, %v; want it untouched", d, b, err)
			}
		}
	})
	t.Run("an unknown on-delete keeps the data", func(t *testing.T) {
		f := newFixture(t)
		mkdirAll(t, filepath.Join(f.base, "v"), 0o755)
		if err := f.p.Delete(ctx, pvFor(f, "v", "shred")); err == nil {
			t.Fatal("expected an error")
		}
		if _, err := os.Stat(filepath.Join(f.base, "v")); err != nil {
			t.Error("data was deleted")
		}
	})
	t.Run("another node's volume is ignored", func(t *testing.T) {
		f := newFixture(t)
		pv := pvFor(f, "v", "delete")
		pv.Annotations[policy.AnnNode] = "node-b"
		var ignored *controller.IgnoredError
		if err := f.p.Delete(ctx, pv); !errors.As(err, &ignored) {
			t.Errorf("err = %v", err)
		}
		if f.p.ShouldDelete(ctx, pv) {
			t.Error("ShouldDelete must be false for another node")
		}
	})
	t.Run("a tampered path annotation is refused", func(t *testing.T) {
		f := newFixture(t)
		if err := f.p.Delete(ctx, pvFor(f, "../etc", "delete")); err == nil {
			t.Fatal("expected an error")
		}
	})
	t.Run("a volume of the original provisioner is deleted by its path", func(t *testing.T) {
		f := newFixture(t)
		dir := filepath.Join(f.base, "default-c-pvc-9")
		mkdirAll(t, filepath.Join(dir, "x"), 0o755)
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "pvc-9", Annotations: map[string]string{policy.AnnLegacyIdentity: node}},
			Spec:       corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}}},
		}
		if err := f.p.Delete(ctx, pv); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("still there: %v", err)
		}
	})
	t.Run("an original volume outside the base path is refused", func(t *testing.T) {
		f := newFixture(t)
		outside := t.TempDir()
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "pvc-9", Annotations: map[string]string{policy.AnnLegacyIdentity: node}},
			Spec:       corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: outside}}},
		}
		if err := f.p.Delete(ctx, pv); err == nil || !strings.Contains(err.Error(), "not inside the base path") {
			t.Fatalf("err = %v", err)
		}
		if _, err := os.Stat(outside); err != nil {
			t.Error("outside directory removed")
		}
	})
}

// mkdirAll and writeFile prepare a test's directories and files; a
// failure stops the test instead of letting it run on a missing setup.
func mkdirAll(t *testing.T, path string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(path, perm); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
}

func testCtx(t *testing.T) context.Context {
	_, ctx := ktesting.NewTestContext(t)
	return ctx
}
