package provisioner

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v10/controller"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

// source returns a bound source claim "src" of 1Mi and its PV on srcNode,
// whose directory is rel under base.
func source(base, srcNode, rel string) (*corev1.PersistentVolumeClaim, *corev1.PersistentVolume) {
	c := claim("default", "src", "1Mi", nil)
	c.UID = "uid-src"
	hp := "hostpath"
	c.Spec.StorageClassName = &hp
	c.Spec.VolumeName = "pvc-src"
	c.Status.Phase = corev1.ClaimBound
	c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-src", Annotations: map[string]string{
		policy.AnnNode: srcNode, policy.AnnPath: rel, policy.AnnBasePath: base,
	}}}
	t := corev1.HostPathDirectory
	pv.Spec.HostPath = &corev1.HostPathVolumeSource{Path: filepath.Join(base, rel), Type: &t}
	pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: c.Namespace, Name: c.Name, UID: c.UID}
	return c, pv
}

// add stores a source claim and its PV where the provisioner reads them.
func (f *fixture) add(t *testing.T, c *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) {
	t.Helper()
	status := c.Status
	if err := f.client.Create(testCtx(t), c); err != nil {
		t.Fatal(err)
	}
	c.Status = status
	if err := f.client.Status().Update(testCtx(t), c); err != nil {
		t.Fatal(err)
	}
	if err := f.client.Create(testCtx(t), pv); err != nil {
		t.Fatal(err)
	}
}

func cloneClaim(size string, ann map[string]string) *corev1.PersistentVolumeClaim {
	c := claim("default", "copy", size, ann)
	hp := "hostpath"
	c.Spec.StorageClassName = &hp
	c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "src"}
	return c
}

func TestACloneStartsWithItsSourcesData(t *testing.T) {
	f := newFixture(t)
	base := f.base
	src, pv := source(base, node, "default-src-pvc-src")
	f.add(t, src, pv)
	mkdirAll(t, filepath.Join(base, "default-src-pvc-src", "sub"), 0o750)
	writeFile(t, filepath.Join(base, "default-src-pvc-src", "sub", "file"), []byte("data"), 0o640)
	if err := os.Symlink("/", filepath.Join(base, "default-src-pvc-src", "root")); err != nil {
		t.Fatal(err)
	}

	f.leader = false // a clone belongs to its source's node, lease or not
	c := cloneClaim("1Mi", nil)
	if !f.p.ShouldProvision(testCtx(t), c) {
		t.Fatal("the instance on the source's node must take the clone")
	}
	got, state, err := f.p.Provision(testCtx(t), controller.ProvisionOptions{
		StorageClass: class(nil, corev1.PersistentVolumeReclaimDelete), PVName: "pvc-copy", PVC: c,
	})
	if err != nil || state != controller.ProvisioningFinished {
		t.Fatalf("Provision: %v %v", state, err)
	}
	dir := filepath.Join(base, "default-copy-pvc-copy")
	if b, err := os.ReadFile(filepath.Join(dir, "sub", "file")); err != nil || string(b) != "data" {
		t.Errorf("the clone's file: %q %v", b, err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "root")); err != nil || target != "/" {
		t.Errorf("the clone's symlink: %q %v", target, err)
	}
	if got.Annotations[policy.AnnClonedFrom] != "default/src" {
		t.Errorf("PV annotations = %v", got.Annotations)
	}
	select {
	case ev := <-f.events.Events:
		if !strings.Contains(ev, "Cloned") || !strings.Contains(ev, "default/src") || !strings.Contains(ev, "copy") {
			t.Errorf("event = %q", ev)
		}
	default:
		t.Error("no event says the clone was made")
	}
}

func TestACloneIsRefusedOrPassedOn(t *testing.T) {
	tests := []struct {
		name      string
		srcNode   string
		claim     *corev1.PersistentVolumeClaim
		selected  bool
		wantState controller.ProvisioningState
		wantErr   string
		ignored   bool
		// notBound makes the source's PV belong to another claim: the
		// source claim only names it.
		notBound bool
	}{
		{name: "a clone of a claim that only names another claim's volume", srcNode: node, claim: cloneClaim("1Mi", nil), notBound: true,
			wantState: controller.ProvisioningNoChange, wantErr: "names volume pvc-src, which is not bound to it"},
		{name: "a clone smaller than its source", srcNode: node, claim: cloneClaim("512Ki", nil),
			wantState: controller.ProvisioningFinished, wantErr: "must be at least 1Mi, the size of the source claim src"},
		{name: "a clone whose source is on another node is left to that node", srcNode: "node-b", claim: cloneClaim("1Mi", nil),
			wantState: controller.ProvisioningFinished, ignored: true},
		{name: "a clone scheduled away from its source is rescheduled", srcNode: "node-b", claim: cloneClaim("1Mi", nil), selected: true,
			wantState: controller.ProvisioningReschedule, wantErr: "must be made on node node-b, where its source claim src is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			base := f.base
			src, pv := source(base, tt.srcNode, "default-src-pvc-src")
			if tt.notBound {
				pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "victim", Name: "data", UID: "uid-victim"}
			}
			f.add(t, src, pv)
			if err := os.Mkdir(filepath.Join(base, "default-src-pvc-src"), 0o755); err != nil {
				t.Fatal(err)
			}
			opts := controller.ProvisionOptions{StorageClass: class(nil, ""), PVName: "pvc-copy", PVC: tt.claim}
			if tt.selected {
				opts.SelectedNode = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
			}
			got, state, err := f.p.Provision(testCtx(t), opts)
			var ign *controller.IgnoredError
			if got != nil || state != tt.wantState || (tt.ignored != errors.As(err, &ign)) || (tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr))) {
				t.Fatalf("Provision = %v, %v, %v; want state %v, error %q (ignored: %v)", got != nil, state, err, tt.wantState, tt.wantErr, tt.ignored)
			}
			if _, err := os.Stat(filepath.Join(base, "default-copy-pvc-copy")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused clone touched the disk: %v", err)
			}
		})
	}
}

func TestACloneWaitsForItsSource(t *testing.T) {
	f := newFixture(t)
	_, state, err := f.p.Provision(testCtx(t), controller.ProvisionOptions{StorageClass: class(nil, ""), PVName: "pvc-copy", PVC: cloneClaim("1Mi", nil)})
	if state != controller.ProvisioningNoChange || err == nil || !strings.Contains(err.Error(), "the source claim default/src does not exist (yet); the clone waits for it") {
		t.Fatalf("Provision = %v, %v", state, err)
	}
}
