package framework

import (
	"context"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

// InstallNamespace is where dist/install.yaml and the Helm chart run the
// provisioner's DaemonSet, named like the namespace.
const InstallNamespace = "hostpath-provisioner"

// UseDefaultBasePath is the guard of every test that installs the
// provisioner in the cluster: the in-cluster install writes to the host's
// real default base path. An empty one (left by `make demo`) is fine;
// existing data is never mixed with, so the test is skipped. A base path the
// test created is removed when it ends.
func UseDefaultBasePath(t testing.TB) string {
	t.Helper()
	base := policy.DefaultBasePath
	_, err := os.Stat(base)
	existed := err == nil
	if entries, _ := VolumeDirs(base); len(entries) > 0 {
		t.Skipf("skipping: %s holds data on this machine; the in-cluster install writes there and must not mix with it", base)
	}
	t.Cleanup(func() {
		if !existed {
			os.RemoveAll(base)
		}
	})
	return base
}

// InstallManifestFile is dist/install.yaml as users apply it, adapted to
// reach this cluster's API server (LoopbackManifest) and naming the image
// under test in the e2e registry (ManifestWithImage), which the node does
// not hold yet: its kubelet pulls it as a user's pulls ours. It returns the
// path of the adapted copy.
func InstallManifestFile(t testing.TB) string {
	t.Helper()
	img := PushProjectImage(t)
	if err := RemoveImage(context.Background(), img.Ref); err != nil {
		t.Fatal(err)
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "dist", "install.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	adapted, err := LoopbackManifest(raw)
	if err != nil {
		t.Fatal(err)
	}
	if adapted, err = ManifestWithImage(adapted, img.Ref); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "install.yaml")
	if err := os.WriteFile(path, adapted, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Install applies manifest (server-side, as the README says) and waits until
// the DaemonSet has rolled out. When the test ends, it dumps the install's
// namespace if the test failed, runs beforeUninstall (claims to delete while
// the provisioner still runs, say), and deletes the manifest.
func Install(t testing.TB, manifest string, beforeUninstall ...func()) {
	t.Helper()
	if out, err := Kubectl("apply", "--server-side", "-f", manifest); err != nil {
		t.Fatalf("kubectl apply --server-side -f %s: %v: %s", manifest, err, strings.TrimSpace(out))
	}
	t.Cleanup(func() {
		if t.Failed() {
			DumpInstall(t)
		}
		for _, f := range beforeUninstall {
			f()
		}
		if out, err := Kubectl("delete", "--ignore-not-found", "--wait=true", "--timeout=3m", "-f", manifest); err != nil {
			t.Logf("uninstalling %s: %v: %s", manifest, err, out)
		}
	})
	WaitRolledOut(t, 3*time.Minute)
}

// WaitRolledOut waits until every node runs a Ready provisioner of the
// DaemonSet's current generation (which, on this cluster, takes the
// certificate from cert-manager and the injected CA). `helm --wait` is not
// enough: it counts a DaemonSet whose controller has not scheduled a pod yet
// as ready.
func WaitRolledOut(t testing.TB, timeout time.Duration) {
	t.Helper()
	WaitFor(t, timeout, func() (bool, error) {
		var ds appsv1.DaemonSet
		if err := Client().Get(context.Background(), client.ObjectKey{Namespace: InstallNamespace, Name: "hostpath-provisioner"}, &ds); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		st := ds.Status
		return st.ObservedGeneration == ds.Generation && st.DesiredNumberScheduled > 0 &&
			st.UpdatedNumberScheduled == st.DesiredNumberScheduled && st.NumberReady == st.DesiredNumberScheduled &&
			st.NumberUnavailable == 0, nil
	})
}

// DumpInstall logs the state of the install's namespace and the logs of its
// pods, for a test that failed with the provisioner installed.
func DumpInstall(t testing.TB) {
	t.Helper()
	DumpNamespace(t, InstallNamespace)
	pods, err := Clientset().CoreV1().Pods(InstallNamespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Logf("listing the pods of %s: %v", InstallNamespace, err)
		return
	}
	for _, p := range pods.Items {
		t.Logf("log of %s/%s:\n%s", InstallNamespace, p.Name, PodLogs(t, InstallNamespace, p.Name))
	}
}

// InstalledMetrics is the /metrics endpoint of the installed provisioner,
// verified against the CA of its cert-manager certificate. The loopback
// cluster runs the pod on the host network (see LoopbackManifest), so its
// port is the node's.
func InstalledMetrics(t testing.TB) MetricsEndpoint {
	t.Helper()
	c := Client()
	var secret corev1.Secret
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: InstallNamespace, Name: "hostpath-provisioner-metrics-tls"}, &secret); err != nil {
		t.Fatalf("reading the metrics certificate's Secret: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(secret.Data["ca.crt"]) {
		t.Fatalf("Secret %s has no ca.crt", secret.Name)
	}
	var ds appsv1.DaemonSet
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: InstallNamespace, Name: "hostpath-provisioner"}, &ds); err != nil {
		t.Fatal(err)
	}
	var port int32
	for _, p := range ds.Spec.Template.Spec.Containers[0].Ports {
		if p.Name == "metrics" {
			port = p.ContainerPort
		}
	}
	return MetricsEndpoint{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))),
		ServerName: "hostpath-provisioner-metrics." + InstallNamespace + ".svc", RootCAs: roots}
}
