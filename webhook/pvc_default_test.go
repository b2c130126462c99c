package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

func TestClaimDefaulter(t *testing.T) {
	hostpath := storageClass("hostpath", policy.ProvisionerName)
	fast := storageClass("fast", policy.ProvisionerName)
	otherDefault := storageClass("standard", "ebs.csi.aws.com", markedDefault)
	hostpathDefault := storageClass("hostpath", policy.ProvisionerName, markedDefault)
	plainNS := namespace("team", nil)
	annotatedNS := namespace("team", map[string]string{policy.AnnNamespaceDefaultClass: "fast"})

	tests := []struct {
		name         string
		objs         []client.Object
		claim        *corev1.PersistentVolumeClaim
		op           admissionv1.Operation
		defaultClass string
		wantClass    string // "" means: no patch
		wantWarnings []string
		noWarnings   bool
	}{
		{
			name: "a class-less claim gets the provisioner default and a warning saying so",
			objs: []client.Object{plainNS, hostpath}, claim: claim(managedBy(userSetNoClass)),
			wantClass: "hostpath", wantWarnings: []string{`spec.storageClassName set to "hostpath"`, "--default-class"},
		},
		{
			name: "a class-less claim gets the namespace's default class",
			objs: []client.Object{annotatedNS, hostpath, fast}, claim: claim(managedBy(userSetNoClass)),
			wantClass: "fast", wantWarnings: []string{`set to "fast"`, policy.AnnNamespaceDefaultClass + " on namespace team"},
		},
		{
			name: "a default class that does not exist is still set, with a warning that the claim stays pending",
			objs: []client.Object{plainNS}, claim: claim(managedBy(userSetNoClass)),
			wantClass: "hostpath", wantWarnings: []string{`StorageClass "hostpath" does not exist`},
		},
		{
			name: "a class-less claim for a pre-made volume by name is left class-less, with a warning saying why",
			objs: []client.Object{plainNS, hostpath}, claim: claim(managedBy(userSetNoClass), func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "static-1" }),
			wantWarnings: []string{"spec.storageClassName left empty", `spec.volumeName names PersistentVolume "static-1"`, "as it would without hostpath-provisioner"},
		},
		{
			name: "a class-less claim with a selector is left class-less, even in a namespace with a default class",
			objs: []client.Object{annotatedNS, hostpath, fast}, claim: claim(managedBy(userSetNoClass), func(c *corev1.PersistentVolumeClaim) {
				c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"disk": "a"}}
			}),
			wantWarnings: []string{"spec.storageClassName left empty", "spec.selector matches pre-made PersistentVolumes"},
		},
		{
			name: "a claim for a pre-made volume keeps the cluster default Kubernetes gave it, not the namespace's class",
			objs: []client.Object{annotatedNS, fast, otherDefault}, claim: claim(withClass("standard"), managedBy(userSetNoClass), func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "static-1" }),
			noWarnings: true,
		},
		{
			name: "an explicit empty class is never touched",
			objs: []client.Object{plainNS, hostpath}, claim: claim(withClass("")), noWarnings: true,
		},
		{
			name: "a class in the beta annotation is never touched",
			objs: []client.Object{plainNS, hostpath}, claim: claim(withAnnotation(policy.AnnBetaStorageClass, "other")), noWarnings: true,
		},
		{
			name: "a class the requester set is never touched, even if it is another cluster default",
			objs: []client.Object{plainNS, hostpath, otherDefault}, claim: claim(withClass("standard"), managedBy(userSetClass)), noWarnings: true,
		},
		{
			name: "a class we cannot attribute (no managedFields) is treated as the requester's",
			objs: []client.Object{annotatedNS, hostpath, otherDefault}, claim: claim(withClass("standard")), noWarnings: true,
		},
		{
			name: "a claim given another cluster default by Kubernetes keeps it, with a warning how to get hostpath",
			objs: []client.Object{plainNS, hostpath, otherDefault}, claim: claim(withClass("standard"), managedBy(userSetNoClass)),
			wantWarnings: []string{"DefaultStorageClass admission plugin", "runs before admission webhooks", `"hostpath" was not applied`},
		},
		{
			name: "a claim given the cluster default by Kubernetes gets the namespace's class instead",
			objs: []client.Object{annotatedNS, fast, otherDefault}, claim: claim(withClass("standard"), managedBy(userSetNoClass)),
			wantClass: "fast", wantWarnings: []string{`set to "fast"`, `had set the cluster default StorageClass "standard"`},
		},
		{
			name: "the namespace annotation works while our own class is the cluster default",
			objs: []client.Object{annotatedNS, fast, hostpathDefault}, claim: claim(withClass("hostpath"), managedBy(userSetNoClass)),
			wantClass: "fast",
		},
		{
			name: "a claim given our own cluster default by Kubernetes is left alone without a warning",
			objs: []client.Object{plainNS, hostpathDefault}, claim: claim(withClass("hostpath"), managedBy(userSetNoClass)), noWarnings: true,
		},
		{
			name: "a class-less claim that slipped past a cluster default gets ours and a warning about the other default",
			objs: []client.Object{plainNS, hostpath, otherDefault}, claim: claim(managedBy(userSetNoClass)),
			wantClass: "hostpath", wantWarnings: []string{`StorageClass "standard" is marked as the cluster default`},
		},
		{
			name: "without a configured default nothing is set",
			objs: []client.Object{plainNS}, claim: claim(), defaultClass: "-", noWarnings: true,
		},
		{
			name: "a claim whose namespace cannot be read is allowed unchanged with a warning",
			objs: []client.Object{hostpath}, claim: claim(),
			wantWarnings: []string{"could not read namespace team", "assigned shortly"},
		},
		{
			name: "updates are not defaulted",
			objs: []client.Object{plainNS, hostpath}, claim: claim(), op: admissionv1.Update, noWarnings: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lk, dec := testLookup(t, tt.objs...)
			opts := Options{ProvisionerName: policy.ProvisionerName, DefaultClass: "hostpath"}
			if tt.defaultClass == "-" {
				opts.DefaultClass = ""
			}
			d := &ClaimDefaulter{opts: opts, lookup: lk, decoder: dec}
			op := tt.op
			if op == "" {
				op = admissionv1.Create
			}
			var old *corev1.PersistentVolumeClaim
			if op == admissionv1.Update {
				old = tt.claim
			}
			req := request(t, op, "PersistentVolumeClaim", tt.claim, nil)
			if old != nil {
				req = request(t, op, "PersistentVolumeClaim", tt.claim, old)
			}
			resp := d.Handle(context.Background(), req)
			if !resp.Allowed {
				t.Fatalf("denied: %s", message(resp))
			}
			got := patchedClass(t, resp)
			if got != tt.wantClass {
				t.Errorf("class set to %q, want %q (patches %v)", got, tt.wantClass, resp.Patches)
			}
			warnings := strings.Join(resp.Warnings, "\n")
			containsAll(t, "warnings", warnings, tt.wantWarnings)
			if tt.noWarnings && len(resp.Warnings) > 0 {
				t.Errorf("unexpected warnings: %s", warnings)
			}
		})
	}
}

// patchedClass returns the storageClassName a JSON patch sets, or "".
func patchedClass(t *testing.T, resp admission.Response) string {
	t.Helper()
	for _, p := range resp.Patches {
		switch p.Path {
		case "/spec/storageClassName":
			s, _ := p.Value.(string)
			return s
		case "/spec":
			b, _ := json.Marshal(p.Value)
			var spec corev1.PersistentVolumeClaimSpec
			if err := json.Unmarshal(b, &spec); err == nil && spec.StorageClassName != nil {
				return *spec.StorageClassName
			}
		}
	}
	return ""
}
