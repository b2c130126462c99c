package location

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

func hostPathPV(abs string, ann map[string]string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-1", Annotations: ann},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: abs},
		}},
	}
}

func TestOfAgreesWithTheSourcePathOrRefuses(t *testing.T) {
	ours := func(rel string) map[string]string {
		return map[string]string{policy.AnnNode: "n1", policy.AnnPath: rel, policy.AnnBasePath: "/var/kubernetes"}
	}
	tests := []struct {
		name    string
		pv      *corev1.PersistentVolume
		base    string
		wantRel string
		wantErr string
	}{
		{name: "our PV", pv: hostPathPV("/var/kubernetes/ns-a-pvc-1", ours("ns-a-pvc-1")), base: "/var/kubernetes", wantRel: "ns-a-pvc-1"},
		{name: "nested path", pv: hostPathPV("/var/kubernetes/ns/a", ours("ns/a")), base: "/var/kubernetes/", wantRel: "ns/a"},
		{name: "local source", pv: &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-1", Annotations: ours("x")},
			Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/var/kubernetes/x"}}}},
			base: "/var/kubernetes", wantRel: "x"},
		{name: "the original's PV", pv: hostPathPV("/var/kubernetes/default-c-pvc-1", map[string]string{policy.AnnLegacyIdentity: "n1"}),
			base: "/var/kubernetes", wantRel: "default-c-pvc-1"},
		{name: "annotation points at another volume", pv: hostPathPV("/var/kubernetes/mine", ours("victim")), base: "/var/kubernetes",
			wantErr: `annotation hostpath.dev/path="victim" disagrees with spec.hostPath.path "/var/kubernetes/mine"`},
		{name: "another base path", pv: hostPathPV("/mnt/bulk/x", map[string]string{policy.AnnNode: "n1", policy.AnnPath: "x", policy.AnnBasePath: "/mnt/bulk"}),
			base: "/var/kubernetes", wantErr: "was made under base path /mnt/bulk"},
		{name: "source outside the base", pv: hostPathPV("/etc", map[string]string{policy.AnnLegacyIdentity: "n1"}), base: "/var/kubernetes",
			wantErr: "is not inside the base path"},
		{name: "source is the base itself", pv: hostPathPV("/var/kubernetes", map[string]string{policy.AnnLegacyIdentity: "n1"}), base: "/var/kubernetes",
			wantErr: "is not inside the base path"},
		{name: "source with ..", pv: hostPathPV("/var/kubernetes/../etc", map[string]string{policy.AnnLegacyIdentity: "n1"}), base: "/var/kubernetes",
			wantErr: "not a clean absolute path"},
		{name: "a prefix that is not a parent", pv: hostPathPV("/var/kubernetes-other/x", map[string]string{policy.AnnLegacyIdentity: "n1"}), base: "/var/kubernetes",
			wantErr: "is not inside the base path"},
		{name: "not ours", pv: hostPathPV("/var/kubernetes/x", nil), base: "/var/kubernetes", wantErr: "was not made by hostpath-provisioner"},
		{name: "no source", pv: &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-1", Annotations: ours("x")}}, base: "/var/kubernetes",
			wantErr: "neither a hostPath nor a local source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc, err := Of(tt.pv, tt.base)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Of() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Of() error = %v", err)
			}
			if loc.Rel != tt.wantRel || loc.Node != "n1" {
				t.Fatalf("Of() = %+v, want rel %q on node n1", loc, tt.wantRel)
			}
			if _, abs := SourcePath(tt.pv); loc.Abs() != abs {
				t.Fatalf("Abs() = %q, want the source path %q", loc.Abs(), abs)
			}
		})
	}
}

func TestNodeOfFallsBackToTheOriginalsIdentityAndTheAffinity(t *testing.T) {
	affinity := hostPathPV("/x", nil)
	affinity.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"n3"}}},
	}}}}
	for pv, want := range map[*corev1.PersistentVolume]string{
		hostPathPV("/x", map[string]string{policy.AnnNode: "n1", policy.AnnLegacyIdentity: "n2"}): "n1",
		hostPathPV("/x", map[string]string{policy.AnnLegacyIdentity: "n2"}):                       "n2",
		affinity: "n3",
	} {
		if got := NodeOf(pv); got != want {
			t.Errorf("NodeOf(%v) = %q, want %q", pv.Annotations, got, want)
		}
	}
}

func TestResolvePicksTheBasePathTheAnnotationOrTheSourcePathNames(t *testing.T) {
	bases := []string{"/var/kubernetes", "/mnt/bulk", "/mnt/bulk/deep"}
	tests := []struct {
		name     string
		pv       *corev1.PersistentVolume
		wantBase string
		wantErr  string
	}{
		{name: "our PV on the second base path", pv: hostPathPV("/mnt/bulk/ns-a", map[string]string{policy.AnnNode: "n1", policy.AnnPath: "ns-a", policy.AnnBasePath: "/mnt/bulk"}),
			wantBase: "/mnt/bulk"},
		{name: "the original's PV: its path decides", pv: hostPathPV("/mnt/bulk/default-c-pvc-1", map[string]string{policy.AnnLegacyIdentity: "n1"}),
			wantBase: "/mnt/bulk"},
		{name: "the original's PV in a nested base path: the deepest wins", pv: hostPathPV("/mnt/bulk/deep/x", map[string]string{policy.AnnLegacyIdentity: "n1"}),
			wantBase: "/mnt/bulk/deep"},
		{name: "annotation names a base path this instance does not serve", pv: hostPathPV("/srv/x", map[string]string{policy.AnnNode: "n1", policy.AnnPath: "x", policy.AnnBasePath: "/srv"}),
			wantErr: "was made under base path /srv (annotation hostpath.dev/base-path) but this instance serves /var/kubernetes, /mnt/bulk, /mnt/bulk/deep"},
		{name: "annotation and source path disagree", pv: hostPathPV("/var/kubernetes/x", map[string]string{policy.AnnNode: "n1", policy.AnnPath: "x", policy.AnnBasePath: "/mnt/bulk"}),
			wantErr: "is not inside the base path /mnt/bulk"},
		{name: "the original's PV outside every base path", pv: hostPathPV("/etc/x", map[string]string{policy.AnnLegacyIdentity: "n1"}),
			wantErr: "spec.hostPath.path /etc/x is not inside the base paths of this instance (/var/kubernetes, /mnt/bulk, /mnt/bulk/deep)"},
		{name: "not ours", pv: hostPathPV("/mnt/bulk/x", nil), wantBase: "", wantErr: "was not made by hostpath-provisioner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc, err := Resolve(tt.pv, bases)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Resolve() = %+v, %v; want an error containing %q", loc, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve() error = %v", err)
			}
			if loc.Base != tt.wantBase {
				t.Fatalf("Resolve() base = %q, want %q", loc.Base, tt.wantBase)
			}
			if _, abs := SourcePath(tt.pv); loc.Abs() != abs {
				t.Fatalf("Abs() = %q, want the source path %q", loc.Abs(), abs)
			}
		})
	}
}
