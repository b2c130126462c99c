package e2e

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// storageClass creates a class of our provisioner, deleted at test end.
func storageClass(t *testing.T, name string, mode storagev1.VolumeBindingMode, reclaim corev1.PersistentVolumeReclaimPolicy, params map[string]string) *storagev1.StorageClass {
	t.Helper()
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: name},
		Provisioner:       policy.ProvisionerName,
		VolumeBindingMode: &mode,
		ReclaimPolicy:     &reclaim,
		Parameters:        params,
	}
	createClusterScoped(t, sc)
	return sc
}

func newClaim(ns, name, size string, class *string, ann map[string]string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: class,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := framework.Client().Create(ctxT(t), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func deleteObj(t *testing.T, obj client.Object) {
	t.Helper()
	if err := framework.Client().Delete(ctxT(t), obj); err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("deleting %T %s: %v", obj, obj.GetName(), err)
	}
}

// waitBound waits for the claim to be Bound and returns it with its PV.
func waitBound(t *testing.T, claim *corev1.PersistentVolumeClaim, timeout time.Duration) (*corev1.PersistentVolumeClaim, *corev1.PersistentVolume) {
	t.Helper()
	c := framework.Client()
	framework.WaitFor(t, timeout, func() (bool, error) {
		if err := c.Get(ctxT(t), client.ObjectKeyFromObject(claim), claim); err != nil {
			return false, err
		}
		return claim.Status.Phase == corev1.ClaimBound, nil
	})
	pv := &corev1.PersistentVolume{}
	if err := c.Get(ctxT(t), client.ObjectKey{Name: claim.Spec.VolumeName}, pv); err != nil {
		t.Fatalf("reading PV %s: %v", claim.Spec.VolumeName, err)
	}
	return claim, pv
}

// writerPod mounts the claim at /data and runs script there.
func writerPod(ns, name, claim, script string) *corev1.Pod {
	pod := framework.BusyboxPod(ns, name, script)
	pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
	}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	return pod
}

// runWriter runs a pod that writes content into the claim and waits for it.
func runWriter(t *testing.T, ns, podName, claim, file, content string) {
	t.Helper()
	framework.RunPod(t, writerPod(ns, podName, claim, fmt.Sprintf("printf '%%s' '%s' > /data/%s && sync", content, file)))
	framework.WaitPodSucceeded(t, ns, podName, 2*time.Minute)
	deleteObj(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: podName}})
}

// waitEvent waits for an event on the named object whose reason and
// message match, and returns its message.
func waitEvent(t *testing.T, ns, object, reason, contains string, timeout time.Duration) string {
	t.Helper()
	var msg string
	framework.WaitFor(t, timeout, func() (bool, error) {
		evs, err := framework.Clientset().CoreV1().Events(ns).List(ctxT(t), metav1.ListOptions{FieldSelector: "involvedObject.name=" + object})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == reason && strings.Contains(e.Message, contains) {
				msg = e.Message
				return true, nil
			}
		}
		return false, nil
	})
	return msg
}

func waitGone(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	framework.WaitFor(t, timeout, func() (bool, error) {
		_, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil
		}
		return false, nil
	})
}

func waitPVGone(t *testing.T, name string, timeout time.Duration) {
	t.Helper()
	framework.WaitFor(t, timeout, func() (bool, error) {
		err := framework.Client().Get(ctxT(t), client.ObjectKey{Name: name}, &corev1.PersistentVolume{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the file the pod wrote is not on the host: %v", err)
	}
	return string(b)
}

// baseDir is a fresh base path for one test's provisioner.
func baseDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hpp-base-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
