package policy

import (
	"io/fs"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

func TestParseClassParameters(t *testing.T) {
	tests := []struct {
		name    string
		params  map[string]string
		wantErr string // substring; "" means valid
		check   func(t *testing.T, p *ClassParameters)
	}{
		{name: "no parameters give the original's defaults", params: nil, check: func(t *testing.T, p *ClassParameters) {
			if p.Mode != 0o777 || p.VolumeType != VolumeTypeHostPath || p.Quota != QuotaAuto || p.OnDelete != "" || p.UID != nil {
				t.Errorf("defaults = %+v", p)
			}
			if p.Pattern.String() != DefaultPathPattern || !p.Pattern.UsesPVName() {
				t.Errorf("pattern = %q usesPVName=%v", p.Pattern.String(), p.Pattern.UsesPVName())
			}
		}},
		{name: "every parameter set is parsed", params: map[string]string{
			"pathPattern": "{{ .PVC.Namespace }}/{{ .PVC.Name }}", "onDelete": "archive", "volumeType": "local",
			"mode": "2770", "uid": "1000", "gid": "2000", "minSize": "1Mi", "maxSize": "10Gi", "quota": "off",
		}, check: func(t *testing.T, p *ClassParameters) {
			if p.Mode != fs.ModeSetgid|0o770 {
				t.Errorf("mode = %v", p.Mode)
			}
			if *p.UID != 1000 || *p.GID != 2000 || p.OnDelete != OnDeleteArchive || p.VolumeType != VolumeTypeLocal || p.Quota != QuotaOff {
				t.Errorf("parsed = %+v", p)
			}
			if p.MinSize.String() != "1Mi" || p.MaxSize.String() != "10Gi" {
				t.Errorf("sizes = %v %v", p.MinSize, p.MaxSize)
			}
		}},
		{name: "an unknown key is rejected with a suggestion", params: map[string]string{"pathPatern": "x"},
			wantErr: `parameters[pathPatern]: Invalid value: "pathPatern": unknown parameter, did you mean "pathPattern"?`},
		{name: "an unknown key far from any known one lists the allowed keys", params: map[string]string{"zzz": "x"},
			wantErr: "unknown parameter; allowed: pathPattern, onDelete"},
		{name: "a bad onDelete names the allowed values", params: map[string]string{"onDelete": "keep"},
			wantErr: `parameters[onDelete]: Unsupported value: "keep": supported values: "delete", "retain", "archive"`},
		{name: "a non-octal mode is rejected", params: map[string]string{"mode": "0999"}, wantErr: "parameters[mode]: Invalid value: \"0999\": must be an octal file mode"},
		{name: "a mode above 7777 is rejected", params: map[string]string{"mode": "17777"}, wantErr: "parameters[mode]"},
		{name: "a negative uid is rejected", params: map[string]string{"uid": "-1"}, wantErr: "parameters[uid]: Invalid value: \"-1\""},
		{name: "a non-numeric gid is rejected", params: map[string]string{"gid": "wheel"}, wantErr: "parameters[gid]"},
		{name: "a zero size is rejected", params: map[string]string{"minSize": "0"}, wantErr: "parameters[minSize]: Invalid value: \"0\": must be a positive quantity"},
		{name: "minSize above maxSize is rejected", params: map[string]string{"minSize": "2Gi", "maxSize": "1Gi"}, wantErr: "must not be larger than maxSize (1Gi)"},
		{name: "a bad volumeType is rejected", params: map[string]string{"volumeType": "nfs"}, wantErr: `parameters[volumeType]: Unsupported value: "nfs"`},
		{name: "a bad quota is rejected", params: map[string]string{"quota": "yes"}, wantErr: `parameters[quota]: Unsupported value: "yes"`},
		{name: "a pattern escaping the base path is rejected", params: map[string]string{"pathPattern": "../{{ .PVName }}"}, wantErr: `has the path component ".."`},
		{name: "an absolute pattern is rejected", params: map[string]string{"pathPattern": "/etc/{{ .PVName }}"}, wantErr: "is absolute"},
		{name: "a pattern with an unknown field is rejected", params: map[string]string{"pathPattern": "{{ .Nope }}"}, wantErr: "cannot be executed"},
		{name: "a broken template is rejected", params: map[string]string{"pathPattern": "{{ .PVName "}, wantErr: "is not a valid Go template"},
		{name: "a pattern without PVName must start with the namespace", params: map[string]string{"pathPattern": "{{ .PVC.Name }}"}, wantErr: "must put the namespace first as its own directory"},
		{name: "a namespace prefix that is not its own directory is rejected", params: map[string]string{"pathPattern": "{{ .PVC.Namespace }}-{{ .PVC.Name }}"}, wantErr: "must put the namespace first"},
		{name: "a pattern using a label is accepted", params: map[string]string{"pathPattern": "{{ .PVC.Namespace }}/{{ .PVC.Labels.app }}/{{ index .PVC.Annotations \"x\" }}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, errs := ValidateStorageClass(&storagev1.StorageClass{Parameters: tt.params}, nil)
			if tt.wantErr == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs.ToAggregate())
				}
				if tt.check != nil {
					tt.check(t, p)
				}
				return
			}
			if len(errs) == 0 {
				t.Fatalf("expected an error containing %q", tt.wantErr)
			}
			if got := errs.ToAggregate().Error(); !strings.Contains(got, tt.wantErr) {
				t.Fatalf("error %q does not contain %q", got, tt.wantErr)
			}
		})
	}
}

func TestResolveOnDelete(t *testing.T) {
	archive := &ClassParameters{OnDelete: OnDeleteArchive}
	tests := []struct {
		name     string
		ann      string
		class    *ClassParameters
		override corev1.PersistentVolumeReclaimPolicy
		reclaim  corev1.PersistentVolumeReclaimPolicy
		want     OnDelete
	}{
		{"the claim annotation wins over everything", "retain", archive, corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimDelete, OnDeleteRetain},
		{"the class parameter wins over the override", "", archive, corev1.PersistentVolumeReclaimRetain, corev1.PersistentVolumeReclaimDelete, OnDeleteArchive},
		{"PV_RECLAIM_POLICY=Retain wins over the class reclaim policy", "", &ClassParameters{}, corev1.PersistentVolumeReclaimRetain, corev1.PersistentVolumeReclaimDelete, OnDeleteRetain},
		{"the class reclaim policy Retain means retain", "", nil, "", corev1.PersistentVolumeReclaimRetain, OnDeleteRetain},
		{"the class reclaim policy Delete means delete", "", nil, "", corev1.PersistentVolumeReclaimDelete, OnDeleteDelete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ResolveOnDelete(tt.ann, tt.class, tt.override, tt.reclaim); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if OnDeleteRetain.ReclaimPolicy() != corev1.PersistentVolumeReclaimRetain || OnDeleteArchive.ReclaimPolicy() != corev1.PersistentVolumeReclaimDelete {
		t.Error("retain must map to Retain and archive to Delete")
	}
}
