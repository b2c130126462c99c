package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/quota/quotatest"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// On a btrfs base path with quotas, the size of a claim is real: a pod that
// writes past it gets "Disk quota exceeded", and its neighbour is not
// affected.
func TestQuotaStopsAPodAtItsClaimSize(t *testing.T) {
	ns := framework.NewNamespace(t)
	base := quotatest.MountBtrfs(t, true)
	startProvisioner(t, base)
	sc := storageClass(t, ns, immediate, deletePol, map[string]string{"quota": "required"})

	write := func(claim, pod string, mib string) string {
		c := newClaim(ns, claim, "8Mi", &sc.Name, nil)
		create(t, c)
		c, pv := waitBound(t, c, time.Minute)
		if pv.Annotations[policy.AnnQuota] != "btrfs" {
			t.Errorf("%s: quota annotation %q, want btrfs", c.Name, pv.Annotations[policy.AnnQuota])
		}
		framework.RunPod(t, writerPod(ns, pod, claim,
			"if dd if=/dev/urandom of=/data/blob bs=1M count="+mib+" conv=fsync 2>/tmp/err; then echo WROTE; else cat /tmp/err; fi"))
		framework.WaitPodSucceeded(t, ns, pod, 2*time.Minute)
		return framework.PodLogs(t, ns, pod)
	}
	if logs := write("greedy", "greedy-writer", "16"); !strings.Contains(logs, "Disk quota exceeded") {
		t.Errorf("writing 16MiB into an 8Mi claim: %s", logs)
	}
	if logs := write("modest", "modest-writer", "4"); !strings.Contains(logs, "WROTE") {
		t.Errorf("the neighbour could not write 4MiB into its 8Mi claim: %s", logs)
	}
}
