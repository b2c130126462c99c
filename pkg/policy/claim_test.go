package policy

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
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

func TestValidateClaimSize(t *testing.T) {
	class, errs := ParseClassParameters(map[string]string{"minSize": "10Mi", "maxSize": "1Gi"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	tests := []struct {
		name    string
		claim   *corev1.PersistentVolumeClaim
		nsAnn   map[string]string
		wantErr string
	}{
		{"a size inside the class limits is valid", claimOf("100Mi"), nil, ""},
		{"a claim without a size is refused", claimOf(""), nil, "spec.resources.requests[storage]: Required value: a size is required"},
		{"a zero size is refused", claimOf("0"), nil, `spec.resources.requests[storage]: Invalid value: "0": must be larger than zero`},
		{"a size below minSize is refused", claimOf("1Mi"), nil, `Invalid value: "1Mi": must be at least 10Mi (StorageClass parameter minSize)`},
		{"a size above maxSize is refused", claimOf("2Gi"), nil, `Invalid value: "2Gi": must be at most 1Gi (StorageClass parameter maxSize)`},
		{"a size above the namespace limit is refused", claimOf("600Mi"), map[string]string{AnnNamespaceMaxSize: "500Mi"}, "must be at most 500Mi (namespace annotation hostpath.dev/max-size)"},
		{"a broken namespace limit is reported, not ignored", claimOf("1Mi", func(*corev1.PersistentVolumeClaim) {}), map[string]string{AnnNamespaceMaxSize: "lots"}, `hostpath.dev/max-size="lots" is not a positive quantity`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrs(t, ValidateClaimSize(tt.claim, class, tt.nsAnn), tt.wantErr)
		})
	}
}

func TestValidateClaimSpec(t *testing.T) {
	block := corev1.PersistentVolumeBlock
	tests := []struct {
		name    string
		claim   *corev1.PersistentVolumeClaim
		wantErr string
	}{
		{"a plain filesystem claim is valid", claimOf("1Gi"), ""},
		{"a block claim is refused", claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeMode = &block }), `spec.volumeMode: Unsupported value: "Block": supported values: "Filesystem"`},
		{"a clone of a claim is valid", claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "src"}
		}), ""},
		{"a snapshot source is refused naming what is supported", claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
			g := "snapshot.storage.k8s.io"
			c.Spec.DataSourceRef = &corev1.TypedObjectReference{APIGroup: &g, Kind: "VolumeSnapshot", Name: "snap"}
		}), `spec.dataSourceRef.kind: Unsupported value: "VolumeSnapshot.snapshot.storage.k8s.io": supported values: "PersistentVolumeClaim (a clone of another claim of the same class)"`},
		{"a source claim in another namespace is refused", claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
			other := "other"
			c.Spec.DataSourceRef = &corev1.TypedObjectReference{Kind: "PersistentVolumeClaim", Name: "src", Namespace: &other}
		}), `spec.dataSourceRef.namespace: Invalid value: "other": a clone's source must be a claim in the clone's own namespace`},
		{"a selector is refused", claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.Selector = &metav1.LabelSelector{} }), "spec.selector: Forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrs(t, ValidateClaimSpec(tt.claim), tt.wantErr)
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

func TestValidateCloneOf(t *testing.T) {
	source := claimOf("2Gi")
	source.Name = "src"
	source.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("3Gi")}
	class, other := "hostpath", "other"
	source.Spec.StorageClassName = &class
	tests := []struct {
		name    string
		claim   *corev1.PersistentVolumeClaim
		wantErr string
	}{
		{"a clone of the source's class and bound size is valid", claimOf("3Gi"), ""},
		{"a clone larger than its source is valid", claimOf("5Gi"), ""},
		{"a clone smaller than the source's capacity is refused", claimOf("2Gi"),
			`spec.resources.requests[storage]: Invalid value: "2Gi": must be at least 3Gi, the size of the source claim src`},
		{"a clone of another class is refused", claimOf("3Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = &other }),
			`spec.storageClassName: Invalid value: "other": must be "hostpath", the class of the source claim src`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.claim.Spec.StorageClassName == nil {
				tt.claim.Spec.StorageClassName = &class
			}
			expectErrs(t, ValidateCloneOf(tt.claim, source), tt.wantErr)
		})
	}
}

func TestValidateClaimAnnotations(t *testing.T) {
	tests := []struct {
		name    string
		ann     map[string]string
		wantErr string
	}{
		{"no annotations are valid", nil, ""},
		{"foreign annotations are not ours to judge", map[string]string{"example.com/x": "y"}, ""},
		{"each on-delete value is valid", map[string]string{AnnOnDelete: "archive"}, ""},
		{"a bad on-delete value names the allowed values", map[string]string{AnnOnDelete: "keep"},
			`metadata.annotations[hostpath.dev/on-delete]: Unsupported value: "keep": supported values: "delete", "retain", "archive"`},
		{"a typo in our prefix gets a suggestion", map[string]string{"hostpath.dev/ondelete": "retain"},
			`metadata.annotations[hostpath.dev/ondelete]: Invalid value: "retain": unknown annotation, did you mean "hostpath.dev/on-delete"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrs(t, ValidateClaimAnnotations(tt.ann), tt.wantErr)
		})
	}
}

func TestClaimWarningsForSharedAccessModes(t *testing.T) {
	rwx := claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
		c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	})
	if w := ClaimWarnings(rwx); len(w) != 1 || !strings.Contains(w[0], "ReadWriteMany") || !strings.Contains(w[0], "one node") {
		t.Errorf("warnings = %q", w)
	}
	rwo := claimOf("1Gi", func(c *corev1.PersistentVolumeClaim) {
		c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	})
	if w := ClaimWarnings(rwo); len(w) != 0 {
		t.Errorf("RWO warnings = %q", w)
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
