package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// The smoke tests prove the cluster itself works, before any story of the
// provisioner is told on it.

// The controller-manager's PV controller hands a claim of an external
// provisioner's class to that provisioner by annotating it.
func TestSmokeControllerManagerAnnotatesClaimsForTheirProvisioner(t *testing.T) {
	ns := framework.NewNamespace(t)
	ctx := t.Context()
	c := framework.Client()

	const provisioner = "example.com/none"
	class := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: ns},
		Provisioner:       provisioner,
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate),
	}
	createClusterScoped(t, class)
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "claim"},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To(class.Name),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}},
		},
	}
	if err := c.Create(ctx, claim); err != nil {
		t.Fatalf("creating claim: %v", err)
	}
	framework.WaitFor(t, 30*time.Second, func() (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(claim), claim); err != nil {
			return false, err
		}
		return claim.Annotations["volume.kubernetes.io/storage-provisioner"] == provisioner, nil
	})
}

// A pod on the real kubelet writes through a pre-made hostPath volume and the
// file lands on the host.
func TestSmokePodWritesIntoHostPathVolume(t *testing.T) {
	ns := framework.NewNamespace(t)
	ctx := t.Context()
	c := framework.Client()

	dir := filepath.Join(t.TempDir(), "volume")
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: ns},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "",
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: ptr.To(corev1.HostPathDirectoryOrCreate)},
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{framework.NodeName()}}},
			}}}},
		},
	}
	createClusterScoped(t, pv)
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To(""), // no default class may claim it
			VolumeName:       pv.Name,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}},
		},
	}
	if err := c.Create(ctx, claim); err != nil {
		t.Fatalf("creating claim: %v", err)
	}

	want := "hello from " + ns + "\n"
	pod := framework.BusyboxPod(ns, "writer", "echo 'hello from "+ns+"' > /data/hello.txt && sync")
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name},
	}}}
	framework.RunPod(t, pod)
	framework.WaitPodSucceeded(t, ns, pod.Name, 90*time.Second)

	got, err := os.ReadFile(filepath.Join(dir, "hello.txt"))
	if err != nil {
		t.Fatalf("the pod's file is not on the host: %v", err)
	}
	if string(got) != want {
		t.Fatalf("file on the host holds %q, want %q", got, want)
	}
}

// cert-manager issues a serving certificate from its own CA and the
// cainjector puts that CA into a webhook configuration: the TLS setup the
// provisioner's webhook relies on.
func TestSmokeCertManagerIssuesAndInjectsCA(t *testing.T) {
	ns := framework.NewNamespace(t)
	ctx := t.Context()
	c := framework.Client()

	objs := []client.Object{
		&cmv1.Issuer{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "selfsigned"},
			Spec:       cmv1.IssuerSpec{IssuerConfig: cmv1.IssuerConfig{SelfSigned: &cmv1.SelfSignedIssuer{}}},
		},
		&cmv1.Certificate{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ca"},
			Spec: cmv1.CertificateSpec{
				IsCA: true, CommonName: "smoke-ca", SecretName: "ca",
				IssuerRef: cmmeta.IssuerReference{Kind: "Issuer", Name: "selfsigned"},
			},
		},
		&cmv1.Issuer{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ca"},
			Spec:       cmv1.IssuerSpec{IssuerConfig: cmv1.IssuerConfig{CA: &cmv1.CAIssuer{SecretName: "ca"}}},
		},
		&cmv1.Certificate{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "serving"},
			Spec: cmv1.CertificateSpec{
				SecretName:  "serving",
				DNSNames:    []string{"webhook." + ns + ".svc"},
				IPAddresses: []string{"127.0.0.1"},
				IssuerRef:   cmmeta.IssuerReference{Kind: "Issuer", Name: "ca"},
			},
		},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
	serving := &cmv1.Certificate{}
	framework.WaitFor(t, 60*time.Second, func() (bool, error) {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "serving"}, serving); err != nil {
			return false, err
		}
		for _, cond := range serving.Status.Conditions {
			if cond.Type == cmv1.CertificateConditionReady {
				return cond.Status == cmmeta.ConditionTrue, nil
			}
		}
		return false, nil
	})
	caSecret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ca"}, caSecret); err != nil {
		t.Fatalf("getting the CA secret: %v", err)
	}
	wantCA := caSecret.Data["ca.crt"]
	if len(wantCA) == 0 {
		t.Fatalf("CA secret has no ca.crt")
	}

	webhook := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ns,
			Annotations: map[string]string{"cert-manager.io/inject-ca-from": ns + "/serving"},
		},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "smoke.hpp-e2e.example.com",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:1/none")},
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](1),
			// Matches no namespace: the webhook must never be called.
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"hpp-e2e/never": ns}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
			}},
		}},
	}
	createClusterScoped(t, webhook)
	framework.WaitFor(t, 30*time.Second, func() (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(webhook), webhook); err != nil {
			return false, err
		}
		return bytes.Equal(webhook.Webhooks[0].ClientConfig.CABundle, wantCA), nil
	})
}

// createClusterScoped creates obj and deletes it when the test ends:
// namespace deletion does not reach cluster-scoped objects.
func createClusterScoped(t *testing.T, obj client.Object) {
	t.Helper()
	c := framework.Client()
	if err := c.Create(t.Context(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
	t.Cleanup(func() {
		// t.Context() is already cancelled when cleanups run.
		if err := client.IgnoreNotFound(c.Delete(context.Background(), obj)); err != nil {
			t.Errorf("deleting %T %s: %v", obj, obj.GetName(), err)
		}
	})
}

// An image built in Go and loaded into the node runs without a registry:
// the path the project's own image takes.
func TestSmokeBuiltImageRunsOnTheNode(t *testing.T) {
	ns := framework.NewNamespace(t)
	archive, err := framework.BuildImage(t.TempDir(), "example.com/hpp-e2e/hello", "v1", map[string]framework.FileSpec{
		"bin/busybox": {Mode: 0o755, Source: "/bin/busybox"},
	}, []string{"/bin/busybox", "echo"})
	if err != nil {
		t.Fatalf("building image: %v", err)
	}
	if err := framework.LoadImage(t.Context(), archive); err != nil {
		t.Fatalf("loading image: %v", err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hello"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:            "hello",
			Image:           "example.com/hpp-e2e/hello:v1",
			ImagePullPolicy: corev1.PullNever,
			Args:            []string{"built image works"}, // after the entrypoint
		}}},
	}
	framework.RunPod(t, pod)
	framework.WaitPodSucceeded(t, ns, pod.Name, 60*time.Second)
	if logs := framework.PodLogs(t, ns, pod.Name); !strings.Contains(logs, "built image works") {
		t.Fatalf("pod logs do not show the image ran:\n%s", logs)
	}
}
