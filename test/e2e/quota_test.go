package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/quota/quotatest"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// On a base path that enforces sizes, the size of a claim is real: a pod
// that writes past it is refused ("Disk quota exceeded" on btrfs and ext4,
// "No space left on device" for an XFS project), and its neighbour is not
// affected. btrfs runs here; XFS and ext4 project quotas run where the
// kernel supports them and skip, saying why, where it does not.
func TestQuotaStopsAPodAtItsClaimSize(t *testing.T) {
	for _, backend := range []struct {
		name, annotation string
		mount            func(t *testing.T) string
	}{
		{"btrfs", "btrfs", func(t *testing.T) string { return quotatest.MountBtrfs(t, true) }},
		{"xfs", "project", func(t *testing.T) string { return quotatest.MountProjectQuota(t, "xfs") }},
		{"ext4", "project", func(t *testing.T) string { return quotatest.MountProjectQuota(t, "ext4") }},
	} {
		t.Run(backend.name, func(t *testing.T) {
			base := backend.mount(t)
			ns := framework.NewNamespace(t)
			startProvisioner(t, base)
			sc := storageClass(t, ns, immediate, deletePol, map[string]string{"quota": "required"})

			write := func(claim, pod string, mib string) string {
				c := newClaim(ns, claim, "8Mi", &sc.Name, nil)
				create(t, c)
				c, pv := waitBound(t, c, time.Minute)
				if pv.Annotations[policy.AnnQuota] != backend.annotation {
					t.Errorf("%s: quota annotation %q, want %s", c.Name, pv.Annotations[policy.AnnQuota], backend.annotation)
				}
				framework.RunPod(t, writerPod(ns, pod, claim,
					"if dd if=/dev/urandom of=/data/blob bs=1M count="+mib+" conv=fsync 2>/tmp/err; then echo WROTE; else cat /tmp/err; fi"))
				framework.WaitPodSucceeded(t, ns, pod, 2*time.Minute)
				return framework.PodLogs(t, ns, pod)
			}
			if logs := write("greedy", "greedy-writer", "16"); !strings.Contains(logs, "Disk quota exceeded") && !strings.Contains(logs, "No space left on device") {
				t.Errorf("writing 16MiB into an 8Mi claim: %s", logs)
			}
			if logs := write("modest", "modest-writer", "4"); !strings.Contains(logs, "WROTE") {
				t.Errorf("the neighbour could not write 4MiB into its 8Mi claim: %s", logs)
			}
		})
	}
}

// Raising a bound claim's request raises its quota, the PV capacity and the
// claim's status capacity, while the pod keeps running.
func TestExpansionRaisesTheQuotaWithoutRestartingThePod(t *testing.T) {
	ns := framework.NewNamespace(t)
	base := quotatest.MountBtrfs(t, true)
	startProvisioner(t, base)
	sc := storageClass(t, ns, immediate, deletePol, map[string]string{"quota": "required"})
	sc.AllowVolumeExpansion = ptr.To(true)
	if err := framework.Client().Update(ctxT(t), sc); err != nil {
		t.Fatal(err)
	}
	claim := newClaim(ns, "grows", "8Mi", &sc.Name, nil)
	create(t, claim)
	claim, _ = waitBound(t, claim, time.Minute)

	// One pod for the whole story: it tries 12MiB, waits for the go-ahead
	// file the test writes after the expansion, then tries again.
	framework.RunPod(t, writerPod(ns, "writer", claim.Name, `
		dd if=/dev/urandom of=/data/blob bs=1M count=12 conv=fsync 2>/dev/null && echo FIRST-WROTE || echo FIRST-REFUSED
		rm -f /data/blob; sync
		while [ ! -e /data/grown ]; do sleep 0.2; done
		dd if=/dev/urandom of=/data/blob bs=1M count=12 conv=fsync 2>/dev/null && echo SECOND-WROTE || echo SECOND-REFUSED`))
	framework.WaitFor(t, 2*time.Minute, func() (bool, error) {
		return strings.Contains(framework.PodLogs(t, ns, "writer"), "FIRST-"), nil
	})

	// What the claim says the moment the PV shows the new size: watched,
	// not polled, so the claim is read within milliseconds of the change.
	claimWhenPVGrew := make(chan *corev1.PersistentVolumeClaim, 1)
	w, err := framework.Clientset().CoreV1().PersistentVolumes().Watch(ctxT(t), metav1.ListOptions{FieldSelector: "metadata.name=" + claim.Spec.VolumeName})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	go func() {
		defer close(claimWhenPVGrew)
		for ev := range w.ResultChan() {
			if pv, ok := ev.Object.(*corev1.PersistentVolume); ok && pv.Spec.Capacity.Storage().String() == "32Mi" {
				if c, err := framework.Clientset().CoreV1().PersistentVolumeClaims(ns).Get(ctxT(t), claim.Name, metav1.GetOptions{}); err == nil {
					claimWhenPVGrew <- c
				}
				return
			}
		}
	}()

	grow := []byte(`{"spec":{"resources":{"requests":{"storage":"32Mi"}}}}`)
	if err := framework.Client().Patch(ctxT(t), claim, client.RawPatch(types.MergePatchType, grow)); err != nil {
		t.Fatal(err)
	}
	// Whoever sees the PV grown must find the resize finished on the claim
	// (the Kubernetes volume-expand suite reads them in that order).
	select {
	case c := <-claimWhenPVGrew:
		if c == nil {
			t.Fatal("the PV watch ended before the PV showed 32Mi")
		}
		if s, ok := c.Status.AllocatedResourceStatuses[corev1.ResourceStorage]; ok || c.Status.Capacity.Storage().String() != "32Mi" {
			t.Errorf("when the PV showed 32Mi the claim had status.capacity %s and allocatedResourceStatuses[storage] %q; want 32Mi and none",
				c.Status.Capacity.Storage(), s)
		}
	case <-time.After(time.Minute):
		t.Fatal("the PV did not show 32Mi within a minute")
	}
	framework.WaitFor(t, time.Minute, func() (bool, error) {
		err := framework.Client().Get(ctxT(t), client.ObjectKeyFromObject(claim), claim)
		return claim.Status.Capacity.Storage().String() == "32Mi", err
	})
	// The event comes last, after the PV capacity.
	waitEvent(t, ns, claim.Name, "VolumeResizeSuccessful", "from 8Mi to 32Mi", time.Minute)
	pv := &corev1.PersistentVolume{}
	if err := framework.Client().Get(ctxT(t), client.ObjectKey{Name: claim.Spec.VolumeName}, pv); err != nil || pv.Spec.Capacity.Storage().String() != "32Mi" {
		t.Fatalf("PV capacity %v (%v)", pv.Spec.Capacity.Storage(), err)
	}
	if err := os.WriteFile(filepath.Join(base, pv.Annotations[policy.AnnPath], "grown"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pod := framework.WaitPodSucceeded(t, ns, "writer", 2*time.Minute)
	logs := framework.PodLogs(t, ns, "writer")
	if !strings.Contains(logs, "FIRST-REFUSED") || !strings.Contains(logs, "SECOND-WROTE") {
		t.Errorf("writes before and after expansion: %s", logs)
	}
	if rc := pod.Status.ContainerStatuses[0].RestartCount; rc != 0 {
		t.Errorf("the pod restarted %d times", rc)
	}
}
