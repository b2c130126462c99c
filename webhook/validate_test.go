package webhook

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2/ktesting"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v10/controller"

	"github.com/mazdermind/hostpath-provisioner/pkg/basepath"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/provisioner"
	"github.com/mazdermind/hostpath-provisioner/pkg/volume"
)

func TestClaimValidator(t *testing.T) {
	block := corev1.PersistentVolumeBlock
	ns := namespace("team", map[string]string{policy.AnnNamespaceMaxSize: "10Gi"})
	objs := []client.Object{
		ns,
		storageClass("hostpath", policy.ProvisionerName, withParams(policy.ParamMaxSize, "5Gi")),
		storageClass("legacy", policy.LegacyProvisionerName),
		storageClass("labelled", policy.ProvisionerName, withParams(policy.ParamPathPattern, `{{ .PVC.Namespace }}/{{ index .PVC.Labels "app" }}-{{ .PVName }}`)),
		storageClass("broken", policy.ProvisionerName, withParams("pathPatern", "x")),
		storageClass("by-dir", policy.ProvisionerName, withParams(policy.ParamPathPattern, `{{ .PVC.Namespace }}/{{ index .PVC.Annotations "dir" }}`)),
		storageClass("enforced", policy.ProvisionerName, withParams(policy.ParamQuota, string(policy.QuotaRequired))),
		persistentVolume("pv-unenforced", "none", "team", "data", "1234"),
		persistentVolume("pv-enforced", "btrfs", "team", "data", "1234"),
		persistentVolume("pv-of-another-claim", "none", "team", "other", "999"),
		storageClass("ebs", "ebs.csi.aws.com"),
		claim(func(c *corev1.PersistentVolumeClaim) { c.Name = "src" }, withClass("hostpath"), withSize("2Gi")),
	}
	cloneOf := func(name string) claimOpt {
		return func(c *corev1.PersistentVolumeClaim) {
			c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: name}
		}
	}
	tests := []struct {
		name        string
		op          admissionv1.Operation
		claim, old  *corev1.PersistentVolumeClaim
		wantAllowed bool
		wantCode    int32
		wantMessage []string
		wantWarning []string
	}{
		{name: "a valid claim of our class is allowed", claim: claim(withClass("hostpath")), wantAllowed: true},
		{name: "a claim of the legacy provisioner's class is validated too", claim: claim(withClass("legacy"), withSize("0")),
			wantCode: http.StatusUnprocessableEntity, wantMessage: []string{"must be larger than zero"}},
		{name: "a claim of another provisioner's class is allowed with the reason", claim: claim(withClass("ebs"), withSize("0")),
			wantAllowed: true, wantMessage: []string{`belongs to provisioner "ebs.csi.aws.com"`}},
		{name: "a claim with the empty class is allowed with the reason", claim: claim(withClass("")), wantAllowed: true, wantMessage: []string{"no StorageClass"}},
		{name: "a claim of a missing class is allowed with the reason", claim: claim(withClass("nope")), wantAllowed: true, wantMessage: []string{`"nope" does not exist`}},
		{name: "a claim naming its class in the beta annotation is validated", claim: claim(withAnnotation(policy.AnnBetaStorageClass, "hostpath"), withSize("6Gi")),
			wantCode: http.StatusUnprocessableEntity, wantMessage: []string{"must be at most 5Gi"}},
		{name: "a claim larger than the class maxSize is denied naming field, value and limit", claim: claim(withClass("hostpath"), withSize("6Gi")),
			wantCode: http.StatusUnprocessableEntity, wantMessage: []string{"spec.resources.requests[storage]", "6Gi", "at most 5Gi", policy.ParamMaxSize}},
		{name: "a claim larger than the namespace max-size is denied", claim: claim(withClass("legacy"), withSize("11Gi")),
			wantCode: http.StatusUnprocessableEntity, wantMessage: []string{"at most 10Gi", policy.AnnNamespaceMaxSize}},
		{name: "a block-mode claim is denied", claim: claim(withClass("hostpath"), func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeMode = &block }),
			wantCode: http.StatusUnprocessableEntity, wantMessage: []string{"spec.volumeMode", "Block", "Filesystem"}},
		{name: "a clone of a claim of the same class and size is allowed", claim: claim(withClass("hostpath"), withSize("2Gi"), cloneOf("src")), wantAllowed: true},
		{name: "a clone smaller than its source is denied", claim: claim(withClass("hostpath"), withSize("1Gi"), cloneOf("src")),
			wantCode: http.StatusUnprocessableEntity, wantMessage: []string{"spec.resources.requests[storage]", "1Gi", "at least 2Gi", "source claim src"}},
		{name: "a clone in another class than its source is denied", claim: claim(withClass("legacy"), withSize("2Gi"), cloneOf("src")),
			wantCode: http.StatusUnprocessableEntity, wantMessage: []string{"spec.storageClassName", "legacy", `must be "hostpath"`}},
		{name: "a clone of a claim that does not exist yet is allowed with a warning", claim: claim(withClass("hostpath"), cloneOf("later")),
			wantAllowed: true, wantWarning: []string{"later", "does not exist yet", "Pending"}},
		{name: "a snapshot data source is denied", claim: claim(withClass("hostpath"), func(c *corev1.PersistentVolumeClaim) {
			g := "snapshot.storage.k8s.io"
			c.Spec.DataSourceRef = &corev1.TypedObjectReference{APIGroup: &g, Kind: "VolumeSnapshot", Name: "snap"}
		}), wantCode: http.StatusUnprocessableEntity, wantMessage: []string{"spec.dataSourceRef.kind", "VolumeSnapshot", "PersistentVolumeClaim"}},
		{name: "a claim with a misspelt hostpath annotation is denied with a hint", claim: claim(withClass("hostpath"), withAnnotation("hostpath.dev/on-delet", "retain")),
			wantCode: http.StatusUnprocessableEntity, wantMessage: []string{"hostpath.dev/on-delet", "did you mean", policy.AnnOnDelete}},
		{name: "a claim with an invalid on-delete value is denied", claim: claim(withClass("hostpath"), withAnnotation(policy.AnnOnDelete, "shred")),
			wantCode: http.StatusUnprocessableEntity, wantMessage: []string{"shred", "retain"}},
		{name: "every problem is reported at once", claim: claim(withClass("hostpath"), withSize("6Gi"), withAnnotation(policy.AnnOnDelete, "shred")),
			wantCode: http.StatusUnprocessableEntity, wantMessage: []string{"at most 5Gi", "shred"}},
		{name: "a claim whose labels make the pathPattern unsafe is denied naming the label", claim: claim(withClass("labelled"), func(c *corev1.PersistentVolumeClaim) { c.Labels = map[string]string{"app": "../x"} }),
			wantCode: http.StatusUnprocessableEntity, wantMessage: []string{`metadata.labels[app]: Invalid value: "../x": is used by the StorageClass "labelled" pathPattern as a path component and must not contain '/'`}},
		{name: "a claim whose annotation would put its directory inside another volume is denied naming the annotation", claim: claim(withClass("by-dir"), withAnnotation("dir", "a/l/data")),
			wantCode: http.StatusUnprocessableEntity, wantMessage: []string{`PersistentVolumeClaim "data" is invalid`, `metadata.annotations[dir]: Invalid value: "a/l/data": is used by the StorageClass "by-dir" pathPattern as a path component and must not contain '/'`}},
		{name: "a claim whose annotation names the provisioner's own files is denied", claim: claim(withClass("by-dir"), withAnnotation("dir", ".hostpath-provisioner")),
			wantCode: http.StatusUnprocessableEntity, wantMessage: []string{"metadata.annotations[dir]", "must not start with '.'"}},
		{name: "a claim that lacks the annotation its directory is named by is denied", claim: claim(withClass("by-dir")),
			wantCode: http.StatusUnprocessableEntity, wantMessage: []string{"metadata.annotations[dir]: Required value"}},
		{name: "a claim whose values make a directory name too long is denied naming the pattern", claim: claim(withClass("labelled"), func(c *corev1.PersistentVolumeClaim) {
			c.Labels = map[string]string{"app": strings.Repeat("x", 250)}
		}), wantCode: http.StatusUnprocessableEntity, wantMessage: []string{"directory for this claim cannot be made", "labelled", "longer than 255 bytes"}},
		{name: "a claim of an invalid class is denied with the class's problem", claim: claim(withClass("broken")),
			wantCode: http.StatusForbidden, wantMessage: []string{`StorageClass "broken" is invalid`, "pathPatern", "did you mean"}},
		{name: "a shared-access claim is allowed with a warning about one node", claim: claim(withClass("hostpath"), func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}), wantAllowed: true, wantWarning: []string{"ReadWriteMany", "one node"}},
		{name: "an update with a new invalid annotation is denied", op: admissionv1.Update,
			old: claim(withClass("hostpath")), claim: claim(withClass("hostpath"), withAnnotation(policy.AnnOnDelete, "shred")),
			wantCode: http.StatusUnprocessableEntity, wantMessage: []string{"shred"}},
		{name: "an update that keeps an old invalid annotation is allowed so binding and deletion still work", op: admissionv1.Update,
			old:         claim(withClass("hostpath"), withAnnotation(policy.AnnOnDelete, "shred")),
			claim:       claim(withClass("hostpath"), withAnnotation(policy.AnnOnDelete, "shred"), func(c *corev1.PersistentVolumeClaim) { c.Finalizers = nil; c.Spec.VolumeName = "pv" }),
			wantAllowed: true},
		{name: "an update that changes on-delete to a valid value is allowed", op: admissionv1.Update,
			old: claim(withClass("hostpath")), claim: claim(withClass("hostpath"), withAnnotation(policy.AnnOnDelete, "retain")), wantAllowed: true},
		{name: "an update that grows the claim beyond maxSize is denied", op: admissionv1.Update,
			old: claim(withClass("hostpath")), claim: claim(withClass("hostpath"), withSize("6Gi")),
			wantCode: http.StatusUnprocessableEntity, wantMessage: []string{"at most 5Gi"}},
		{name: "an update that does not change the size does not check it", op: admissionv1.Update,
			old: claim(withClass("hostpath"), withSize("6Gi")), claim: claim(withClass("hostpath"), withSize("6Gi"), withAnnotation("x", "y")), wantAllowed: true},
		{name: "growth of an unenforced volume of a quota: required class is denied naming the parameter", op: admissionv1.Update,
			old: claim(withClass("enforced"), boundTo("pv-unenforced")), claim: claim(withClass("enforced"), withSize("2Gi"), boundTo("pv-unenforced")),
			wantCode: http.StatusUnprocessableEntity, wantMessage: []string{"spec.resources.requests[storage]", "2Gi", `parameter quota is "required"`, "hostpath.dev/quota=none"}},
		{name: "growth of an enforced volume of a quota: required class is allowed", op: admissionv1.Update,
			old: claim(withClass("enforced"), boundTo("pv-enforced")), claim: claim(withClass("enforced"), withSize("2Gi"), boundTo("pv-enforced")), wantAllowed: true},
		{name: "a claim that names another claim's volume learns nothing from it and is left to the resizer", op: admissionv1.Update,
			old: claim(withClass("enforced"), boundTo("pv-of-another-claim")), claim: claim(withClass("enforced"), withSize("2Gi"), boundTo("pv-of-another-claim")), wantAllowed: true},
		{name: "growth of an unenforced volume of a quota: auto class is allowed with a warning", op: admissionv1.Update,
			old: claim(withClass("hostpath"), boundTo("pv-unenforced")), claim: claim(withClass("hostpath"), withSize("2Gi"), boundTo("pv-unenforced")),
			wantAllowed: true, wantWarning: []string{"not enforced", "recorded size only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lk, _ := testLookup(t, objs...)
			v := claimValidatorWebhook(testScheme(t), lk)
			op := tt.op
			if op == "" {
				op = admissionv1.Create
			}
			var old runtime.Object
			if tt.old != nil {
				old = tt.old
			}
			resp := v.Handle(context.Background(), request(t, op, "PersistentVolumeClaim", tt.claim, old))
			if resp.Allowed != tt.wantAllowed {
				t.Fatalf("allowed = %v, want %v: %s", resp.Allowed, tt.wantAllowed, message(resp))
			}
			if !tt.wantAllowed && resp.Result.Code != tt.wantCode {
				t.Errorf("code = %d, want %d", resp.Result.Code, tt.wantCode)
			}
			containsAll(t, "message", message(resp), tt.wantMessage)
			containsAll(t, "warnings", strings.Join(resp.Warnings, "\n"), tt.wantWarning)
		})
	}
}

func TestDeniedClaimsListEveryFieldErrorAsACause(t *testing.T) {
	lk, _ := testLookup(t, namespace("team", nil), storageClass("hostpath", policy.ProvisionerName, withParams(policy.ParamMaxSize, "5Gi")))
	v := claimValidatorWebhook(testScheme(t), lk)
	resp := v.Handle(context.Background(), request(t, admissionv1.Create, "PersistentVolumeClaim",
		claim(withClass("hostpath"), withSize("6Gi"), withAnnotation(policy.AnnOnDelete, "shred")), nil))
	if resp.Result.Reason != metav1.StatusReasonInvalid || resp.Result.Details == nil || len(resp.Result.Details.Causes) != 2 {
		t.Fatalf("want an Invalid status with 2 causes (kubectl prints one line each), got %+v", resp.Result)
	}
	if resp.Result.Details.Kind != "PersistentVolumeClaim" || resp.Result.Details.Name != "data" {
		t.Errorf("details name the wrong object: %+v", resp.Result.Details)
	}
}

func TestClaimValidatorTakesTheRequestNamespaceForAClaimWithoutOne(t *testing.T) {
	lk, _ := testLookup(t, namespace("team", map[string]string{policy.AnnNamespaceMaxSize: "10Gi"}), storageClass("hostpath", policy.ProvisionerName))
	req := request(t, admissionv1.Create, "PersistentVolumeClaim", claim(withClass("hostpath"), withSize("11Gi"), func(c *corev1.PersistentVolumeClaim) { c.Namespace = "" }), nil)
	req.Namespace = "team"
	resp := claimValidatorWebhook(testScheme(t), lk).Handle(context.Background(), req)
	if resp.Allowed || resp.Result.Code != http.StatusUnprocessableEntity {
		t.Fatalf("allowed = %v, code = %d, want a 422 refusal: %s", resp.Allowed, resp.Result.Code, message(resp))
	}
	containsAll(t, "message", message(resp), []string{"at most 10Gi", policy.AnnNamespaceMaxSize})
}

func TestClassValidator(t *testing.T) {
	recycle := corev1.PersistentVolumeReclaimRecycle
	yes := true
	tests := []struct {
		name        string
		op          admissionv1.Operation
		existing    []client.Object
		class       *storagev1.StorageClass
		wantAllowed bool
		wantMessage []string
		wantWarning []string
	}{
		{name: "a class with valid parameters is allowed", class: storageClass("fast", policy.ProvisionerName, withParams(policy.ParamOnDelete, "archive", policy.ParamMode, "0770")), wantAllowed: true},
		{name: "a class of the legacy provisioner is validated too", class: storageClass("old", policy.LegacyProvisionerName, withParams("colour", "blue")),
			wantMessage: []string{"parameters[colour]", "unknown parameter"}},
		{name: "a class with an unknown parameter is denied with a hint", class: storageClass("fast", policy.ProvisionerName, withParams("pathPatern", "x")),
			wantMessage: []string{"parameters[pathPatern]", "did you mean", policy.ParamPathPattern}},
		{name: "a class whose pathPattern escapes the base path is denied", class: storageClass("fast", policy.ProvisionerName, withParams(policy.ParamPathPattern, "../{{ .PVName }}")),
			wantMessage: []string{"parameters[pathPattern]", ".."}},
		{name: "a class with reclaimPolicy Recycle is denied", class: storageClass("fast", policy.ProvisionerName, func(sc *storagev1.StorageClass) { sc.ReclaimPolicy = &recycle }),
			wantMessage: []string{"reclaimPolicy", "Recycle", "Delete", "Retain"}},
		{name: "a hostPath class with mount options is denied", class: storageClass("fast", policy.ProvisionerName, func(sc *storagev1.StorageClass) { sc.MountOptions = []string{"noatime"} }),
			wantMessage: []string{"mountOptions", "noatime"}},
		{name: "a local class with mount options is allowed", class: storageClass("fast", policy.ProvisionerName, withParams(policy.ParamVolumeType, "local"), func(sc *storagev1.StorageClass) { sc.MountOptions = []string{"noatime"} }),
			wantAllowed: true},
		{name: "a class allowing expansion without quota is allowed with a warning", class: storageClass("fast", policy.ProvisionerName, func(sc *storagev1.StorageClass) {
			sc.AllowVolumeExpansion = &yes
			sc.Parameters = map[string]string{policy.ParamQuota: string(policy.QuotaOff)}
		}),
			wantAllowed: true, wantWarning: []string{"allowVolumeExpansion"}},
		{name: "an update of an invalid class is allowed with a warning because its fields are immutable", op: admissionv1.Update,
			class: storageClass("fast", policy.ProvisionerName, withParams("pathPatern", "x")), wantAllowed: true, wantWarning: []string{"delete and re-create", "pathPatern"}},
		{name: "another provisioner's class is allowed whatever its parameters", class: storageClass("ebs", "ebs.csi.aws.com", withParams("type", "gp3")),
			wantAllowed: true, wantMessage: []string{"not ours"}},
		{name: "marking another provisioner's class default warns that it takes precedence over ours", class: storageClass("ebs", "ebs.csi.aws.com", markedDefault),
			wantAllowed: true, wantWarning: []string{"runs before admission webhooks", `"hostpath" only applies in namespaces annotated`}},
		{name: "a class whose volumes would hold another class's is denied naming both", existing: []client.Object{storageClass("data", policy.ProvisionerName, withParams(policy.ParamPathPattern, "{{ .PVC.Namespace }}/{{ .PVC.Name }}/data"))},
			class:       storageClass("whole", policy.ProvisionerName, withParams(policy.ParamPathPattern, "{{ .PVC.Namespace }}")),
			wantMessage: []string{`StorageClass.storage.k8s.io "whole" is invalid`, `parameters[pathPattern]: Invalid value: "{{ .PVC.Namespace }}"`, `StorageClass "data" (pathPattern "{{ .PVC.Namespace }}/{{ .PVC.Name }}/data")`, `"sample-namespace/claim-a/data"`, `inside "sample-namespace"`}},
		{name: "a class whose volumes would be inside another class's is denied naming both", existing: []client.Object{storageClass("whole", policy.LegacyProvisionerName, withParams(policy.ParamPathPattern, "{{ .PVC.Namespace }}"))},
			class:       storageClass("data", policy.ProvisionerName, withParams(policy.ParamPathPattern, "{{ .PVC.Namespace }}/{{ .PVC.Name }}/data")),
			wantMessage: []string{`StorageClass "data" would make "sample-namespace/claim-a/data"`, `inside "sample-namespace" that StorageClass "whole" would make`}},
		{name: "another provisioner's classes do not nest with ours", existing: []client.Object{storageClass("ebs", "ebs.csi.aws.com", withParams(policy.ParamPathPattern, "{{ .PVC.Namespace }}"))},
			class: storageClass("data", policy.ProvisionerName, withParams(policy.ParamPathPattern, "{{ .PVC.Namespace }}/{{ .PVC.Name }}/data")), wantAllowed: true},
		{name: "a class whose depth depends on a label is denied", class: storageClass("deep", policy.ProvisionerName, withParams(policy.ParamPathPattern, `{{ .PVC.Namespace }}/{{ .PVC.Name }}{{ if .PVC.Labels.deep }}/{{ .PVName }}{{ end }}`)),
			wantMessage: []string{"could put one volume's directory inside another's", `StorageClass "deep" would make`}},
		{name: "an update of a class that nests with another is allowed, parameters being immutable", op: admissionv1.Update,
			existing: []client.Object{storageClass("data", policy.ProvisionerName, withParams(policy.ParamPathPattern, "{{ .PVC.Namespace }}/{{ .PVC.Name }}/data"))},
			class:    storageClass("whole", policy.ProvisionerName, withParams(policy.ParamPathPattern, "{{ .PVC.Namespace }}")), wantAllowed: true},
		{name: "marking a second class default warns about the first", existing: []client.Object{storageClass("standard", "x", markedDefault)},
			class: storageClass("hostpath", policy.ProvisionerName, markedDefault), wantAllowed: true, wantWarning: []string{`"standard" is also marked`}},
		{name: "a class on a configured base path is allowed", class: storageClass("bulk", policy.ProvisionerName, withParams(policy.ParamBasePath, "bulk")), wantAllowed: true},
		{name: "a class on an unknown base path is denied listing the known ones", class: storageClass("slow", policy.ProvisionerName, withParams(policy.ParamBasePath, "slow")),
			wantMessage: []string{`parameters[basePath]: Unsupported value: "slow": supported values: "default", "bulk"`}},
		{name: "classes on different base paths do not nest", existing: []client.Object{storageClass("data", policy.ProvisionerName, withParams(policy.ParamPathPattern, "{{ .PVC.Namespace }}/{{ .PVC.Name }}/data"))},
			class: storageClass("whole", policy.ProvisionerName, withParams(policy.ParamPathPattern, "{{ .PVC.Namespace }}", policy.ParamBasePath, "bulk")), wantAllowed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lk, _ := testLookup(t, tt.existing...)
			lk.basePaths = []string{policy.DefaultBasePathName, "bulk"} // as configured with --base-path-config
			v := classValidatorWebhook(testScheme(t), Options{ProvisionerName: policy.ProvisionerName, DefaultClass: "hostpath"}, lk)
			op := tt.op
			if op == "" {
				op = admissionv1.Create
			}
			var old runtime.Object
			if op == admissionv1.Update {
				old = tt.class
			}
			tt.class.TypeMeta = metav1.TypeMeta{APIVersion: "storage.k8s.io/v1", Kind: "StorageClass"}
			resp := v.Handle(context.Background(), request(t, op, "StorageClass", tt.class, old))
			if resp.Allowed != tt.wantAllowed {
				t.Fatalf("allowed = %v, want %v: %s", resp.Allowed, tt.wantAllowed, message(resp))
			}
			containsAll(t, "message", message(resp), tt.wantMessage)
			containsAll(t, "warnings", strings.Join(resp.Warnings, "\n"), tt.wantWarning)
		})
	}
}

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

			lk, _ := testLookup(t, objs...)
			resp := claimValidatorWebhook(testScheme(t), lk).Handle(ctx, request(t, admissionv1.Create, "PersistentVolumeClaim", tt.claim, nil))

			pv, perr := provision(ctx, t, base, node, lk.cache, classes, tt.claim)
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
		c.Status.Capacity = c.Spec.Resources.Requests.DeepCopy()
	})
	rel := "team-src-pvc-uid-src"
	t := corev1.HostPathDirectory
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-uid-src", Annotations: map[string]string{
			policy.AnnNode: node, policy.AnnPath: rel, policy.AnnBasePath: base, policy.AnnQuota: "none",
		}},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName:       "hostpath",
			Capacity:               src.Spec.Resources.Requests.DeepCopy(),
			ClaimRef:               &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "team", Name: "src", UID: "uid-src"},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: filepath.Join(base, rel), Type: &t}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
	}
	return src, pv
}

// provision runs the claim through a provisioner on node that reads what
// admission reads, as the library would for an Immediate claim of the
// lease holder.
func provision(ctx context.Context, t *testing.T, base, node string, reader client.Reader, classes []*storagev1.StorageClass, claim *corev1.PersistentVolumeClaim) (*corev1.PersistentVolume, error) {
	t.Helper()
	store, err := volume.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	p := provisioner.New(provisioner.Config{
		NodeName: node, Stores: basepath.Single(policy.DefaultBasePathName, store), IsLeader: func() bool { return true }, Reader: reader, Recorder: record.NewFakeRecorder(100),
	})
	name, _ := policy.ClaimClassName(claim)
	var class *storagev1.StorageClass
	for _, sc := range classes {
		if sc.Name == name {
			class = sc
		}
	}
	pv, _, err := p.Provision(ctx, controller.ProvisionOptions{StorageClass: class, PVName: "pvc-" + string(claim.UID), PVC: claim.DeepCopy()})
	return pv, err
}
