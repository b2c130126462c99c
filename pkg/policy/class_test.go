package policy

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestClaimClassName(t *testing.T) {
	s := func(v string) *string { return &v }
	tests := []struct {
		name     string
		ann      map[string]string
		spec     *string
		wantName string
		wantSet  bool
	}{
		{name: "a claim without a class asks for none", wantSet: false},
		{name: "an explicit empty class is an answer", spec: s(""), wantSet: true},
		{name: "spec.storageClassName names the class", spec: s("fast"), wantName: "fast", wantSet: true},
		{name: "the beta annotation wins over the spec field", ann: map[string]string{AnnBetaStorageClass: "old"}, spec: s("fast"), wantName: "old", wantSet: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Annotations: tt.ann}, Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: tt.spec}}
			name, set := ClaimClassName(c)
			if name != tt.wantName || set != tt.wantSet {
				t.Errorf("got (%q, %v), want (%q, %v)", name, set, tt.wantName, tt.wantSet)
			}
		})
	}
}

func TestClusterDefaultClass(t *testing.T) {
	class := func(name string, age time.Duration, ann string) storagev1.StorageClass {
		sc := storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(10000, 0).Add(-age))}}
		if ann != "" {
			sc.Annotations = map[string]string{ann: "true"}
		}
		return sc
	}
	tests := []struct {
		name    string
		classes []storagev1.StorageClass
		want    string
	}{
		{name: "no class marked default means no default", classes: []storagev1.StorageClass{class("a", 0, "")}},
		{name: "the one marked default is the default", classes: []storagev1.StorageClass{class("a", 0, ""), class("b", 0, AnnIsDefaultClass)}, want: "b"},
		{name: "the beta annotation marks a default too", classes: []storagev1.StorageClass{class("a", 0, AnnBetaIsDefaultClass)}, want: "a"},
		{name: "with several defaults the newest wins, as in Kubernetes", classes: []storagev1.StorageClass{class("old", time.Hour, AnnIsDefaultClass), class("new", 0, AnnIsDefaultClass)}, want: "new"},
		{name: "with equally old defaults the first name wins", classes: []storagev1.StorageClass{class("b", 0, AnnIsDefaultClass), class("a", 0, AnnIsDefaultClass)}, want: "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ClusterDefaultClass(tt.classes)
			if (got == nil) != (tt.want == "") || got != nil && got.Name != tt.want {
				t.Errorf("got %v, want %q", got, tt.want)
			}
		})
	}
}

func TestValidateStorageClass(t *testing.T) {
	recycle := corev1.PersistentVolumeReclaimRecycle
	tests := []struct {
		name    string
		class   storagev1.StorageClass
		wantErr int
	}{
		{name: "an empty class is valid", class: storagev1.StorageClass{}},
		{name: "reclaimPolicy Recycle is refused", class: storagev1.StorageClass{ReclaimPolicy: &recycle}, wantErr: 1},
		{name: "mount options on a hostPath class are refused", class: storagev1.StorageClass{MountOptions: []string{"ro"}}, wantErr: 1},
		{name: "mount options on a local class are allowed", class: storagev1.StorageClass{MountOptions: []string{"ro"}, Parameters: map[string]string{ParamVolumeType: "local"}}},
		{name: "parameter errors are reported", class: storagev1.StorageClass{Parameters: map[string]string{"nope": "x"}}, wantErr: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, errs := ValidateStorageClass(&tt.class, nil); len(errs) != tt.wantErr {
				t.Errorf("got %d errors (%v), want %d", len(errs), errs, tt.wantErr)
			}
		})
	}
}
