package main

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// The controller walks a claim through the protocol: nothing before the
// scheduler picks a node, then a prime claim on that node and a populate
// pod, and after the pod succeeded the volume handed to the user's claim
// and the prime claim and pod gone.
func TestControllerHandsThePopulatedVolumeOver(t *testing.T) {
	ctx := t.Context()
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	user := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "data", UID: "u1", ResourceVersion: "7"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}},
			StorageClassName: ptr.To("hostpath"),
			DataSourceRef:    &corev1.TypedObjectReference{APIGroup: ptr.To(group), Kind: kind, Name: "greeting"},
		},
	}
	cs := fake.NewClientset(user, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "hostpath"}, VolumeBindingMode: &wffc})
	hello := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": group + "/v1alpha1", "kind": kind,
		"metadata": map[string]any{"namespace": "app", "name": "greeting"},
		"spec":     map[string]any{"fileName": "hello.txt", "fileContents": "hi"},
	}}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{hellos: "HelloList"}, hello)
	c := &controller{cs: cs, dyn: dyn, namespace: "pop", image: "hello:1"}

	must(t, c.sync(ctx))
	if _, err := cs.CoreV1().PersistentVolumeClaims("pop").Get(ctx, "prime-u1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a prime claim was made before the scheduler chose a node (err %v)", err)
	}

	user.Annotations = map[string]string{annSelectedNode: "node-a"}
	_, err := cs.CoreV1().PersistentVolumeClaims("app").Update(ctx, user, metav1.UpdateOptions{})
	must(t, err)
	must(t, c.sync(ctx))
	prime, err := cs.CoreV1().PersistentVolumeClaims("pop").Get(ctx, "prime-u1", metav1.GetOptions{})
	must(t, err)
	if prime.Annotations[annSelectedNode] != "node-a" || *prime.Spec.StorageClassName != "hostpath" ||
		!prime.Spec.Resources.Requests.Storage().Equal(resource.MustParse("1Mi")) {
		t.Errorf("prime claim = %+v, want the user's class and size on node-a", prime)
	}
	pod, err := cs.CoreV1().Pods("pop").Get(ctx, "populate-u1", metav1.GetOptions{})
	must(t, err)
	want := []string{"--mode=populate", "--file-name=hello.txt", "--file-contents=hi"}
	if got := pod.Spec.Containers[0].Args; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("populate pod args = %q, want %q", got, want)
	}
	if pod.Spec.Containers[0].Image != "hello:1" || pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "prime-u1" {
		t.Errorf("populate pod = %+v, want image hello:1 on prime-u1", pod.Spec)
	}

	// The provisioner binds the prime claim; the pod succeeds.
	_, err = cs.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-1"},
		Spec:       corev1.PersistentVolumeSpec{ClaimRef: &corev1.ObjectReference{Namespace: "pop", Name: "prime-u1", UID: prime.UID}},
	}, metav1.CreateOptions{})
	must(t, err)
	prime.Spec.VolumeName = "pv-1"
	_, err = cs.CoreV1().PersistentVolumeClaims("pop").Update(ctx, prime, metav1.UpdateOptions{})
	must(t, err)
	pod.Status.Phase = corev1.PodSucceeded
	_, err = cs.CoreV1().Pods("pop").UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	must(t, err)
	must(t, c.sync(ctx))

	pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, "pv-1", metav1.GetOptions{})
	must(t, err)
	if ref := pv.Spec.ClaimRef; ref.Namespace != "app" || ref.Name != "data" || ref.UID != "u1" {
		t.Errorf("PV claimRef = %+v, want the user's claim app/data (u1)", ref)
	}
	for what, get := range map[string]func() error{
		"prime claim": func() error {
			_, err := cs.CoreV1().PersistentVolumeClaims("pop").Get(ctx, "prime-u1", metav1.GetOptions{})
			return err
		},
		"populate pod": func() error {
			_, err := cs.CoreV1().Pods("pop").Get(ctx, "populate-u1", metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); !apierrors.IsNotFound(err) {
			t.Errorf("%s still there after the hand-over (err %v)", what, err)
		}
	}
}

// A prime claim whose user's claim was deleted is cleaned up.
func TestControllerDeletesPrimesOfDeletedClaims(t *testing.T) {
	ctx := t.Context()
	prime := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "pop", Name: "prime-gone", Annotations: map[string]string{annFor: "app/data/gone"}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "pop", Name: "populate-gone"}}
	unrelated := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "pop", Name: "other"}}
	cs := fake.NewClientset(prime, pod, unrelated)
	c := &controller{cs: cs, dyn: dynamicfake.NewSimpleDynamicClient(runtime.NewScheme()), namespace: "pop", image: "hello:1"}
	must(t, c.sync(ctx))
	if _, err := cs.CoreV1().PersistentVolumeClaims("pop").Get(ctx, "prime-gone", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("prime claim of a deleted claim kept (err %v)", err)
	}
	if _, err := cs.CoreV1().Pods("pop").Get(ctx, "populate-gone", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("populate pod of a deleted claim kept (err %v)", err)
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims("pop").Get(ctx, "other", metav1.GetOptions{}); err != nil {
		t.Errorf("a claim that is not a prime was touched: %v", err)
	}
}

func TestPopulateWritesTheFileInsideTheVolume(t *testing.T) {
	for _, bad := range []string{"", "/etc/passwd", "../escape", "a/../../b"} {
		if err := populateIn(t.TempDir(), bad, "x"); err == nil {
			t.Errorf("file name %q was accepted", bad)
		}
	}
	dir := t.TempDir()
	must(t, populateIn(dir, "sub/hello.txt", "hi"))
	if b, err := os.ReadFile(filepath.Join(dir, "sub", "hello.txt")); err != nil || string(b) != "hi" {
		t.Errorf("file = %q, %v; want hi", b, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
