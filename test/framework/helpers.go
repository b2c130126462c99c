package framework

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// NamespaceLabel marks every namespace made by NewNamespace.
const NamespaceLabel = "hpp-e2e/test"

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// NewNamespace creates a namespace for one test, named after it. At cleanup
// it prints the namespace's claims, volumes, pods, classes, events and the
// end of every component log if the test failed, then deletes the namespace.
// Delete objects in tests only when the deletion is what is tested: the dump
// shows what is left.
func NewNamespace(t testing.TB) string {
	t.Helper()
	name := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(name) > 50 {
		name = strings.TrimRight(name[:50], "-")
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	name = "e2e-" + name + "-" + hex.EncodeToString(suffix)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{NamespaceLabel: "true"}}}
	if _, err := Clientset().CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			DumpNamespace(t, name)
		}
		err := Clientset().CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting namespace %s: %v", name, err)
		}
	})
	return name
}

// WaitFor polls cond every 200ms until it returns true, returns an error, or
// timeout passes; the last two fail the test.
func WaitFor(t testing.TB, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	var condErr error
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, err := cond()
		condErr = err
		return ok, err
	})
	switch {
	case condErr != nil:
		t.Fatalf("while waiting: %v", condErr)
	case err != nil:
		t.Fatalf("condition not met within %s: %v", timeout, err)
	}
}

// WaitForProgress waits until count reaches want, failing only when count
// has not grown for stall. A load test asserts that all of its work
// completes, not how fast (speed is make bench's to measure), so a slower
// machine waits longer instead of failing at a fixed deadline.
func WaitForProgress(t testing.TB, what string, want int, stall time.Duration, count func() (int, error)) {
	t.Helper()
	last, lastChange := -1, time.Now()
	for {
		n, err := count()
		if err != nil {
			t.Fatalf("while waiting for %s: %v", what, err)
		}
		if n >= want {
			return
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		if time.Since(lastChange) > stall {
			t.Fatalf("%s: stuck at %d of %d for %s", what, n, want, stall)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: %d of %d when the test ended: %v", what, n, want, t.Context().Err())
		case <-time.After(time.Second):
		}
	}
}

// BusyboxPod returns a pod running script with sh in the busybox image, on
// the cluster's node, never restarted.
func BusyboxPod(namespace, name, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:    "main",
				Image:   BusyboxImage,
				Command: []string{"sh", "-c", script},
			}},
		},
	}
}

// RunPod creates pod after filling in what a pod on this cluster needs:
// images are never pulled, pods are never restarted and stop at once.
func RunPod(t testing.TB, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	pod = pod.DeepCopy()
	if pod.Spec.RestartPolicy == "" {
		pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	}
	if pod.Spec.TerminationGracePeriodSeconds == nil {
		pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if cs[i].ImagePullPolicy == "" {
				cs[i].ImagePullPolicy = corev1.PullIfNotPresent
			}
		}
	}
	created, err := Clientset().CoreV1().Pods(pod.Namespace).Create(t.Context(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	return created
}

// WaitPodSucceeded waits for the pod to complete successfully and fails the
// test, with the pod's status and logs, as soon as it fails.
func WaitPodSucceeded(t testing.TB, namespace, name string, timeout time.Duration) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	WaitFor(t, timeout, func() (bool, error) {
		p, err := Clientset().CoreV1().Pods(namespace).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, nil // transient; the timeout catches a real problem
		}
		pod = p
		switch p.Status.Phase {
		case corev1.PodSucceeded:
			return true, nil
		case corev1.PodFailed:
			return false, fmt.Errorf("pod %s/%s failed: %s %s; logs:\n%s", namespace, name, p.Status.Reason, p.Status.Message, PodLogs(t, namespace, name))
		}
		return false, nil
	})
	return pod
}

// PodLogs returns the logs of every container of a pod, for messages.
func PodLogs(t testing.TB, namespace, name string) string {
	t.Helper()
	pod, err := Clientset().CoreV1().Pods(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return fmt.Sprintf("(getting pod: %v)", err)
	}
	var b strings.Builder
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		raw, err := Clientset().CoreV1().Pods(namespace).GetLogs(name, &corev1.PodLogOptions{Container: c.Name}).DoRaw(context.Background())
		if err != nil {
			fmt.Fprintf(&b, "[%s] (no logs: %v)\n", c.Name, err)
			continue
		}
		fmt.Fprintf(&b, "[%s]\n%s\n", c.Name, strings.TrimRight(string(raw), "\n"))
	}
	return b.String()
}

// Kubectl runs kubectl against the test cluster with the admin kubeconfig
// and returns its standard output; the error carries its standard error.
func Kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return mustCluster().Kubectl(ctx, args...)
}
