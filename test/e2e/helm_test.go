package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

const (
	chartDir    = "charts/hostpath-provisioner"
	helmRelease = "hostpath-provisioner"
	helmNS      = framework.InstallNamespace
)

// helmClient runs the pinned helm (bin/tools/helm, `make tools`) against the
// loopback cluster, with a configuration of its own.
type helmClient struct {
	bin, root, home, postRenderer string
	// image is the project's image in the e2e registry, which the
	// post-renderer puts in place of the published one.
	image string
}

func newHelmClient(t *testing.T) *helmClient {
	t.Helper()
	root := mustRoot(t)
	bin := os.Getenv("HELM")
	if bin == "" {
		bin = filepath.Join(root, "bin", "tools", "helm")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("helm is not built at %s: run `make tools` (`make e2e` builds it first) or set HELM", bin)
	}
	// The post-renderer adapts what the chart renders to this cluster
	// exactly as the install test adapts dist/install.yaml.
	dir := t.TempDir()
	pr := filepath.Join(dir, "loopback-postrender")
	build := exec.Command("go", "build", "-o", pr, "./test/e2e/cmd/loopback-postrender")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the post-renderer: %v\n%s", err, out)
	}
	home := filepath.Join(dir, "helm-home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	img := framework.PushProjectImage(t)
	if err := framework.RemoveImage(ctxT(t), img.Ref); err != nil {
		t.Fatal(err)
	}
	return &helmClient{bin: bin, root: root, home: home, postRenderer: pr, image: img.Ref}
}

// run runs helm and returns its output, failing the test on an error.
func (h *helmClient) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := h.try(args...)
	if err != nil {
		// The first line names helm's own error: a failure summary that
		// shows one line of each message still says why.
		t.Fatalf("helm %s: %v: %s\n%s", strings.Join(args, " "), err, helmError(out), out)
	}
	return out
}

// helmError is the line of helm's output that says what went wrong: its
// "Error:" line, else the last line it printed.
func helmError(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "Error:") {
			return lines[i]
		}
	}
	return lines[len(lines)-1]
}

func (h *helmClient) try(args ...string) (string, error) {
	cmd := exec.Command(h.bin, append(args, "--kubeconfig", framework.KubeconfigPath())...)
	cmd.Dir = h.root
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+h.home, "HELM_CACHE_HOME="+h.home, "HELM_DATA_HOME="+h.home)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// deploy is helm install or upgrade of the chart from this checkout with
// the values files given, waiting for the DaemonSet's pods to be Ready.
func (h *helmClient) deploy(t *testing.T, verb string, valueFiles ...string) string {
	t.Helper()
	args := []string{verb, helmRelease, chartDir, "--namespace", helmNS, "--wait", "--timeout", "5m",
		"--post-renderer", h.postRenderer, "--post-renderer-args", "-image=" + h.image}
	if verb == "install" {
		args = append(args, "--create-namespace")
	}
	for _, f := range valueFiles {
		args = append(args, "-f", f)
	}
	start := time.Now()
	out := h.run(t, args...)
	framework.WaitRolledOut(t, 3*time.Minute)
	t.Logf("helm %s and the rollout took %s", verb, time.Since(start).Round(time.Second))
	return out
}

// chartImage is the image the chart names with default values.
func (h *helmClient) chartImage(t *testing.T) string {
	t.Helper()
	out := h.run(t, "template", helmRelease, chartDir, "--namespace", helmNS, "--show-only", "templates/daemonset.yaml")
	var ds appsv1.DaemonSet
	if err := yaml.Unmarshal([]byte(out), &ds); err != nil {
		t.Fatalf("decoding the chart's DaemonSet: %v\n%s", err, out)
	}
	return ds.Spec.Template.Spec.Containers[0].Image
}

func writeHelmValues(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// provisionerPods are the UIDs of the DaemonSet's pods, and their args.
func provisionerPods(t *testing.T) map[string][]string {
	t.Helper()
	var pods corev1.PodList
	if err := framework.Client().List(ctxT(t), &pods, client.InNamespace(helmNS),
		client.MatchingLabels{"app.kubernetes.io/name": "hostpath-provisioner", "app.kubernetes.io/component": "provisioner"}); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out[string(p.UID)] = p.Spec.Containers[0].Args
		}
	}
	return out
}

// stillBoundWithData checks that claim is Bound to the same volume as
// before and that a pod reads back what was written into it.
func stillBoundWithData(t *testing.T, ns, claimName, volumeName, file, want, pod string) {
	t.Helper()
	claim := &corev1.PersistentVolumeClaim{}
	if err := framework.Client().Get(ctxT(t), client.ObjectKey{Namespace: ns, Name: claimName}, claim); err != nil {
		t.Fatal(err)
	}
	if claim.Status.Phase != corev1.ClaimBound || claim.Spec.VolumeName != volumeName {
		t.Fatalf("claim %s/%s: phase %s, volume %q; want Bound to %s as before the upgrade", ns, claimName, claim.Status.Phase, claim.Spec.VolumeName, volumeName)
	}
	framework.RunPod(t, writerPod(ns, pod, claimName, "cat /data/"+file))
	framework.WaitPodSucceeded(t, ns, pod, 2*time.Minute)
	if logs := framework.PodLogs(t, ns, pod); !strings.Contains(logs, want) {
		t.Errorf("after the upgrade a pod reads %q from %s, want %q", logs, file, want)
	}
	deleteObj(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pod}})
}

// The user's Helm journey on a real cluster: install with default values
// and run the original quick start; upgrade with changed values (an extra
// class, more workers, then another pathPattern) while a volume stays Bound
// with its data; uninstall, and a retained volume's directory stays.
func TestHelmInstallUpgradeUninstall(t *testing.T) {
	framework.UseDefaultBasePath(t)
	// The chart names the published image, which the post-renderer
	// replaces with its copy in the e2e registry; the kubelet pulls it.
	h := newHelmClient(t)
	image := h.chartImage(t)
	if want, err := framework.ProjectImageRef(); err != nil || image != want {
		t.Fatalf("the chart's default image is %s, want %s (%v)", image, want, err)
	}

	c := framework.Client()
	t.Cleanup(func() {
		if t.Failed() {
			framework.DumpInstall(t)
		}
		if out, err := h.try("uninstall", helmRelease, "--namespace", helmNS, "--ignore-not-found", "--wait", "--timeout", "2m"); err != nil {
			t.Logf("helm uninstall at cleanup: %v\n%s", err, out)
		}
		if out, err := framework.Kubectl("delete", "namespace", helmNS, "--ignore-not-found", "--wait=true", "--timeout=2m"); err != nil {
			t.Logf("deleting namespace %s at cleanup: %v\n%s", helmNS, err, out)
		}
	})

	// 1. helm install with default values.
	notes := h.deploy(t, "install")
	if !strings.Contains(notes, "hostpath-provisioner "+strings.SplitN(image, ":", 2)[1]+" is installed") {
		t.Errorf("helm install printed no NOTES naming the release:\n%s", notes)
	}
	installedImageWasPulled(t)
	report, ok := runCheck(t)
	if !ok {
		t.Fatalf("check failed on the Helm install:\n%s", report)
	}
	if out := kubectl(t, "get", "namespace", helmNS, "-o", "jsonpath={.metadata.labels}"); !strings.Contains(out, "kubernetes.io/metadata.name") {
		t.Errorf("namespace %s labels %s", helmNS, out)
	}

	// The original quick start.
	const ns = "default"
	quick, quickDir, written := runInstalledQuickStart(t)

	// 2. helm upgrade with an extra class and another flag: the DaemonSet
	// rolls, the quick-start volume stays Bound with its data.
	before := provisionerPods(t)
	upgrade1 := writeHelmValues(t, "upgrade-1.yaml", `
extraStorageClasses:
  - name: hostpath-retain
    reclaimPolicy: Retain
    onDelete: retain
extraArgs: [--workers=8]
`)
	h.deploy(t, "upgrade", upgrade1)
	after := provisionerPods(t)
	for uid, args := range after {
		if _, old := before[uid]; old {
			t.Errorf("pod %s survived an upgrade that changed the flags", uid)
		}
		if !strings.Contains(strings.Join(args, " "), "--workers=8") {
			t.Errorf("upgraded pod %s runs with %v, want --workers=8", uid, args)
		}
	}
	if len(after) == 0 {
		t.Fatalf("no provisioner pod after the upgrade")
	}
	retainClass := &storagev1.StorageClass{}
	if err := c.Get(ctxT(t), client.ObjectKey{Name: "hostpath-retain"}, retainClass); err != nil {
		t.Fatalf("the upgrade's extra class: %v", err)
	}
	stillBoundWithData(t, ns, "hostpath-test-claim", quick.Spec.VolumeName, "SUCCESS", written, "read-after-upgrade-1")

	// A volume of the retained class, to outlive the uninstall.
	keepNS := framework.NewNamespace(t)
	keep := newClaim(keepNS, "keep-me", "1Mi", ptr.To("hostpath-retain"), nil)
	create(t, keep)
	runWriter(t, keepNS, "write-keep", keep.Name, "data.txt", "keep this")
	keep, keepPV := waitBound(t, keep, time.Minute)
	keepDir := filepath.Join(policy.DefaultBasePath, keepNS+"-keep-me-"+keep.Spec.VolumeName)
	t.Cleanup(func() {
		if out, err := framework.Kubectl("delete", "pv", keepPV.Name, "--ignore-not-found", "--wait=false"); err != nil {
			t.Logf("deleting PV %s at cleanup: %v\n%s", keepPV.Name, err, out)
		}
		os.RemoveAll(keepDir)
	})
	if got := readFile(t, filepath.Join(keepDir, "data.txt")); got != "keep this" {
		t.Fatalf("%s/data.txt = %q", keepDir, got)
	}

	// 3. Another pathPattern. A class's parameters cannot change in place, so
	// the admin deletes the class (bound volumes are not affected) and
	// upgrades, as the chart's README says.
	kubectl(t, "delete", "storageclass", policy.DefaultClassName)
	upgrade2 := writeHelmValues(t, "upgrade-2.yaml", `
storageClass:
  pathPattern: "{{ .PVC.Namespace }}/{{ .PVC.Name }}"
`)
	h.deploy(t, "upgrade", upgrade1, upgrade2)
	sc := &storagev1.StorageClass{}
	if err := c.Get(ctxT(t), client.ObjectKey{Name: policy.DefaultClassName}, sc); err != nil || sc.Parameters["pathPattern"] != "{{ .PVC.Namespace }}/{{ .PVC.Name }}" {
		t.Fatalf("class %s after the upgrade: %v, parameters %v", policy.DefaultClassName, err, sc.Parameters)
	}
	stillBoundWithData(t, ns, "hostpath-test-claim", quick.Spec.VolumeName, "SUCCESS", written, "read-after-upgrade-2")
	newNS := framework.NewNamespace(t)
	fresh := newClaim(newNS, "fresh", "1Mi", nil, nil)
	create(t, fresh)
	runWriter(t, newNS, "write-fresh", fresh.Name, "new.txt", "new pattern")
	if got := readFile(t, filepath.Join(policy.DefaultBasePath, newNS, "fresh", "new.txt")); got != "new pattern" {
		t.Errorf("a claim after the upgrade wrote %q into <base>/%s/fresh/new.txt", got, newNS)
	}

	// 4. helm uninstall, after deleting the claims whose data may go (as the
	// README asks); the retained volume's directory stays.
	kubectl(t, "-n", ns, "delete", "pod/hostpath-test-pod", "pvc/hostpath-test-claim")
	waitGone(t, quickDir, time.Minute)
	kubectl(t, "-n", newNS, "delete", "pvc/fresh")
	waitGone(t, filepath.Join(policy.DefaultBasePath, newNS, "fresh"), time.Minute)

	start := time.Now()
	h.run(t, "uninstall", helmRelease, "--namespace", helmNS, "--wait", "--timeout", "3m")
	t.Logf("helm uninstall took %s", time.Since(start).Round(time.Second))
	framework.WaitFor(t, 2*time.Minute, func() (bool, error) { return len(provisionerPods(t)) == 0, nil })
	for _, obj := range []client.Object{
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: helmNS, Name: "hostpath-provisioner"}},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: policy.DefaultClassName}},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "hostpath-retain"}},
	} {
		if err := c.Get(ctxT(t), client.ObjectKeyFromObject(obj), obj); !apierrors.IsNotFound(err) {
			t.Errorf("%T %s after helm uninstall: %v, want it gone", obj, obj.GetName(), err)
		}
	}
	if out, _ := framework.Kubectl("get", "mutatingwebhookconfiguration,validatingwebhookconfiguration", "hostpath-provisioner", "--ignore-not-found", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Errorf("webhook configurations after helm uninstall: %s", out)
	}
	if got := readFile(t, filepath.Join(keepDir, "data.txt")); got != "keep this" {
		t.Errorf("after helm uninstall the retained volume holds %q", got)
	}
	// Its claim can go now too: nothing is left to delete the directory,
	// and the Retain policy says nothing may.
	deleteObj(t, keep)
	framework.WaitFor(t, time.Minute, func() (bool, error) {
		if err := c.Get(ctxT(t), client.ObjectKeyFromObject(keepPV), keepPV); err != nil {
			return false, err
		}
		return keepPV.Status.Phase == corev1.VolumeReleased, nil
	})
	if got := readFile(t, filepath.Join(keepDir, "data.txt")); got != "keep this" {
		t.Errorf("after deleting its claim the retained volume holds %q", got)
	}
}
