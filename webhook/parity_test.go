package webhook

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2/ktesting"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v10/controller"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/provisioner"
	"github.com/mazdermind/hostpath-provisioner/pkg/volume"
)

// TestAdmissionAndProvisioningDecideAlike runs the same claims through the
// validating webhook (CREATE) and through the provisioner with the webhook
// out of the way: each claim is admitted and provisioned, or refused by
// both, and every field error admission names is in the provisioner's
// refusal too.
func TestAdmissionAndProvisioningDecideAlike(t *testing.T) {
	const node = "node-a"
	block := corev1.PersistentVolumeBlock
	small := func(c *corev1.PersistentVolumeClaim) { withSize("1Mi")(c) }
	classes := []*storagev1.StorageClass{
		storageClass("hostpath", policy.ProvisionerName, withParams(policy.ParamMaxSize, "5Mi")),
		storageClass("legacy", policy.LegacyProvisionerName),
		storageClass("by-dir", policy.ProvisionerName, withParams(policy.ParamPathPattern, `{{ .PVC.Namespace }}/{{ index .PVC.Annotations "dir" }}`)),
		storageClass("labelled", policy.ProvisionerName, withParams(policy.ParamPathPattern, `{{ .PVC.Namespace }}/{{ index .PVC.Labels "app" }}-{{ .PVName }}`)),
		storageClass("broken", policy.ProvisionerName, withParams("pathPatern", "x")),
	}
	cloneOf := func(c *corev1.PersistentVolumeClaim) {
		c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "src"}
	}
	tests := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		want  bool // admitted and provisioned
	}{
		{"a valid claim", claim(withClass("hostpath"), small), true},
		{"a claim of the legacy provisioner's class", claim(withClass("legacy"), small), true},
		{"a zero size", claim(withClass("hostpath"), withSize("0")), false},
		{"a size above maxSize", claim(withClass("hostpath"), withSize("6Mi")), false},
		{"a size above the namespace max-size", claim(withClass("legacy"), withSize("11Mi")), false},
		{"a block claim", claim(withClass("hostpath"), small, func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeMode = &block }), false},
		{"a selector", claim(withClass("hostpath"), small, func(c *corev1.PersistentVolumeClaim) { c.Spec.Selector = &metav1.LabelSelector{} }), false},
		{"a snapshot data source", claim(withClass("hostpath"), small, func(c *corev1.PersistentVolumeClaim) {
			g := "snapshot.storage.k8s.io"
			c.Spec.DataSourceRef = &corev1.TypedObjectReference{APIGroup: &g, Kind: "VolumeSnapshot", Name: "snap"}
		}), false},
		{"a misspelt hostpath annotation", claim(withClass("hostpath"), small, withAnnotation("hostpath.dev/on-delet", "retain")), false},
		{"an invalid on-delete", claim(withClass("hostpath"), small, withAnnotation(policy.AnnOnDelete, "shred")), false},
		{"a valid on-delete", claim(withClass("hostpath"), small, withAnnotation(policy.AnnOnDelete, "retain")), true},
		{"an annotation that is one path component", claim(withClass("by-dir"), small, withAnnotation("dir", "a")), true},
		{"an annotation with a '/'", claim(withClass("by-dir"), small, withAnnotation("dir", "a/l/data")), false},
		{"an annotation '..'", claim(withClass("by-dir"), small, withAnnotation("dir", "..")), false},
		{"an annotation '.'", claim(withClass("by-dir"), small, withAnnotation("dir", ".")), false},
		{"an annotation naming the provisioner's files", claim(withClass("by-dir"), small, withAnnotation("dir", ".hostpath-provisioner")), false},
		{"an empty annotation", claim(withClass("by-dir"), small, withAnnotation("dir", "")), false},
		{"a missing annotation", claim(withClass("by-dir"), small), false},
		{"a label with a '/'", claim(withClass("labelled"), small, func(c *corev1.PersistentVolumeClaim) { c.Labels = map[string]string{"app": "../x"} }), false},
		{"a label too long for the directory name", claim(withClass("labelled"), small, func(c *corev1.PersistentVolumeClaim) { c.Labels = map[string]string{"app": strings.Repeat("x", 250)} }), false},
		{"a shared-access claim", claim(withClass("hostpath"), small, func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}), true},
		{"a claim of an invalid class", claim(withClass("broken"), small), false},
		{"a clone of its source's class and size", claim(withClass("hostpath"), withSize("2Mi"), cloneOf), true},
		{"a clone smaller than its source", claim(withClass("hostpath"), small, cloneOf), false},
		{"a clone of another class than its source", claim(withClass("legacy"), withSize("2Mi"), cloneOf), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			base := t.TempDir()
			src, srcPV := boundSource(base, node)
			if err := os.MkdirAll(filepath.Join(base, srcPV.Annotations[policy.AnnPath]), 0o777); err != nil {
				t.Fatal(err)
			}
			objs := []client.Object{
				namespace("team", map[string]string{policy.AnnNamespaceMaxSize: "10Mi"}),
				&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node, Labels: map[string]string{corev1.LabelHostname: node}}},
				src, srcPV,
			}
			for _, sc := range classes {
				objs = append(objs, sc)
			}

			lk, dec := testLookup(t, objs...)
			resp := (&ClaimValidator{lookup: lk, decoder: dec}).Handle(ctx, request(t, admissionv1.Create, "PersistentVolumeClaim", tt.claim, nil))

			pv, perr := provision(ctx, t, base, node, objs, tt.claim)
			if resp.Allowed != tt.want || (perr == nil) != tt.want {
				t.Fatalf("admitted = %v (%s), provisioned = %v (%v); want both %v", resp.Allowed, message(resp), perr == nil, perr, tt.want)
			}
			if tt.want {
				if pv == nil {
					t.Fatal("provisioned without a PV")
				}
				return
			}
			// Admission's reasons, one line each, are the provisioner's.
			var reasons []string
			if d := resp.Result.Details; d != nil {
				for _, c := range d.Causes {
					reasons = append(reasons, c.Field+": "+c.Message)
				}
			} else {
				reasons = []string{strings.TrimPrefix(message(resp), `StorageClass "broken" is invalid, so no claim of it can be provisioned; ask the cluster admin to re-create it: `)}
			}
			for _, r := range reasons {
				if !strings.Contains(perr.Error(), r) {
					t.Errorf("admission refused with %q, the provisioner with %q", r, perr)
				}
			}
		})
	}
}

// boundSource is a claim team/src of class hostpath, 2Mi, bound to a PV of
// ours on node whose directory is below base.
func boundSource(base, node string) (*corev1.PersistentVolumeClaim, *corev1.PersistentVolume) {
	src := claim(withClass("hostpath"), withSize("2Mi"), func(c *corev1.PersistentVolumeClaim) {
		c.Name, c.UID = "src", "uid-src"
		c.Spec.VolumeName = "pvc-uid-src"
		c.Status.Phase = corev1.ClaimBound
		c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Mi")}
	})
	rel := "team-src-pvc-uid-src"
	t := corev1.HostPathDirectory
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-uid-src", Annotations: map[string]string{
			policy.AnnNode: node, policy.AnnPath: rel, policy.AnnBasePath: base, policy.AnnQuota: "none",
		}},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName:       "hostpath",
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Mi")},
			ClaimRef:               &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "team", Name: "src", UID: "uid-src"},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: filepath.Join(base, rel), Type: &t}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
	}
	return src, pv
}

// provision runs the claim through a provisioner on node, as the library
// would for an Immediate claim of the lease holder.
func provision(ctx context.Context, t *testing.T, base, node string, objs []client.Object, claim *corev1.PersistentVolumeClaim) (*corev1.PersistentVolume, error) {
	t.Helper()
	store, err := volume.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var copies []client.Object
	for _, o := range objs {
		copies = append(copies, o.DeepCopyObject().(client.Object))
	}
	reader := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(copies...).WithStatusSubresource(&corev1.PersistentVolumeClaim{}).Build()
	p := provisioner.New(provisioner.Config{
		NodeName: node, Store: store, IsLeader: func() bool { return true }, Reader: reader, Recorder: record.NewFakeRecorder(100),
	})
	name, _ := policy.ClaimClassName(claim)
	var class *storagev1.StorageClass
	for _, o := range objs {
		if sc, ok := o.(*storagev1.StorageClass); ok && sc.Name == name {
			class = sc
		}
	}
	pv, _, err := p.Provision(ctx, controller.ProvisionOptions{StorageClass: class, PVName: "pvc-" + string(claim.UID), PVC: claim.DeepCopy()})
	return pv, err
}
