package policy

import (
	"testing"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestABasePathParameterMustNameAConfiguredBasePath(t *testing.T) {
	known := []string{DefaultBasePathName, "bulk", "fast"}
	tests := []struct {
		name     string
		params   map[string]string
		known    []string
		wantBase string
		wantErr  string
	}{
		{name: "a class without the parameter uses the default base path", wantBase: DefaultBasePathName, known: known},
		{name: "a class names a configured base path", params: map[string]string{ParamBasePath: "bulk"}, known: known, wantBase: "bulk"},
		{name: "the default base path can be named", params: map[string]string{ParamBasePath: "default"}, known: known, wantBase: DefaultBasePathName},
		{name: "an unknown name is refused with the known ones", params: map[string]string{ParamBasePath: "slow"}, known: known,
			wantErr: `parameters[basePath]: Unsupported value: "slow": supported values: "default", "bulk", "fast"`},
		{name: "a name that is no DNS label is refused", params: map[string]string{ParamBasePath: "Bulk_Disk"}, known: known,
			wantErr: `parameters[basePath]: Invalid value: "Bulk_Disk": must be a base path name: a lowercase RFC 1123 label`},
		{name: "without the configuration only the syntax is checked", params: map[string]string{ParamBasePath: "anything"}, wantBase: "anything"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, errs := ValidateStorageClass(&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Parameters: tt.params}, tt.known)
			expectErrs(t, errs, tt.wantErr)
			if tt.wantErr == "" && p.BasePath != tt.wantBase {
				t.Fatalf("BasePath = %q, want %q", p.BasePath, tt.wantBase)
			}
		})
	}
}

func TestClassesOnDifferentBasePathsCannotNest(t *testing.T) {
	class := func(name, pattern, base string) storagev1.StorageClass {
		return storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: ProvisionerName,
			Parameters: map[string]string{ParamPathPattern: pattern, ParamBasePath: base}}
	}
	whole := class("whole", "{{ .PVC.Namespace }}", "bulk")
	inner := class("data", "{{ .PVC.Namespace }}/{{ .PVC.Name }}/data", "fast")
	if _, errs := ValidateStorageClass(&whole, nil, inner); len(errs) > 0 {
		t.Fatalf("volumes on different base paths are in different directories: %v", errs.ToAggregate())
	}
	inner.Parameters[ParamBasePath] = "bulk"
	_, errs := ValidateStorageClass(&whole, nil, inner)
	expectErrs(t, errs, `could put volumes of StorageClass "whole" and of StorageClass "data"`)
}
