package e2e

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// simNode is a Node object without a kubelet, kept Ready by renewing its
// Lease and status the way a kubelet does, so the scheduler places pods (and
// selects it for WaitForFirstConsumer claims) there. Pods never run on it:
// the stories only need the scheduling decision and the provisioning.
type simNode struct {
	name string
	stop context.CancelFunc
	done chan struct{}
}

func startSimNode(t *testing.T, name string) *simNode {
	t.Helper()
	cs := framework.Clientset()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name, corev1.LabelOSStable: "linux"}},
	}
	if _, err := cs.CoreV1().Nodes().Create(t.Context(), node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating node %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &simNode{name: name, stop: cancel, done: make(chan struct{})}
	var beat func() error
	heartbeat := func() error {
		// kube-controller-manager updates new nodes too (taints, CIDRs):
		// re-read and retry instead of failing on a conflict.
		return retry.RetryOnConflict(retry.DefaultRetry, beat)
	}
	beat = func() error {
		now := metav1.Now()
		cur, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		capacity := corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110"),
		}
		cur.Status.Capacity, cur.Status.Allocatable = capacity, capacity
		cur.Status.Conditions = []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "SimulatedKubeletReady",
			Message: "simulated by the e2e tests", LastHeartbeatTime: now, LastTransitionTime: now,
		}}
		if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return err
		}
		leases := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
		lease, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &metav1.MicroTime{Time: now.Time}},
			}, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		lease.Spec.RenewTime = &metav1.MicroTime{Time: now.Time}
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		return err
	}
	if err := heartbeat(); err != nil {
		t.Fatalf("first heartbeat of node %s: %v", name, err)
	}
	go func() {
		defer close(n.done)
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = heartbeat() // a missed beat is retried; the node-monitor grace period is 40 s
			}
		}
	}()
	// The scheduler must see the node without the not-ready taint the node
	// lifecycle controller puts on new nodes.
	framework.WaitFor(t, 30*time.Second, func() (bool, error) {
		cur, err := cs.CoreV1().Nodes().Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, taint := range cur.Spec.Taints {
			if taint.Key == corev1.TaintNodeNotReady || taint.Key == corev1.TaintNodeUnreachable {
				return false, nil
			}
		}
		return true, nil
	})
	t.Cleanup(func() {
		n.Stop()
		_ = cs.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return n
}

// Stop ends the heartbeats (the node object stays).
func (n *simNode) Stop() {
	n.stop()
	<-n.done
}
