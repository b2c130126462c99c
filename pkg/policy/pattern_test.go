package policy

import (
	"fmt"
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
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
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hostpath-test-claim"}}
	claim.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
	got, errs, _ := ValidateNewClaim(claim, ClaimContext{Class: classOf(t, nil), PVName: "pvc-123"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got != "default-hostpath-test-claim-pvc-123" {
		t.Errorf("got %q", got)
	}
}

func TestClaimPathRefusesHostileAnnotationValues(t *testing.T) {
	class := classOf(t, map[string]string{"pathPattern": "{{ .PVC.Namespace }}/{{ .PVC.Annotations.dir }}"})
	for _, tt := range []struct{ value, want string }{
		{"../../etc", "must not contain '/'"},
		{"", "must not be empty"},
		{"a/../../b", "must not contain '/'"},
		{"/etc", "must not contain '/'"},
		{"x\x00", "must not contain the control character U+0000"},
		{".", `must not be "." or ".."`},
		{".clone-x", "must not start with '.'"},
	} {
		claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", Annotations: map[string]string{"dir": tt.value}}}
		claim.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
		got, errs, _ := ValidateNewClaim(claim, ClaimContext{Class: class, ClassName: "x", PVName: "pvc-1"})
		if len(errs) == 0 {
			t.Errorf("annotation %q rendered %q without an error", tt.value, got)
			continue
		}
		// The error names the annotation, its value, the class's parameter
		// and what is wrong.
		want := fmt.Sprintf("metadata.annotations[dir]: Invalid value: %q: is used by the StorageClass \"x\" pathPattern as a path component and %s", tt.value, tt.want)
		if msg := errs.ToAggregate().Error(); !strings.Contains(msg, want) {
			t.Errorf("error %q, want %q", msg, want)
		}
	}
}

func TestRenderingRefusesComponentsThatStartWithADot(t *testing.T) {
	_, errs := parsePathPattern("{{ .PVC.Namespace }}/.{{ .PVName }}", field.NewPath("parameters").Key(ParamPathPattern))
	expectErrs(t, errs, `parameters[pathPattern]: Invalid value: "{{ .PVC.Namespace }}/.{{ .PVName }}": for a sample claim sample-namespace/sample.claim-1: renders "sample-namespace/.pvc-00000000-0000-0000-0000-00000000000a", whose path component ".pvc-00000000-0000-0000-0000-00000000000a" starts with '.': names starting with '.' are reserved for the provisioner's own files`)
	// Existing volumes keep their paths: SafeRelPath, the check for paths
	// that PVs record, does not refuse them.
	if err := SafeRelPath("ns/.data"); err != nil {
		t.Errorf("SafeRelPath refuses an old volume's path: %v", err)
	}
}

// FuzzClaimPath proves that whatever a user puts into a claim's names,
// labels or annotations, and whatever pattern an admin writes, a rendered
// path that is accepted stays inside the base path, holds no component that
// is ".", ".." or starts with '.', and keeps every label and annotation
// value that it contains inside one path component.
func FuzzClaimPath(f *testing.F) {
	seeds := []struct{ pattern, ns, name, ann, label string }{
		{DefaultPathPattern, "default", "claim", "", ""},
		{"{{ .PVC.Namespace }}/{{ .PVC.Annotations.d }}", "ns", "c", "../../etc", ""},
		{"{{ .PVC.Namespace }}/{{ .PVC.Annotations.d }}", "ns", "c", "/", ""},
		{"{{ .PVC.Namespace }}/{{ .PVC.Annotations.d }}/", "ns", "c", "a\x00b", ""},
		{"{{ .PVC.Annotations.d }}{{ .PVName }}", "ns", "c", "..//..", ""},
		{"{{ .PVC.Namespace }}/{{ .PVC.Annotations.d }}", "ns", "c", strings.Repeat("ü", 200), ""},
		{"{{ .PVC.Namespace }}/{{ .PVC.Annotations.d }}", "ns", "c", "x/./y", ""},
		{"{{ .PVC.Namespace }}/{{ .PVC.Name }}", "..", "..", "", ""},
		{"{{ .PVC.Namespace }}/{{ .PVC.Annotations.d }}", "ns", "c", "a/l/data", ""},
		{"{{ .PVC.Namespace }}/{{ .PVC.Annotations.d }}", "ns", "c", "..", ""},
		{"{{ .PVC.Namespace }}/{{ .PVC.Annotations.d }}", "ns", "c", ".", ""},
		{"{{ .PVC.Namespace }}/{{ .PVC.Annotations.d }}", "ns", "c", ".hostpath-provisioner", ""},
		{"{{ .PVC.Namespace }}/{{ .PVC.Labels.d }}/{{ .PVC.Annotations.d }}-{{ .PVName }}", "ns", "c", ".clone-x", "a/b"},
		{"{{ .PVC.Namespace }}/{{ .PVC.Labels.d }}{{ .PVC.Annotations.d }}-{{ .PVName }}", "ns", "c", ".", "."},
		{"{{ .PVC.Namespace }}/x{{ .PVC.Labels.d }}{{ .PVC.Annotations.d }}", "ns", "c", "/..", "."},
		{`{{ .PVC.Namespace }}/{{ if eq .PVC.Labels.d "a/b" }}{{ .PVC.Labels.d }}{{ else }}x{{ end }}`, "ns", "c", "", "a/b"},
		{`{{ .PVC.Namespace }}/{{ slice .PVC.Annotations.d 0 2 }}-{{ .PVName }}`, "ns", "c", "a/b", ""},
	}
	for _, s := range seeds {
		f.Add(s.pattern, s.ns, s.name, s.ann, s.label)
	}
	const base = "/var/kubernetes"
	f.Fuzz(func(t *testing.T, pattern, ns, name, ann, label string) {
		p, errs := parsePathPattern(pattern, nil)
		if len(errs) > 0 {
			return
		}
		claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, Annotations: map[string]string{"d": ann, "e": label}, Labels: map[string]string{"d": label},
		}}
		rel, errs := claimPath(p, "x", "pvc-1", claim)
		if len(errs) > 0 {
			return
		}
		joined := path.Join(base, rel)
		if !strings.HasPrefix(joined, base+"/") || joined == base {
			t.Fatalf("pattern %q with claim %s/%s ann %q rendered %q, outside %s", pattern, ns, name, ann, rel, base)
		}
		if path.Clean(rel) != rel || !utf8.ValidString(rel) || strings.ContainsRune(rel, 0) {
			t.Fatalf("rendered %q is not a clean relative path", rel)
		}
		for c := range strings.SplitSeq(rel, "/") {
			if strings.HasPrefix(c, ".") {
				t.Fatalf("rendered %q has the component %q, which starts with '.'", rel, c)
			}
		}
		// Where the path holds the claim's values as they are (the same
		// rendering with each value replaced by a distinct token, and the
		// tokens put back, gives the path), each value that made it into
		// the path holds no '/', and no component is made of values alone
		// that would be "." or "..".
		values := map[string]string{"§0§": ann, "§1§": label, "§2§": label}
		tokens := patternData{PVName: "pvc-1", PVC: patternClaim{Namespace: ns, Name: name,
			Annotations: map[string]string{"d": "§0§", "e": "§1§"}, Labels: map[string]string{"d": "§2§"}}}
		var buf strings.Builder
		if err := p.tmpl.Execute(&buf, tokens); err != nil {
			return
		}
		withTokens := buf.String()
		back := withTokens
		for tok, v := range values {
			back = strings.ReplaceAll(back, tok, v)
		}
		if back != rel {
			return // the values chose a branch, or were cut: they are not in the path as they are
		}
		for tok, v := range values {
			if strings.Contains(withTokens, tok) && strings.Contains(v, "/") {
				t.Fatalf("pattern %q: the value %q of %s is in the path %q but spans more than one component", pattern, v, tok, rel)
			}
		}
	})
}
