package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/quota/quotatest"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// writeBasePathConfig writes a --base-path-config file.
func writeBasePathConfig(t *testing.T, yaml string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "base-paths.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func mount(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		t.Fatalf("mount %v: %v %s", args, err, out)
	}
}

// Two disks in one process: a btrfs filesystem with quotas ("fast") and a
// plain directory ("bulk"), a class for each. Each class's claims land on
// its disk with that disk's enforcement (a btrfs qgroup stops a pod at its
// claim's size; the plain directory records the size only). Then bulk
// goes read-only: its class's claims are refused with an event naming it
// and readiness names it, while fast keeps provisioning.
func TestTwoDisksEachClassOnItsOwn(t *testing.T) {
	ns := framework.NewNamespace(t)
	fast := quotatest.MountBtrfs(t, true)
	bulk := baseDir(t)
	cfg := writeBasePathConfig(t, fmt.Sprintf("basePaths:\n- name: fast\n  path: %s\n  mustBeMountpoint: true\n- name: bulk\n  path: %s\n", fast, bulk))
	p := startProvisioner(t, baseDir(t), "--base-path-config="+cfg)
	fastClass := storageClass(t, ns+"-fast", immediate, deletePol, map[string]string{policy.ParamBasePath: "fast", policy.ParamQuota: "required"})
	bulkClass := storageClass(t, ns+"-bulk", immediate, deletePol, map[string]string{policy.ParamBasePath: "bulk"})

	onFast := newClaim(ns, "on-fast", "8Mi", &fastClass.Name, nil)
	onBulk := newClaim(ns, "on-bulk", "8Mi", &bulkClass.Name, nil)
	create(t, onFast)
	create(t, onBulk)
	onFast, fastPV := waitBound(t, onFast, time.Minute)
	onBulk, bulkPV := waitBound(t, onBulk, time.Minute)
	for _, c := range []struct {
		pv          *corev1.PersistentVolume
		base, quota string
	}{{fastPV, fast, "btrfs"}, {bulkPV, bulk, "none"}} {
		if got := c.pv.Spec.HostPath.Path; filepath.Dir(got) != c.base || c.pv.Annotations[policy.AnnBasePath] != c.base {
			t.Errorf("PV %s at %s (base annotation %s), want it in %s", c.pv.Name, got, c.pv.Annotations[policy.AnnBasePath], c.base)
		}
		if _, err := os.Stat(c.pv.Spec.HostPath.Path); err != nil {
			t.Errorf("PV %s: %v", c.pv.Name, err)
		}
		if q := c.pv.Annotations[policy.AnnQuota]; q != c.quota {
			t.Errorf("PV %s: quota %q, want %q", c.pv.Name, q, c.quota)
		}
	}
	write := func(pod, claim string) string {
		framework.RunPod(t, writerPod(ns, pod, claim,
			"if dd if=/dev/urandom of=/data/blob bs=1M count=16 conv=fsync 2>/tmp/err; then echo WROTE; else cat /tmp/err; fi"))
		framework.WaitPodSucceeded(t, ns, pod, 2*time.Minute)
		return framework.PodLogs(t, ns, pod)
	}
	if logs := write("fast-writer", onFast.Name); !strings.Contains(logs, "Disk quota exceeded") {
		t.Errorf("16MiB into an 8Mi claim on the btrfs disk: %s", logs)
	}
	if logs := write("bulk-writer", onBulk.Name); !strings.Contains(logs, "WROTE") {
		t.Errorf("16MiB into an 8Mi claim on the plain disk, which records sizes only: %s", logs)
	}

	// bulk goes read-only under the running process.
	mount(t, "--bind", bulk, bulk)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", bulk).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v %s", bulk, err, out)
		}
	})
	mount(t, "-o", "remount,ro,bind", bulk)
	refused := newClaim(ns, "refused", "1Mi", &bulkClass.Name, nil)
	create(t, refused)
	waitEvent(t, ns, refused.Name, "ProvisioningFailed", `base path "bulk" (`+bulk+`) on node `+framework.NodeName()+`: base path `+bulk+` is not writable`, time.Minute)
	stillFast := newClaim(ns, "still-fast", "1Mi", &fastClass.Name, nil)
	create(t, stillFast)
	waitBound(t, stillFast, time.Minute)

	resp, err := http.Get("http://" + p.ProbeAddr() + "/readyz?verbose")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || !strings.Contains(string(body), "[-]base-path-bulk failed") || !strings.Contains(string(body), "[+]base-path-fast ok") {
		t.Errorf("readiness %d:\n%s\nwant base-path-bulk failing and base-path-fast ok", resp.StatusCode, body)
	}
	deleteObj(t, refused)
	deleteObj(t, onBulk)
	framework.ForgetVolumes(t, bulk)
	framework.ForgetVolumes(t, fast)
}

// One name, a directory per node: bulk is /…/b on one simulated node and
// /…/c on the other, and a WaitForFirstConsumer claim of its class lands
// in the directory of the node its pod is scheduled to. A node where
// bulk has no directory does not provision it: its claim goes back to the
// scheduler with an event that says so.
func TestABasePathIsADirectoryPerNode(t *testing.T) {
	ns := framework.NewNamespace(t)
	suffix := ns[len(ns)-6:]
	nodes := []string{suffix + "-b", suffix + "-c", suffix + "-d"}
	dirs := map[string]string{nodes[0]: baseDir(t), nodes[1]: baseDir(t)}
	cfg := writeBasePathConfig(t, fmt.Sprintf("basePaths:\n- name: bulk\n  nodes:\n    %s: %s\n    %s: %s\n", nodes[0], dirs[nodes[0]], nodes[1], dirs[nodes[1]]))
	for _, n := range nodes {
		startSimNode(t, n)
		startProvisioner(t, baseDir(t), "--node-name="+n, "--base-path-config="+cfg)
	}
	sc := storageClass(t, ns, wffc, deletePol, map[string]string{policy.ParamBasePath: "bulk"})
	for i, node := range nodes[:2] {
		claim := newClaim(ns, fmt.Sprintf("c%d", i), "1Mi", &sc.Name, nil)
		create(t, claim)
		framework.RunPod(t, pendingPod(ns, fmt.Sprintf("p%d", i), claim.Name, node))
		_, pv := waitBound(t, claim, time.Minute)
		if got := filepath.Dir(pv.Spec.HostPath.Path); got != dirs[node] || pvNode(pv) != node {
			t.Errorf("%s: PV in %s on node %s, want %s on %s", claim.Name, got, pvNode(pv), dirs[node], node)
		}
		if _, err := os.Stat(pv.Spec.HostPath.Path); err != nil {
			t.Errorf("%s: %v", claim.Name, err)
		}
		framework.ForgetVolumes(t, dirs[node])
	}
	none := newClaim(ns, "none", "1Mi", &sc.Name, nil)
	create(t, none)
	framework.RunPod(t, pendingPod(ns, "p-none", none.Name, nodes[2]))
	waitEvent(t, ns, none.Name, "ProvisioningFailed", `base path "bulk" has no directory on node `+nodes[2], time.Minute)
}
