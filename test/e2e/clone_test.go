package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"golang.org/x/sys/unix"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/quota/quotatest"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// A claim whose dataSource is another claim starts with that claim's data,
// as a btrfs snapshot where the source is a subvolume and as a copy
// elsewhere: files with their modes, symlinks as links, and a pod writing
// into the clone does not change the source.
func TestACloneHasItsSourcesData(t *testing.T) {
	for _, tc := range []struct {
		name, method string
		base         func(t *testing.T) string
		params       map[string]string
	}{
		{"btrfs", "snapshot", func(t *testing.T) string { return quotatest.MountBtrfs(t, true) }, map[string]string{"quota": "required"}},
		{"plain directory", "copy", baseDir, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := framework.NewNamespace(t)
			base := tc.base(t)
			startProvisioner(t, base)
			sc := storageClass(t, ns, immediate, deletePol, tc.params)

			src := newClaim(ns, "source", "8Mi", &sc.Name, nil)
			create(t, src)
			src, srcPV := waitBound(t, src, time.Minute)
			framework.RunPod(t, writerPod(ns, "fill", src.Name,
				"mkdir -p /data/app/conf && echo secret > /data/app/conf/key && chmod 600 /data/app/conf/key && ln -s conf/key /data/app/link && ln -s / /data/root && dd if=/dev/urandom of=/data/blob bs=1M count=2 2>/dev/null && md5sum /data/blob | cut -d' ' -f1 > /data/blob.md5 && sync"))
			framework.WaitPodSucceeded(t, ns, "fill", 2*time.Minute)

			clone := newClaim(ns, "clone", "8Mi", &sc.Name, nil)
			clone.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: src.Name}
			create(t, clone)
			clone, pv := waitBound(t, clone, 2*time.Minute)
			if pv.Annotations[policy.AnnClonedFrom] != ns+"/source" {
				t.Errorf("PV annotation %s = %q", policy.AnnClonedFrom, pv.Annotations[policy.AnnClonedFrom])
			}
			waitEvent(t, ns, clone.Name, "Cloned", "by "+tc.method, time.Minute)

			framework.RunPod(t, writerPod(ns, "check", clone.Name,
				"cat /data/app/conf/key; stat -c '%a' /data/app/conf/key; readlink /data/app/link; readlink /data/root; md5sum /data/blob | cut -d' ' -f1; cat /data/blob.md5; echo changed > /data/app/conf/key"))
			framework.WaitPodSucceeded(t, ns, "check", 2*time.Minute)
			lines := strings.Fields(strings.ReplaceAll(framework.PodLogs(t, ns, "check"), "[main]", ""))
			if len(lines) != 6 || lines[0] != "secret" || lines[1] != "600" || lines[2] != "conf/key" || lines[3] != "/" || lines[4] != lines[5] {
				t.Errorf("the clone as a pod sees it (key, mode, link, link to /, blob md5, recorded md5): %q", lines)
			}
			if got := readFile(t, filepath.Join(base, srcPV.Annotations[policy.AnnPath], "app", "conf", "key")); got != "secret\n" {
				t.Errorf("writing into the clone changed the source: %q", got)
			}
		})
	}
}

// The metrics show each volume's use (from its qgroup on btrfs) and size,
// and the base path's free and available bytes; with sizes enforced,
// available counts the limits promised to volumes.
func TestMetricsReportUsageAndCapacity(t *testing.T) {
	ns := framework.NewNamespace(t)
	base := quotatest.MountBtrfs(t, true)
	proc := startProvisioner(t, base, "--usage-interval=1s")
	sc := storageClass(t, ns, immediate, deletePol, map[string]string{"quota": "required"})

	claim := newClaim(ns, "measured", "64Mi", &sc.Name, nil)
	create(t, claim)
	claim, _ = waitBound(t, claim, time.Minute)
	runWriter(t, ns, "writer", claim.Name, "note", "hello")
	framework.RunPod(t, writerPod(ns, "blob", claim.Name, "dd if=/dev/urandom of=/data/blob bs=1M count=5 conv=fsync 2>/dev/null"))
	framework.WaitPodSucceeded(t, ns, "blob", 2*time.Minute)
	// qgroup numbers move at a transaction commit; force one rather than wait 30 s.
	if d, err := os.Open(base); err == nil {
		syncfs(t, d)
		d.Close()
	}

	var used, capacity map[string]float64
	framework.WaitFor(t, time.Minute, func() (bool, error) {
		used = framework.Scrape(t, proc.Metrics(), "hostpath_provisioner_volume_used_bytes", "persistentvolumeclaim")
		capacity = framework.Scrape(t, proc.Metrics(), "hostpath_provisioner_volume_capacity_bytes", "persistentvolumeclaim")
		return used["measured"] >= 5<<20, nil
	})
	if used["measured"] > 6<<20 {
		t.Errorf("used bytes %v for 5MiB written", used["measured"])
	}
	if capacity["measured"] != 64<<20 {
		t.Errorf("capacity bytes %v, want %d", capacity["measured"], 64<<20)
	}
	free := framework.Scrape(t, proc.Metrics(), "hostpath_provisioner_base_path_free_bytes", "")[""]
	avail := framework.Scrape(t, proc.Metrics(), "hostpath_provisioner_base_path_available_bytes", "")[""]
	total := framework.Scrape(t, proc.Metrics(), "hostpath_provisioner_base_path_total_bytes", "")[""]
	if !(avail <= total-64<<20 && avail <= free && free > 0) {
		t.Errorf("base path: total %v, free %v, available %v: available must leave out the 64Mi promised", total, free, avail)
	}

	// A claim larger than what is unreserved is refused although the disk
	// has room for its data today.
	big := newClaim(ns, "too-big", resource.NewQuantity(int64(avail)+(16<<20), resource.BinarySI).String(), &sc.Name, nil)
	create(t, big)
	waitEvent(t, ns, big.Name, "ProvisioningFailed", "not enough space on node", time.Minute)
	deleteObj(t, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: big.Name}})
}

func syncfs(t *testing.T, f *os.File) {
	t.Helper()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		t.Fatalf("syncfs: %v", err)
	}
}
