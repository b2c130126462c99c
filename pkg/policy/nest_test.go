package policy

import (
	"strings"
	"testing"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func mustPattern(t *testing.T, text string) *PathPattern {
	t.Helper()
	p, errs := parsePathPattern(text, nil)
	if len(errs) > 0 {
		t.Fatalf("%s: %v", text, errs.ToAggregate())
	}
	return p
}

func TestPatternsCouldNest(t *testing.T) {
	tests := []struct {
		name       string
		a, b       string
		want       bool
		outer      string // the example's outer path, when want
		innerIsOfA bool
	}{
		{name: "the namespace holds a claim's directory below it", a: "{{ .PVC.Namespace }}", b: "{{ .PVC.Namespace }}/{{ .PVC.Name }}/data",
			want: true, outer: "sample-namespace"},
		{name: "the same, in the other order", a: "{{ .PVC.Namespace }}/{{ .PVC.Name }}/data", b: "{{ .PVC.Namespace }}",
			want: true, outer: "sample-namespace", innerIsOfA: true},
		{name: "a claim's directory holds one that a label puts below it", a: "{{ .PVC.Namespace }}/{{ .PVC.Name }}", b: `{{ .PVC.Namespace }}/{{ index .PVC.Labels "team" }}/{{ .PVC.Name }}`,
			want: true},
		{name: "a label that equals a constant of the other pattern", a: "{{ .PVC.Namespace }}/data/{{ .PVName }}", b: `{{ .PVC.Namespace }}/{{ .PVC.Labels.dir }}`,
			want: true, outer: "sample-namespace/data", innerIsOfA: true},
		{name: "a label that puts the directory where a comparison's other branch goes", a: `{{ .PVC.Namespace }}/{{ if eq .PVC.Labels.tier "fast" }}fast/{{ end }}{{ .PVName }}`,
			b: `{{ .PVC.Namespace }}/{{ .PVC.Labels.tier }}`, want: true, innerIsOfA: true},
		{name: "the default layout never nests with itself", a: DefaultPathPattern, b: DefaultPathPattern},
		{name: "namespace and name directories never nest with themselves", a: "{{ .PVC.Namespace }}/{{ .PVC.Name }}", b: "{{ .PVC.Namespace }}/{{ .PVC.Name }}"},
		{name: "a depth that depends on a label nests with itself", a: `{{ .PVC.Namespace }}/{{ .PVC.Name }}{{ if .PVC.Labels.deep }}/{{ .PVName }}{{ end }}`,
			b: `{{ .PVC.Namespace }}/{{ .PVC.Name }}{{ if .PVC.Labels.deep }}/{{ .PVName }}{{ end }}`, want: true},
		{name: "the default layout and namespace directories do not nest", a: DefaultPathPattern, b: "{{ .PVC.Namespace }}/{{ .PVC.Name }}"},
		{name: "a suffix to the same component is not a nesting", a: "{{ .PVC.Namespace }}/{{ .PVC.Name }}", b: "{{ .PVC.Namespace }}/{{ .PVC.Name }}-x"},
		{name: "a label that is always a whole component does not nest at the same depth", a: `{{ .PVC.Namespace }}/{{ .PVC.Labels.app }}/{{ .PVName }}`, b: `{{ .PVC.Namespace }}/{{ .PVC.Labels.app }}/{{ .PVName }}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustPattern(t, tt.a)
			b := a
			if tt.b != tt.a {
				b = mustPattern(t, tt.b)
			}
			n, nest := PatternsCouldNest(a, b)
			if nest != tt.want {
				t.Fatalf("nest = %v (%+v), want %v", nest, n, tt.want)
			}
			if !nest {
				return
			}
			if !strings.HasPrefix(n.Inner.Path, n.Outer.Path+"/") || n.Inner.pv == n.Outer.pv {
				t.Errorf("example %+v: the inner path must be below the outer one, for another volume", n)
			}
			if tt.outer != "" && n.Outer.Path != tt.outer {
				t.Errorf("outer path %q, want %q", n.Outer.Path, tt.outer)
			}
			if a != b && (n.Inner.Pattern == a) != tt.innerIsOfA {
				t.Errorf("inner volume of %q, outer of %q", n.Inner.Pattern, n.Outer.Pattern)
			}
			if n.Inner.Claim == "" || n.Outer.Claim == "" {
				t.Errorf("example %+v does not name the sample claims", n)
			}
		})
	}
}

func TestValidateStorageClassRefusesPatternsThatCouldNest(t *testing.T) {
	class := func(name, pattern string) storagev1.StorageClass {
		return storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: ProvisionerName, Parameters: map[string]string{ParamPathPattern: pattern}}
	}
	whole := class("whole", "{{ .PVC.Namespace }}")
	inner := class("data", "{{ .PVC.Namespace }}/{{ .PVC.Name }}/data")
	plain := class("plain", DefaultPathPattern)
	broken := class("broken", "{{ .PVC.Namespace }}/{{ .PVC.Name }}/data")
	broken.Parameters["colour"] = "blue"

	_, errs := ValidateStorageClass(&whole, nil, plain, inner)
	expectErrs(t, errs, `parameters[pathPattern]: Invalid value: "{{ .PVC.Namespace }}": could put volumes of StorageClass "whole" and of StorageClass "data" (pathPattern "{{ .PVC.Namespace }}/{{ .PVC.Name }}/data") inside one another: `+
		`StorageClass "data" would make "sample-namespace/claim-a/data" for claim sample-namespace/claim-a, inside "sample-namespace" that StorageClass "whole" would make for claim sample-namespace/claim-b`)
	if len(errs) != 1 {
		t.Errorf("one error for the one class it nests with, got %v", errs)
	}
	_, errs = ValidateStorageClass(&inner, nil, whole)
	expectErrs(t, errs, `StorageClass "data" would make "sample-namespace/claim-a/data" for claim sample-namespace/claim-a, inside "sample-namespace" that StorageClass "whole" would make`)

	if _, errs := ValidateStorageClass(&whole, nil, plain, whole, broken); len(errs) > 0 {
		t.Errorf("a class of the same name (its own update) and an invalid class are not held against it: %v", errs)
	}
	self := class("deep", `{{ .PVC.Namespace }}/{{ .PVC.Name }}{{ if .PVC.Labels.deep }}/{{ .PVName }}{{ end }}`)
	_, errs = ValidateStorageClass(&self, nil)
	expectErrs(t, errs, `could put one volume's directory inside another's: StorageClass "deep" would make "sample-namespace/claim-a/pvc-`)
}
