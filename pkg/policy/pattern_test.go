package policy

import (
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSafeRelPath(t *testing.T) {
	long := strings.Repeat("a", 256)
	tests := []struct {
		path    string
		wantErr string
	}{
		{"default-claim-pvc-1", ""},
		{"ns/claim", ""},
		{"ünïcode-名前", ""},
		{"", "is empty"},
		{"/abs", "is absolute"},
		{"..", `has the path component ".."`},
		{"a/../b", `has the path component ".."`},
		{"./a", `has the path component "."`},
		{"a//b", "empty path component"},
		{"a/", "empty path component"},
		{"a\x00b", "control character"},
		{"a\nb", "control character"},
		{"\xff", "not valid UTF-8"},
		{long, "longer than 255 bytes"},
		{strings.Repeat("a/", 1100) + "a", "longer than 2048 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			err := SafeRelPath(tt.path)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestClaimPathUsesTheOriginalLayoutByDefault(t *testing.T) {
	p, errs := ParseClassParameters(nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hostpath-test-claim"}}
	got, ferr := ClaimPath(p.Pattern, "pvc-123", claim)
	if ferr != nil {
		t.Fatal(ferr)
	}
	if got != "default-hostpath-test-claim-pvc-123" {
		t.Errorf("got %q", got)
	}
}

func TestClaimPathRefusesHostileAnnotationValues(t *testing.T) {
	p, errs := ParsePathPattern("{{ .PVC.Namespace }}/{{ .PVC.Annotations.dir }}", nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, v := range []string{"../../etc", "", "a/../../b", "/etc", "x\x00"} {
		claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", Annotations: map[string]string{"dir": v}}}
		if got, err := ClaimPath(p, "pvc-1", claim); err == nil {
			t.Errorf("annotation %q rendered %q without an error", v, got)
		} else if !strings.Contains(err.Error(), "parameters[pathPattern]") || !strings.Contains(err.Error(), "ns/c") {
			t.Errorf("error %q must name the parameter and the claim", err)
		}
	}
}

// FuzzClaimPath proves that whatever a user puts into a claim's names,
// labels or annotations, and whatever pattern an admin writes, a rendered
// path that is accepted stays inside the base path.
func FuzzClaimPath(f *testing.F) {
	seeds := []struct{ pattern, ns, name, ann string }{
		{DefaultPathPattern, "default", "claim", ""},
		{"{{ .PVC.Namespace }}/{{ .PVC.Annotations.d }}", "ns", "c", "../../etc"},
		{"{{ .PVC.Namespace }}/{{ .PVC.Annotations.d }}", "ns", "c", "/"},
		{"{{ .PVC.Namespace }}/{{ .PVC.Annotations.d }}/", "ns", "c", "a\x00b"},
		{"{{ .PVC.Annotations.d }}{{ .PVName }}", "ns", "c", "..//.."},
		{"{{ .PVC.Namespace }}/{{ .PVC.Annotations.d }}", "ns", "c", strings.Repeat("ü", 200)},
		{"{{ .PVC.Namespace }}/{{ .PVC.Annotations.d }}", "ns", "c", "x/./y"},
		{"{{ .PVC.Namespace }}/{{ .PVC.Name }}", "..", "..", ""},
	}
	for _, s := range seeds {
		f.Add(s.pattern, s.ns, s.name, s.ann)
	}
	const base = "/var/kubernetes"
	f.Fuzz(func(t *testing.T, pattern, ns, name, ann string) {
		p, errs := ParsePathPattern(pattern, nil)
		if len(errs) > 0 {
			return
		}
		claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, Annotations: map[string]string{"d": ann}, Labels: map[string]string{"d": ann},
		}}
		rel, err := ClaimPath(p, "pvc-1", claim)
		if err != nil {
			return
		}
		joined := path.Join(base, rel)
		if !strings.HasPrefix(joined, base+"/") || joined == base {
			t.Fatalf("pattern %q with claim %s/%s ann %q rendered %q, outside %s", pattern, ns, name, ann, rel, base)
		}
		if path.Clean(rel) != rel || !utf8.ValidString(rel) || strings.ContainsRune(rel, 0) {
			t.Fatalf("rendered %q is not a clean relative path", rel)
		}
	})
}
