package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// fastClient is a clientset that is never the bottleneck of a benchmark.
func fastClient() kubernetes.Interface {
	cfg := framework.RESTConfig()
	cfg.QPS, cfg.Burst = 2000, 4000
	return kubernetes.NewForConfigOrDie(cfg)
}

func namespace(b *testing.B) string {
	b.Helper()
	return framework.NewNamespace(b)
}

func claimOf(ns, name, class string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To(class),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}},
		},
	}
}

// staticPV is a pre-made PV of class, labelled bench=label for cleanup;
// its path is never mounted.
func staticPV(label, class string, i int) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", label, i), Labels: map[string]string{"bench": label}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              class,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/nonexistent/" + strconv.Itoa(i)}},
		},
	}
}

// createAndWaitBound creates the claims from 16 goroutines and returns the
// time until all are Bound and each claim's create-to-Bound latency.
func createAndWaitBound(b *testing.B, cs kubernetes.Interface, claims []*corev1.PersistentVolumeClaim) (time.Duration, []time.Duration) {
	b.Helper()
	ctx := context.Background()
	ns := claims[0].Namespace
	var mu sync.Mutex
	created := map[string]time.Time{}
	start := time.Now()
	work := make(chan *corev1.PersistentVolumeClaim)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for c := range work {
				t0 := time.Now()
				if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, c, metav1.CreateOptions{}); err != nil {
					b.Errorf("creating %s: %v", c.Name, err)
				}
				mu.Lock()
				created[c.Name] = t0
				mu.Unlock()
			}
		})
	}
	go func() {
		for _, c := range claims {
			work <- c
		}
		close(work)
	}()
	// Polling a list (every 100 ms) rather than watching: a long watch is
	// cut by the client's request timeout, and the resolution is enough for
	// latencies of seconds.
	bound := map[string]time.Duration{}
	deadline := time.Now().Add(10 * time.Minute)
	for len(bound) < len(claims) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d claims Bound after 10 minutes", len(bound), len(claims))
		}
		list, err := cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		for _, c := range list.Items {
			if _, done := bound[c.Name]; done || c.Status.Phase != corev1.ClaimBound {
				continue
			}
			mu.Lock()
			t0, ok := created[c.Name]
			mu.Unlock()
			if !ok {
				t0 = start
			}
			bound[c.Name] = now.Sub(t0)
		}
		time.Sleep(100 * time.Millisecond)
	}
	total := time.Since(start)
	wg.Wait()
	lat := make([]time.Duration, 0, len(bound))
	for _, d := range bound {
		lat = append(lat, d)
	}
	slices.Sort(lat)
	return total, lat
}

// reportVsFloor reports a run against its floor: totals, their ratio, and
// per-claim latency percentiles of both.
func reportVsFloor(b *testing.B, floor, ours time.Duration, floorLat, lat []time.Duration) {
	b.ReportMetric(floor.Seconds(), "s-floor")
	b.ReportMetric(ours.Seconds(), "s-ours")
	b.ReportMetric(ours.Seconds()/floor.Seconds(), "x-floor")
	b.ReportMetric(float64(pct(lat, 0.5).Milliseconds()), "ms-p50")
	b.ReportMetric(float64(pct(lat, 0.99).Milliseconds()), "ms-p99")
	b.ReportMetric(float64(pct(floorLat, 0.5).Milliseconds()), "ms-floor-p50")
	b.ReportMetric(float64(pct(floorLat, 0.99).Milliseconds()), "ms-floor-p99")
}

func pct(lat []time.Duration, p float64) time.Duration {
	return lat[int(float64(len(lat)-1)*p)]
}

// BenchmarkProvision500Immediate: 500 Immediate claims at once, until all
// are Bound, against the floor of the same cluster binding 500 pre-made PVs
// to 500 claims (kube-controller-manager's binder alone). Also the API
// requests the provisioner made per volume.
func BenchmarkProvision500Immediate(b *testing.B) {
	const n = 500
	cs := fastClient()
	ctx := context.Background()
	settle(b, cs)

	// Floor: pre-made PVs, the binder does all the work.
	floorNS := namespace(b)
	floorClass := floorNS + "-static"
	for i := range n {
		if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, staticPV(floorNS, floorClass, i), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() {
		_ = cs.CoreV1().PersistentVolumes().DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "bench=" + floorNS})
	})
	var floorClaims []*corev1.PersistentVolumeClaim
	for i := range n {
		floorClaims = append(floorClaims, claimOf(floorNS, fmt.Sprintf("c%d", i), floorClass))
	}
	floor, floorLat := createAndWaitBound(b, cs, floorClaims)

	// The protocol: a provisioner that creates PVs instantly, through the
	// same library with the same settings as ours.
	nullNS := namespace(b)
	startNullProvisioner(b, nullName, "/nonexistent")
	createClass(b, cs, nullClass(nullNS, nullName))
	var nullClaims []*corev1.PersistentVolumeClaim
	for i := range n {
		nullClaims = append(nullClaims, claimOf(nullNS, fmt.Sprintf("c%d", i), nullNS))
	}
	protocol, protocolLat := createAndWaitBound(b, cs, nullClaims)

	// Ours.
	base, err := os.MkdirTemp("", "hpp-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(base) })
	proc := framework.StartProvisioner(b, base)
	ns := namespace(b)
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: ns}, Provisioner: policy.ProvisionerName,
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate), ReclaimPolicy: ptr.To(corev1.PersistentVolumeReclaimDelete)}
	createClass(b, cs, sc)
	// Each scrape is authenticated and authorized by the API server: the
	// first one's TokenReview and SubjectAccessReview land in "before"; the
	// process caches them (1 min, 5 min), so at most two more POSTs are in
	// "after", noise against n volumes.
	before := framework.Scrape(b, proc.Metrics(), "rest_client_requests_total", "method")
	var claims []*corev1.PersistentVolumeClaim
	for i := range n {
		claims = append(claims, claimOf(ns, fmt.Sprintf("c%d", i), sc.Name))
	}
	ours, lat := createAndWaitBound(b, cs, claims)
	after := framework.Scrape(b, proc.Metrics(), "rest_client_requests_total", "method")
	writes := 0.0
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		writes += after[m] - before[m]
	}
	gets := after["GET"] - before["GET"]

	entries, _ := framework.VolumeDirs(base)
	if len(entries) != n {
		b.Errorf("%d directories for %d claims", len(entries), n)
	}
	reportVsFloor(b, floor, ours, floorLat, lat)
	b.ReportMetric(protocol.Seconds(), "s-protocol")
	b.ReportMetric(ours.Seconds()/protocol.Seconds(), "x-protocol")
	b.ReportMetric(float64(pct(protocolLat, 0.5).Milliseconds()), "ms-protocol-p50")
	b.ReportMetric(float64(pct(protocolLat, 0.99).Milliseconds()), "ms-protocol-p99")
	b.ReportMetric(writes/n, "writes/volume")
	b.ReportMetric(gets/n, "GETs/volume")
	b.Logf("writes by method: %v (before %v)", after, before)
}

// BenchmarkStartup: process start to ready (caches synced, base paths
// checked) of a provisioner outside the cluster; BenchmarkMemory measures
// the installed one.
func BenchmarkStartup(b *testing.B) {
	cs := fastClient()
	settle(b, cs)
	base := b.TempDir()
	framework.ProvisionerBinary(b) // build outside the timing
	t0 := time.Now()
	framework.StartProvisioner(b, base)
	b.ReportMetric(time.Since(t0).Seconds(), "s-startup-to-ready")
}

func createClass(b *testing.B, cs kubernetes.Interface, sc *storagev1.StorageClass) {
	b.Helper()
	if _, err := cs.StorageV1().StorageClasses().Create(context.Background(), sc, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cs.StorageV1().StorageClasses().Delete(context.Background(), sc.Name, metav1.DeleteOptions{})
	})
}
