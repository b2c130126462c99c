package policy

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func claimOf(size string, mutate ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}}
	if size != "" {
		c.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}
	}
	for _, m := range mutate {
		m(c)
	}
	return c
}

// classOf is the parsed parameters of a valid class.
func classOf(t *testing.T, params map[string]string) *ClassParameters {
	t.Helper()
	p, errs := ValidateStorageClass(&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Parameters: params}, nil)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	return p
}

// The ways an update may bring a rule into play, for the cases that
// ValidateClaimUpdate checks too: from a claim whose request differs (a
// size rule), or from one without the claim's annotations.
func requestDiffers(c *corev1.PersistentVolumeClaim) {
	c.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1")}
}

func withoutAnnotations(c *corev1.PersistentVolumeClaim) { c.Annotations = nil }

func annotated(kv ...string) func(*corev1.PersistentVolumeClaim) {
	return func(c *corev1.PersistentVolumeClaim) {
		c.Annotations = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			c.Annotations[kv[i]] = kv[i+1]
		}
	}
}

func labelled(kv ...string) func(*corev1.PersistentVolumeClaim) {
	return func(c *corev1.PersistentVolumeClaim) {
		c.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			c.Labels[kv[i]] = kv[i+1]
		}
	}
}

// TestClaimRules runs every claim rule through ValidateNewClaim and, for
// the rules an update can break (size, annotations), the same case through
// ValidateClaimUpdate from a claim that did not have the change.
func TestClaimRules(t *testing.T) {
	block := corev1.PersistentVolumeBlock
	sized := map[string]string{"minSize": "10Mi", "maxSize": "1Gi"}
	byDir := map[string]string{"pathPattern": `{{ .PVC.Namespace }}/{{ index .PVC.Annotations "dir" }}`}
	hostpath, other := "hostpath", "other"
	source := claimOf("2Gi", func(c *corev1.PersistentVolumeClaim) {
		c.Name = "src"
		c.Spec.StorageClassName = &hostpath
		c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("3Gi")}
	})
	cloneOfSrc := func(c *corev1.PersistentVolumeClaim) {
		c.Spec.StorageClassName = &hostpath
		c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "src"}
	}
	tests := []struct {
		name        string
		params      map[string]string
		nsAnn       map[string]string
		source      *corev1.PersistentVolumeClaim
		claim       *corev1.PersistentVolumeClaim
		update      func(*corev1.PersistentVolumeClaim) // the old claim of an update that brings the rule into play; nil: a create-only rule
		wantErr     string
		wantWarning string
	}{
		// size
		{name: "a size inside the class limits is valid", params: sized, claim: claimOf("100Mi"), update: requestDiffers},
		{name: "a claim without a size is refused", params: sized, claim: claimOf(""), update: requestDiffers,
			wantErr: "spec.resources.requests[storage]: Required value: a size is required"},
		{name: "a zero size is refused", params: sized, claim: claimOf("0"), update: requestDiffers,
			wantErr: `spec.resources.requests[storage]: Invalid value: "0": must be larger than zero`},
		{name: "a size below minSize is refused", params: sized, claim: claimOf("1Mi"), update: requestDiffers,
			wantErr: `Invalid value: "1Mi": must be at least 10Mi (StorageClass parameter minSize)`},
		{name: "a size above maxSize is refused", params: sized, claim: claimOf("2Gi"), update: requestDiffers,
			wantErr: `Invalid value: "2Gi": must be at most 1Gi (StorageClass parameter maxSize)`},
		{name: "a size above the namespace limit is refused", params: sized, claim: claimOf("600Mi"), nsAnn: map[string]string{AnnNamespaceMaxSize: "500Mi"}, update: requestDiffers,
			wantErr: "must be at most 500Mi (namespace annotation hostpath.dev/max-size)"},
		{name: "a broken namespace limit is reported, not ignored", params: sized, claim: claimOf("10Mi"), nsAnn: map[string]string{AnnNamespaceMaxSize: "lots"}, update: requestDiffers,
			wantErr: `hostpath.dev/max-size="lots" is not a positive quantity`},

		// spec
		{name: "a plain filesystem claim is valid", claim: claimOf("1Gi")},
		{name: "a block claim is refused", claim: claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeMode = &block }),
			wantErr: `spec.volumeMode: Unsupported value: "Block": supported values: "Filesystem"`},
		{name: "a clone of a claim is valid", claim: claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "src"}
		})},
		{name: "a snapshot source is refused naming what is supported", claim: claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
			g := "snapshot.storage.k8s.io"
			c.Spec.DataSourceRef = &corev1.TypedObjectReference{APIGroup: &g, Kind: "VolumeSnapshot", Name: "snap"}
		}), wantErr: `spec.dataSourceRef.kind: Unsupported value: "VolumeSnapshot.snapshot.storage.k8s.io": supported values: "PersistentVolumeClaim (a clone of another claim of the same class)", "a kind that a volume populator fills`},
		{name: "a source claim in another namespace is refused", claim: claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.DataSourceRef = &corev1.TypedObjectReference{Kind: "PersistentVolumeClaim", Name: "src", Namespace: &other}
		}), wantErr: `spec.dataSourceRef.namespace: Invalid value: "other": a clone's source must be a claim in the clone's own namespace`},
		{name: "a selector is valid with a warning: it may match a pre-made volume of the class", claim: claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.Selector = &metav1.LabelSelector{} }),
			wantWarning: "spec.selector: a selector only matches pre-made PersistentVolumes of this class; hostpath-provisioner does not provision for a claim with a selector"},
		{name: "a populator's data source is valid with a warning that the populator fills it", claim: claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
			g := "hello.example.com"
			c.Spec.DataSourceRef = &corev1.TypedObjectReference{APIGroup: &g, Kind: "Hello", Name: "example-hello"}
		}), wantWarning: "spec.dataSourceRef: Hello.hello.example.com is filled by its volume populator, not by hostpath-provisioner"},
		{name: "a core kind other than a claim is refused naming both kinds of source allowed", claim: claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.DataSourceRef = &corev1.TypedObjectReference{Kind: "ConfigMap", Name: "cm"}
		}), wantErr: `spec.dataSourceRef.kind: Unsupported value: "ConfigMap": supported values: "PersistentVolumeClaim (a clone of another claim of the same class)", "a kind that a volume populator fills (any API group but the core group and snapshot.storage.k8s.io)"`},

		// clone source
		{name: "a clone of the source's class and bound size is valid", source: source, claim: claimOf("3Gi", cloneOfSrc)},
		{name: "a clone larger than its source is valid", source: source, claim: claimOf("5Gi", cloneOfSrc)},
		{name: "a clone smaller than the source's capacity is refused", source: source, claim: claimOf("2Gi", cloneOfSrc),
			wantErr: `spec.resources.requests[storage]: Invalid value: "2Gi": must be at least 3Gi, the size of the source claim src`},
		{name: "a clone of another class is refused", source: source, claim: claimOf("3Gi", cloneOfSrc, func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = &other }),
			wantErr: `spec.storageClassName: Invalid value: "other": must be "hostpath", the class of the source claim src`},
		{name: "a claim that names no source is not held to one", source: source, claim: claimOf("1Gi")},

		// hostpath.dev/ annotations
		{name: "no annotations are valid", claim: claimOf("1Gi"), update: withoutAnnotations},
		{name: "foreign annotations are not ours to judge", claim: claimOf("1Gi", annotated("example.com/x", "y")), update: withoutAnnotations},
		{name: "each on-delete value is valid", claim: claimOf("1Gi", annotated(AnnOnDelete, "archive")), update: withoutAnnotations},
		{name: "a bad on-delete value names the allowed values", claim: claimOf("1Gi", annotated(AnnOnDelete, "keep")), update: withoutAnnotations,
			wantErr: `metadata.annotations[hostpath.dev/on-delete]: Unsupported value: "keep": supported values: "delete", "retain", "archive"`},
		{name: "a typo in our prefix gets a suggestion", claim: claimOf("1Gi", annotated("hostpath.dev/ondelete", "retain")), update: withoutAnnotations,
			wantErr: `metadata.annotations[hostpath.dev/ondelete]: Invalid value: "retain": unknown annotation, did you mean "hostpath.dev/on-delete"?`},

		// the directory
		{name: "an annotation that is one path component is valid", params: byDir, claim: claimOf("1Gi", annotated("dir", "a"))},
		{name: "an annotation with a '/' is refused naming it", params: byDir, claim: claimOf("1Gi", annotated("dir", "a/l/data")),
			wantErr: `metadata.annotations[dir]: Invalid value: "a/l/data": is used by the StorageClass "x" pathPattern as a path component and must not contain '/'`},
		{name: "an annotation '..' is refused naming it", params: byDir, claim: claimOf("1Gi", annotated("dir", "..")),
			wantErr: `metadata.annotations[dir]: Invalid value: "..": is used by the StorageClass "x" pathPattern as a path component and must not be "." or ".."`},
		{name: "an annotation '.' is refused naming it", params: byDir, claim: claimOf("1Gi", annotated("dir", ".")),
			wantErr: `metadata.annotations[dir]: Invalid value: ".": is used by the StorageClass "x" pathPattern as a path component and must not be "." or ".."`},
		{name: "an annotation naming the provisioner's own files is refused", params: byDir, claim: claimOf("1Gi", annotated("dir", ".hostpath-provisioner")),
			wantErr: `metadata.annotations[dir]: Invalid value: ".hostpath-provisioner": is used by the StorageClass "x" pathPattern as a path component and must not start with '.'`},
		{name: "an empty annotation that is a whole component is refused", params: byDir, claim: claimOf("1Gi", annotated("dir", "")),
			wantErr: `metadata.annotations[dir]: Invalid value: "": is used by the StorageClass "x" pathPattern as a path component and must not be empty`},
		{name: "a missing annotation that is a whole component is required", params: byDir, claim: claimOf("1Gi"),
			wantErr: `metadata.annotations[dir]: Required value: is used by the StorageClass "x" pathPattern as a path component`},
		{name: "an annotation longer than a path component is refused naming it", params: byDir, claim: claimOf("1Gi", annotated("dir", strings.Repeat("x", 256))),
			wantErr: `metadata.annotations[dir]: Invalid value: "` + strings.Repeat("x", 256) + `": is used by the StorageClass "x" pathPattern as a path component and must be at most 255 bytes`},
		{name: "a label with a '/' is refused naming it", params: map[string]string{"pathPattern": `{{ .PVC.Namespace }}/{{ .PVC.Labels.app }}-{{ .PVName }}`},
			claim: claimOf("1Gi", labelled("app", "../x")), wantErr: `metadata.labels[app]: Invalid value: "../x": is used by the StorageClass "x" pathPattern as a path component and must not contain '/'`},
		{name: "a value with dots inside a component is valid", params: map[string]string{"pathPattern": `{{ .PVC.Namespace }}/v{{ .PVC.Annotations.dir }}`},
			claim: claimOf("1Gi", annotated("dir", "..hidden"))},
		{name: "an empty value inside a component is valid", params: map[string]string{"pathPattern": `{{ .PVC.Namespace }}/v{{ .PVC.Annotations.dir }}-{{ .PVName }}`},
			claim: claimOf("1Gi", annotated("dir", ""))},
		{name: "a value with a '/' that the pattern only compares is valid", params: map[string]string{"pathPattern": `{{ .PVC.Namespace }}/{{ if eq .PVC.Annotations.tier "a/b" }}fast{{ else }}slow{{ end }}-{{ .PVName }}`},
			claim: claimOf("1Gi", annotated("tier", "a/b"))},
		{name: "a comparison on a value without '/' picks its branch", params: map[string]string{"pathPattern": `{{ .PVC.Namespace }}/{{ if eq .PVC.Labels.tier "fast" }}fast/{{ end }}{{ .PVName }}`},
			claim: claimOf("1Gi", labelled("tier", "fast"))},
		{name: "foreign annotations with '/' that the pattern does not use are valid", params: byDir,
			claim: claimOf("1Gi", annotated("dir", "a", "kubectl.kubernetes.io/last-applied-configuration", `{"a":"b/c"}`, "volume.kubernetes.io/storage-provisioner", ProvisionerName))},
		{name: "a value too long for a component with the pattern's own text is refused naming the pattern", params: map[string]string{"pathPattern": `{{ .PVC.Namespace }}/{{ .PVC.Annotations.dir }}-{{ .PVName }}`},
			claim:   claimOf("1Gi", annotated("dir", strings.Repeat("x", 250))),
			wantErr: `metadata: Invalid value: "c": the directory for this claim cannot be made: StorageClass "x" parameters[pathPattern]: Invalid value: "{{ .PVC.Namespace }}/{{ .PVC.Annotations.dir }}-{{ .PVName }}": for claim ns/c: renders`},

		// warnings
		{name: "a shared-access claim is valid with a warning about one node", claim: claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}), wantWarning: "spec.accessModes: ReadWriteMany is allowed, but a hostpath volume lives on one node"},
		{name: "a single-node claim has no warning", claim: claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ClaimContext{Class: classOf(t, tt.params), ClassName: "x", NamespaceAnnotations: tt.nsAnn, Source: tt.source, PVName: "pvc-1"}
			path, errs, warnings := ValidateNewClaim(tt.claim, c)
			expectErrs(t, errs, tt.wantErr)
			if (path == "") != (len(errs) > 0) {
				t.Errorf("path %q with errors %v: a path is given exactly when the claim is valid", path, errs)
			}
			expectWarning(t, warnings, tt.wantWarning)
			if tt.update == nil {
				return
			}
			old := tt.claim.DeepCopy()
			tt.update(old)
			errs, _ = ValidateClaimUpdate(old, tt.claim, c)
			expectErrs(t, errs, tt.wantErr)
		})
	}
}

func TestValidateNewClaimNeedsTheClass(t *testing.T) {
	_, errs, _ := ValidateNewClaim(claimOf("1Gi"), ClaimContext{ClassName: "x"})
	expectErrs(t, errs, `spec.storageClassName: Internal error: the parameters of StorageClass "x" are not known`)
}

func TestValidateNewClaimRendersThePVNameTheClaimWillGet(t *testing.T) {
	class := classOf(t, nil)
	claim := claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) { c.UID = "1234" })
	if path, errs, _ := ValidateNewClaim(claim, ClaimContext{Class: class}); len(errs) > 0 || path != "ns-c-pvc-1234" {
		t.Errorf("at admission: %q %v, want ns-c-pvc-1234", path, errs)
	}
	claim.UID = ""
	if path, errs, _ := ValidateNewClaim(claim, ClaimContext{Class: class}); len(errs) > 0 || path != "ns-c-pvc-"+placeholderUID {
		t.Errorf("without a UID: %q %v", path, errs)
	}
	if path, _, _ := ValidateNewClaim(claim, ClaimContext{Class: class, PVName: "pvc-9"}); path != "ns-c-pvc-9" {
		t.Errorf("with a PV name: %q", path)
	}
}

// TestValidateClaimUpdate covers what only an update has: what it leaves
// unchanged is not checked, and growth is held to quota: required.
func TestValidateClaimUpdate(t *testing.T) {
	required := map[string]string{"quota": "required", "maxSize": "1Gi"}
	tests := []struct {
		name        string
		params      map[string]string // nil class when "invalid"
		invalid     bool
		nsAnn       map[string]string
		volumeQuota string
		old, claim  *corev1.PersistentVolumeClaim
		wantErr     string
		wantWarning string
	}{
		{name: "an update that keeps an old invalid annotation is valid, so binding and deletion still work",
			old: claimOf("1Gi", annotated(AnnOnDelete, "shred")), claim: claimOf("1Gi", annotated(AnnOnDelete, "shred", "x", "y"))},
		{name: "an update that does not change the size does not check it", params: map[string]string{"maxSize": "1Gi"},
			old: claimOf("6Gi"), claim: claimOf("6Gi", annotated("x", "y"))},
		{name: "growth of an enforced volume is valid under quota: required", params: required, volumeQuota: "btrfs",
			old: claimOf("100Mi"), claim: claimOf("200Mi")},
		{name: "growth of an unenforced volume is refused under quota: required, naming the parameter", params: required, volumeQuota: "none",
			old: claimOf("100Mi"), claim: claimOf("200Mi"),
			wantErr: `spec.resources.requests[storage]: Invalid value: "200Mi": cannot grow from 100Mi: the StorageClass "x" parameter quota is "required", but the size of this volume is not enforced (PV annotation hostpath.dev/quota=none)`},
		{name: "growth of a volume whose enforcement is not known is left to the resizer", params: required,
			old: claimOf("100Mi"), claim: claimOf("200Mi")},
		{name: "growth of an unenforced volume is valid with a warning under quota: auto", volumeQuota: "none",
			old: claimOf("100Mi"), claim: claimOf("200Mi"),
			wantWarning: "spec.resources.requests[storage]: the size of this volume is not enforced (PV annotation hostpath.dev/quota=none), so growing it to 200Mi changes the recorded size only"},
		{name: "a lower request is not growth", params: required, volumeQuota: "none",
			old: claimOf("200Mi"), claim: claimOf("100Mi")},
		{name: "growth beyond maxSize is refused whatever the quota", params: required, volumeQuota: "btrfs",
			old: claimOf("100Mi"), claim: claimOf("2Gi"), wantErr: "must be at most 1Gi (StorageClass parameter maxSize)"},
		{name: "with an invalid class, growth is still held to the namespace limit", invalid: true, nsAnn: map[string]string{AnnNamespaceMaxSize: "1Gi"},
			old: claimOf("100Mi"), claim: claimOf("2Gi"), wantErr: "must be at most 1Gi (namespace annotation hostpath.dev/max-size)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ClaimContext{ClassName: "x", NamespaceAnnotations: tt.nsAnn, VolumeQuota: tt.volumeQuota}
			if !tt.invalid {
				c.Class = classOf(t, tt.params)
			}
			errs, warnings := ValidateClaimUpdate(tt.old, tt.claim, c)
			expectErrs(t, errs, tt.wantErr)
			expectWarning(t, warnings, tt.wantWarning)
		})
	}
}

func TestCloneSourceNamesOnlyClaimsWeCanClone(t *testing.T) {
	clone := claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
		c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "src"}
	})
	g, other := "snapshot.storage.k8s.io", "other"
	snapshot := claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
		c.Spec.DataSourceRef = &corev1.TypedObjectReference{APIGroup: &g, Kind: "VolumeSnapshot", Name: "snap"}
	})
	elsewhere := claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
		c.Spec.DataSourceRef = &corev1.TypedObjectReference{Kind: "PersistentVolumeClaim", Name: "src", Namespace: &other}
	})
	if got := CloneSource(clone); got != "src" {
		t.Errorf("clone of a claim: %q, want src", got)
	}
	for name, c := range map[string]*corev1.PersistentVolumeClaim{"a snapshot": snapshot, "a claim in another namespace": elsewhere, "no source": claimOf("1Gi")} {
		if got := CloneSource(c); got != "" {
			t.Errorf("%s: CloneSource = %q, want none", name, got)
		}
	}
}

func TestRequestChanged(t *testing.T) {
	if RequestChanged(claimOf("1Gi"), claimOf("1024Mi")) || RequestChanged(claimOf(""), claimOf("")) {
		t.Error("equal requests (or none) are no change")
	}
	if !RequestChanged(claimOf("1Gi"), claimOf("2Gi")) || !RequestChanged(claimOf(""), claimOf("1Gi")) || !RequestChanged(claimOf("1Gi"), claimOf("")) {
		t.Error("a different, added or removed request is a change")
	}
}

// expectErrs fails unless errs is empty (want "") or contains want.
func expectErrs(t *testing.T, errs field.ErrorList, want string) {
	t.Helper()
	if want == "" {
		if len(errs) > 0 {
			t.Fatal(errs.ToAggregate())
		}
		return
	}
	if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), want) {
		t.Fatalf("errors %v, want %q", errs.ToAggregate(), want)
	}
}

// expectWarning fails unless warnings is empty (want "") or one contains want.
func expectWarning(t *testing.T, warnings []string, want string) {
	t.Helper()
	if want == "" {
		if len(warnings) > 0 {
			t.Errorf("warnings %q, want none", warnings)
		}
		return
	}
	for _, w := range warnings {
		if strings.Contains(w, want) {
			return
		}
	}
	t.Errorf("warnings %q, want one containing %q", warnings, want)
}

func TestPopulatorNamesKindsThatAPopulatorFills(t *testing.T) {
	ref := func(group, kind string) *corev1.PersistentVolumeClaim {
		return claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.DataSourceRef = &corev1.TypedObjectReference{Kind: kind, Name: "n"}
			if group != "" {
				c.Spec.DataSourceRef.APIGroup = &group
			}
		})
	}
	legacy := claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
		g := "hello.example.com"
		c.Spec.DataSource = &corev1.TypedLocalObjectReference{APIGroup: &g, Kind: "Hello", Name: "n"}
	})
	for _, tt := range []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		want  string
	}{
		{"a populator's kind", ref("hello.example.com", "Hello"), "Hello.hello.example.com"},
		{"a populator's kind in dataSource only", legacy, "Hello.hello.example.com"},
		{"a claim to clone", ref("", "PersistentVolumeClaim"), ""},
		{"a snapshot, which a provisioner restores", ref("snapshot.storage.k8s.io", "VolumeSnapshot"), ""},
		{"a core kind", ref("", "ConfigMap"), ""},
		{"no data source", claimOf("1Gi"), ""},
	} {
		if got := Populator(tt.claim); got != tt.want {
			t.Errorf("%s: Populator = %q, want %q", tt.name, got, tt.want)
		}
		if tt.want != "" && CloneSource(tt.claim) != "" {
			t.Errorf("%s: a populator's claim is not a clone, CloneSource = %q", tt.name, CloneSource(tt.claim))
		}
	}
}

func TestPreMadeVolume(t *testing.T) {
	if got := PreMadeVolume(claimOf("1Gi")); got != "" {
		t.Errorf("a plain claim asks for a pre-made volume: %q", got)
	}
	named := claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "static-1" })
	if got := PreMadeVolume(named); !strings.Contains(got, `spec.volumeName names PersistentVolume "static-1"`) {
		t.Errorf("volumeName: %q", got)
	}
	selecting := claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
		c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"disk": "a"}}
	})
	if got := PreMadeVolume(selecting); !strings.Contains(got, "spec.selector") {
		t.Errorf("selector: %q", got)
	}
}
