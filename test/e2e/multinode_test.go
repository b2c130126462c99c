package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// pendingPod is a pod that wants the claim and is placed on node by the
// scheduler (not by spec.nodeName, which would bypass volume binding).
func pendingPod(ns, name, claim, node string) *corev1.Pod {
	pod := writerPod(ns, name, claim, "true")
	pod.Spec.NodeSelector = map[string]string{corev1.LabelHostname: node}
	return pod
}

func pvNode(pv *corev1.PersistentVolume) string {
	return pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values[0]
}

// Each node's instance provisions the WaitForFirstConsumer claims of pods
// scheduled to its node, in its own base path, and the PV pins pods there.
func TestClaimsLandOnTheNodeTheirPodIsScheduledTo(t *testing.T) {
	ns := framework.NewNamespace(t)
	nodes := []string{ns[len(ns)-6:] + "-b", ns[len(ns)-6:] + "-c"}
	bases := map[string]string{}
	for _, n := range nodes {
		startSimNode(t, n)
		bases[n] = baseDir(t)
		startProvisioner(t, bases[n], "--node-name="+n)
	}
	sc := storageClass(t, ns, wffc, deletePol, nil)
	for i := range 4 {
		node := nodes[i%2]
		claim := newClaim(ns, fmt.Sprintf("c%d", i), "1Mi", &sc.Name, nil)
		create(t, claim)
		framework.RunPod(t, pendingPod(ns, fmt.Sprintf("p%d", i), claim.Name, node))
		claim, pv := waitBound(t, claim, time.Minute)
		if got := claim.Annotations[policy.AnnSelectedNode]; got != node {
			t.Errorf("%s: selected node %q, want %q", claim.Name, got, node)
		}
		if pvNode(pv) != node || pv.Annotations[policy.AnnNode] != node {
			t.Errorf("%s: PV affinity %q, node annotation %q, want %q", claim.Name, pvNode(pv), pv.Annotations[policy.AnnNode], node)
		}
		for n, base := range bases {
			_, err := os.Stat(filepath.Join(base, pv.Annotations[policy.AnnPath]))
			if exists := err == nil; exists != (n == node) {
				t.Errorf("%s: directory on node %s exists=%v", claim.Name, n, exists)
			}
		}
	}
}

// Immediate claims are provisioned by exactly one instance, the lease
// holder; when it dies, another takes over within the lease duration.
func TestImmediateClaimsSurviveALeaseChange(t *testing.T) {
	ns := framework.NewNamespace(t)
	nodes := []string{ns[len(ns)-6:] + "-b", ns[len(ns)-6:] + "-c"}
	bases := map[string]string{}
	procs := map[string]*framework.Provisioner{}
	for _, n := range nodes {
		startSimNode(t, n)
		bases[n] = baseDir(t)
		procs[n] = startProvisioner(t, bases[n], "--node-name="+n, "--leader-elect=true", "--namespace="+ns)
	}
	sc := storageClass(t, ns, immediate, deletePol, nil)

	holder := func() string {
		var lease string
		framework.WaitFor(t, time.Minute, func() (bool, error) {
			l, err := framework.Clientset().CoordinationV1().Leases(ns).Get(ctxT(t), "hostpath-provisioner", metav1.GetOptions{})
			if err != nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
				return false, nil
			}
			lease = *l.Spec.HolderIdentity
			return true, nil
		})
		node, _, _ := strings.Cut(lease, "_")
		return node
	}
	// countDirs proves a claim was provisioned once, on one node.
	checkOnce := func(claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) {
		found := 0
		for _, base := range bases {
			if _, err := os.Stat(filepath.Join(base, pv.Annotations[policy.AnnPath])); err == nil {
				found++
			}
		}
		if found != 1 {
			t.Errorf("%s provisioned on %d nodes", claim.Name, found)
		}
	}

	first := holder()
	for i := range 5 {
		claim := newClaim(ns, fmt.Sprintf("before-%d", i), "1Mi", &sc.Name, nil)
		create(t, claim)
		claim, pv := waitBound(t, claim, time.Minute)
		if pv.Annotations[policy.AnnNode] != first {
			t.Errorf("%s provisioned on %s, but %s holds the lease", claim.Name, pv.Annotations[policy.AnnNode], first)
		}
		checkOnce(claim, pv)
	}

	procs[first].Kill()
	killed := time.Now()
	var claims []*corev1.PersistentVolumeClaim
	for i := range 5 {
		claim := newClaim(ns, fmt.Sprintf("after-%d", i), "1Mi", &sc.Name, nil)
		create(t, claim)
		claims = append(claims, claim)
	}
	var slowest time.Duration
	for _, claim := range claims {
		claim, pv := waitBound(t, claim, 2*time.Minute)
		if since := time.Since(killed); since > slowest {
			slowest = since
		}
		if pv.Annotations[policy.AnnNode] == first {
			t.Errorf("%s provisioned by the killed instance", claim.Name)
		}
		checkOnce(claim, pv)
	}
	t.Logf("lease change: Immediate claims created after the holder was killed were all Bound %.1fs later (lease duration 15s)", slowest.Seconds())
}

// When a node is gone for good, its Released volumes are let go by the lease
// holder after the grace period, with an event saying where the directory
// was, instead of waiting forever for an instance that will not come back.
func TestVolumesOfADeletedNodeAreReleased(t *testing.T) {
	ns := framework.NewNamespace(t)
	gone := ns[len(ns)-6:] + "-gone"
	node := startSimNode(t, gone)
	goneBase := baseDir(t)
	goneProc := startProvisioner(t, goneBase, "--node-name="+gone)
	// The real node's instance holds the (implicit) lease.
	startProvisioner(t, baseDir(t), "--node-gone-grace-period=3s")
	sc := storageClass(t, ns, wffc, deletePol, nil)

	claim := newClaim(ns, "stranded", "1Mi", &sc.Name, nil)
	create(t, claim)
	framework.RunPod(t, pendingPod(ns, "user", claim.Name, gone))
	claim, pv := waitBound(t, claim, time.Minute)

	goneProc.Stop()
	node.Stop()
	deleteObj(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "user"}})
	if err := framework.Clientset().CoreV1().Pods(ns).Delete(ctxT(t), "user", *metav1.NewDeleteOptions(0)); err != nil && !strings.Contains(err.Error(), "not found") {
		t.Fatal(err)
	}
	deleteObj(t, claim)
	deleteObj(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: gone}})

	msg := waitEvent(t, "default", pv.Name, "NodeGone", "Node "+gone+" no longer exists", time.Minute)
	if !strings.Contains(msg, filepath.Join(goneBase, pv.Annotations[policy.AnnPath])) {
		t.Errorf("event %q does not say where the directory was", msg)
	}
	waitPVGone(t, pv.Name, time.Minute)
	if _, err := os.Stat(filepath.Join(goneBase, pv.Annotations[policy.AnnPath])); err != nil {
		t.Errorf("the directory on the gone node must be left alone (it is not ours to reach): %v", err)
	}
}

// A node whose base path cannot hold the claim sends it back to the
// scheduler with an event, and creates nothing.
func TestAFullNodeSendsTheClaimBackToTheScheduler(t *testing.T) {
	ns := framework.NewNamespace(t)
	full := ns[len(ns)-6:] + "-full"
	startSimNode(t, full)
	base := baseDir(t)
	startProvisioner(t, base, "--node-name="+full)
	sc := storageClass(t, ns, wffc, deletePol, nil)

	claim := newClaim(ns, "too-big", "1Ei", &sc.Name, nil)
	create(t, claim)
	rescheduled := watchSelectedNodeRemoved(t, claim)
	framework.RunPod(t, pendingPod(ns, "wants", claim.Name, full))
	waitEvent(t, ns, claim.Name, "ProvisioningFailed", "not enough space on node "+full, time.Minute)
	// Rescheduling is the removal of the selected node, which the watch
	// sees even if the scheduler picks (this same) node again right after.
	framework.WaitFor(t, time.Minute, func() (bool, error) {
		select {
		case <-rescheduled:
			return true, nil
		default:
			return false, nil
		}
	})
	if err := framework.Client().Get(ctxT(t), client.ObjectKeyFromObject(claim), claim); err != nil || claim.Status.Phase != corev1.ClaimPending {
		t.Errorf("claim %v %v", claim.Status.Phase, err)
	}
	if entries, _ := framework.VolumeDirs(base); len(entries) != 0 {
		t.Errorf("a refused claim created %v", entries)
	}
}

// watchSelectedNodeRemoved closes the returned channel when the claim's
// selected-node annotation goes from set to unset.
func watchSelectedNodeRemoved(t *testing.T, claim *corev1.PersistentVolumeClaim) <-chan struct{} {
	t.Helper()
	w, err := framework.Clientset().CoreV1().PersistentVolumeClaims(claim.Namespace).Watch(ctxT(t), metav1.ListOptions{
		FieldSelector: "metadata.name=" + claim.Name, ResourceVersion: claim.ResourceVersion,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer w.Stop()
		seen := false
		for ev := range w.ResultChan() {
			c, ok := ev.Object.(*corev1.PersistentVolumeClaim)
			if !ok {
				continue
			}
			_, set := c.Annotations[policy.AnnSelectedNode]
			if set {
				seen = true
			} else if seen {
				close(done)
				return
			}
		}
	}()
	return done
}
