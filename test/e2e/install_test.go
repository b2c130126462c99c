package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// installedImageWasPulled checks that every provisioner pod runs the image
// the kubelet pulled from the e2e registry: after the push the registry
// served the index, and the container's imageID is the registry's
// repository at the digest of the index pushed (containerd reports a
// pulled image so; an imported one would be a bare config digest).
func installedImageWasPulled(t *testing.T) {
	t.Helper()
	img := framework.PushProjectImage(t)
	reqs := img.Pulls()
	if !img.Pulled() {
		t.Errorf("the e2e registry did not serve %s's index after the push (requests since: %v): the image did not come from it", img.Ref, reqs)
	}
	pods, err := framework.Clientset().CoreV1().Pods(framework.InstallNamespace).List(ctxT(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Image != img.Ref || cs.ImageID != img.ImageID() {
				t.Errorf("pod %s container %s runs image %s (imageID %s), want %s pulled as %s", p.Name, cs.Name, cs.Image, cs.ImageID, img.Ref, img.ImageID())
			}
		}
	}
	t.Logf("the kubelet pulled %s from the e2e registry (%d manifest requests: %v)", img.ImageID(), len(reqs), reqs)
}

func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := framework.Kubectl(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// runCheck runs `hostpath-provisioner check` as a user would, with the
// admin kubeconfig, and returns its report and whether it passed.
func runCheck(t *testing.T) (string, bool) {
	t.Helper()
	cmd := exec.Command(provisionerBinary(t), "check", "--kubeconfig="+framework.KubeconfigPath(), "--base-path=/nonexistent-on-purpose")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String() + errb.String(), err == nil
}

// runInstalledQuickStart runs the original's quick start
// (config/samples) in the default namespace against the provisioner
// installed in the cluster: the class-less claim gets the hostpath class
// from the webhook and is Bound, and its directory on the host has the
// original's mode and holds the file the pod wrote. It returns the claim,
// its directory and what the pod wrote; the pod and the claim are deleted
// when the test ends, if the test has not deleted them itself.
func runInstalledQuickStart(t *testing.T) (*corev1.PersistentVolumeClaim, string, string) {
	t.Helper()
	const ns = "default"
	kubectl(t, "-n", ns, "create", "-f", filepath.Join(mustRoot(t), "config/samples/test-claim.yaml"))
	kubectl(t, "-n", ns, "create", "-f", filepath.Join(mustRoot(t), "config/samples/test-pod.yaml"))
	t.Cleanup(func() {
		if t.Failed() {
			framework.DumpNamespace(t, ns)
		}
		if out, err := framework.Kubectl("-n", ns, "delete", "--ignore-not-found", "pod/hostpath-test-pod", "pvc/hostpath-test-claim"); err != nil {
			t.Logf("deleting the quick start's pod and claim at cleanup: %v\n%s", err, out)
		}
	})
	framework.WaitPodSucceeded(t, ns, "hostpath-test-pod", 2*time.Minute)
	claim, _ := waitBound(t, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hostpath-test-claim"}}, time.Minute)
	if claim.Spec.StorageClassName == nil || *claim.Spec.StorageClassName != policy.DefaultClassName {
		t.Fatalf("the quick-start claim has class %v; the webhook should have given it %s", claim.Spec.StorageClassName, policy.DefaultClassName)
	}
	dir := filepath.Join(policy.DefaultBasePath, "default-hostpath-test-claim-pvc-"+string(claim.UID))
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatalf("the quick-start volume's directory: %v", err)
	}
	if fi.Mode().Perm() != policy.DefaultMode {
		t.Errorf("%s has mode %v, want %v (the original's)", dir, fi.Mode().Perm(), policy.DefaultMode)
	}
	written := readFile(t, filepath.Join(dir, "SUCCESS"))
	if !strings.Contains(written, "written by") {
		t.Fatalf("%s/SUCCESS = %q, want what the quick-start pod writes", dir, written)
	}
	return claim, dir, written
}

// The user's install: cert-manager is there, then one `kubectl apply` of
// the manifest, whose image the kubelet pulls from a registry (on loopback,
// holding the index `make image` builds). The in-cluster DaemonSet becomes
// Ready only when its
// certificate is loaded and the injected CA verifies it; then the original
// quick start runs against it, with the webhook reached through its
// Service, and `check` reports a healthy install (and a broken one).
func TestInstallManifestRunsTheQuickStart(t *testing.T) {
	framework.UseDefaultBasePath(t)
	framework.Install(t, framework.InstallManifestFile(t))
	installedImageWasPulled(t)
	report, ok := runCheck(t)
	if !ok {
		t.Fatalf("check failed on a healthy install:\n%s", report)
	}
	t.Logf("check on a healthy install:\n%s", report)

	const ns = "default"
	_, dir, _ := runInstalledQuickStart(t)
	installedMetricsNeedAToken(t)
	cloneUnderShippedCapabilities(t, ns, "hostpath-test-claim", "SUCCESS")
	kubectl(t, "-n", ns, "delete", "pod/hostpath-test-pod", "pvc/hostpath-test-claim")
	waitGone(t, dir, time.Minute)

	rollingRestartLosesNoAdmission(t)

	// A broken install: another class marked cluster default takes the
	// class-less claims; check says so and how to fix it.
	rival := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "rival-default", Annotations: map[string]string{policy.AnnIsDefaultClass: "true"}},
		Provisioner: "example.com/other", VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)}
	createClusterScoped(t, rival)
	report, ok = runCheck(t)
	if ok || !strings.Contains(report, "FAIL default StorageClass: rival-default is the cluster default") {
		t.Errorf("check with a rival default class passed=%v:\n%s", ok, report)
	}
}

func mustRoot(t *testing.T) string {
	t.Helper()
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// rollingRestartLosesNoAdmission restarts the DaemonSet while class-less
// claims are created at 10/s: no create fails, and every claim ends with the
// hostpath class. On this loopback cluster the pod is replaced rather than
// surged (see framework.LoopbackManifest), so claims admitted while no pod
// serves pass unmutated (failurePolicy Ignore) and the default-class
// reconciler gives them the class; the test reports how many.
func rollingRestartLosesNoAdmission(t *testing.T) {
	ns := framework.NewNamespace(t)
	cs := framework.Clientset()
	var mu sync.Mutex
	var created, mutated int
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			c := newClaim(ns, fmt.Sprintf("roll-%d", i), "1Mi", nil, nil)
			got, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), c, metav1.CreateOptions{})
			mu.Lock()
			switch {
			case err != nil:
				failures = append(failures, err.Error())
			default:
				created++
				if got.Spec.StorageClassName != nil {
					mutated++
				}
			}
			mu.Unlock()
		}
	})
	time.Sleep(2 * time.Second)
	kubectl(t, "-n", framework.InstallNamespace, "rollout", "restart", "daemonset/hostpath-provisioner")
	kubectl(t, "-n", framework.InstallNamespace, "rollout", "status", "daemonset/hostpath-provisioner", "--timeout=3m")
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()

	t.Logf("rolling restart: %d claims created, %d failed, %d got their class at admission, %d passed unmutated while no pod served",
		created, len(failures), mutated, created-mutated)
	if len(failures) > 0 {
		t.Errorf("%d creates failed during the rolling restart, first: %s", len(failures), failures[0])
	}
	framework.WaitFor(t, 2*time.Minute, func() (bool, error) {
		list, err := cs.CoreV1().PersistentVolumeClaims(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range list.Items {
			if c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != "hostpath" {
				return false, nil
			}
		}
		return len(list.Items) == created, nil
	})
}

// cloneUnderShippedCapabilities clones source with the capabilities the
// install manifest gives the process (no CAP_SYS_ADMIN) and reads file back
// from the clone in a pod.
func cloneUnderShippedCapabilities(t *testing.T, ns, source, file string) {
	t.Helper()
	clone := newClaim(ns, "hostpath-test-clone", "1Mi", ptr.To("hostpath"), nil)
	clone.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: source}
	create(t, clone)
	t.Cleanup(func() {
		if out, err := framework.Kubectl("-n", ns, "delete", "--ignore-not-found", "pod/hostpath-test-clone-reader", "pvc/hostpath-test-clone"); err != nil {
			t.Logf("deleting the clone's pod and claim at cleanup: %v\n%s", err, out)
		}
	})
	framework.RunPod(t, writerPod(ns, "hostpath-test-clone-reader", clone.Name, "cat /data/"+file))
	framework.WaitPodSucceeded(t, ns, "hostpath-test-clone-reader", 2*time.Minute)
	if logs := framework.PodLogs(t, ns, "hostpath-test-clone-reader"); !strings.Contains(logs, "written by") {
		t.Errorf("the clone's %s as a pod reads it: %q", file, logs)
	}
	waitEvent(t, ns, clone.Name, "Cloned", "by copy", time.Minute)
}
