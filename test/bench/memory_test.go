package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// memory is a process's resident set, split into its private (anonymous)
// pages, which are what the process costs, and the pages of its own binary
// file, which are shared page cache the kernel can drop at any time.
type memory struct{ rss, private, file float64 }

func rssMiB(b *testing.B, pid int) memory {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	var m memory
	fields := map[string]*float64{"VmRSS:": &m.rss, "RssAnon:": &m.private, "RssFile:": &m.file}
	for line := range strings.SplitSeq(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && fields[f[0]] != nil {
			kb, _ := strconv.ParseFloat(f[1], 64)
			*fields[f[0]] = kb / 1024
		}
	}
	if m.rss == 0 {
		b.Fatal("no VmRSS")
	}
	return m
}

// installedPod is the running pod of the installed DaemonSet (the loopback
// cluster has one node), its container's ID, and the host PID of the
// process in that container.
type installedPod struct {
	name, node, container string
	pid                   int
}

func findInstalledPod(b *testing.B, cs kubernetes.Interface) installedPod {
	b.Helper()
	pods, err := cs.CoreV1().Pods(framework.InstallNamespace).List(context.Background(), metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/name=hostpath-provisioner,app.kubernetes.io/component=provisioner"})
	if err != nil {
		b.Fatal(err)
	}
	var found []installedPod
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		for _, st := range p.Status.ContainerStatuses {
			if _, id, ok := strings.Cut(st.ContainerID, "://"); ok && st.Name == "hostpath-provisioner" {
				found = append(found, installedPod{name: p.Name, node: p.Spec.NodeName, container: id})
			}
		}
	}
	if len(found) != 1 {
		b.Fatalf("%d running provisioner containers, want 1", len(found))
	}
	pod := found[0]
	// The kubelet puts the container in a cgroup named after its ID: the
	// process whose cgroup path holds the ID is the provisioner.
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, f := range procs {
		raw, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(raw), pod.container) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if pod.pid != 0 {
			b.Fatalf("processes %d and %d are both in container %s, want only the provisioner", pod.pid, pid, pod.container)
		}
		pod.pid = pid
	}
	if pod.pid == 0 {
		b.Fatalf("no process in the cgroup of container %s", pod.container)
	}
	return pod
}

// workingSetMiB is the container's working set as the kubelet reports it
// at /metrics/resource, which metrics-server serves to `kubectl top`: the
// memory charged to its cgroup less the inactive file pages. It waits for
// a sample taken after since (the kubelet refreshes them every few
// seconds), so the figure is of the moment asked for.
func workingSetMiB(b *testing.B, cs kubernetes.Interface, pod installedPod, since time.Time) float64 {
	b.Helper()
	var ws float64
	framework.WaitFor(b, time.Minute, func() (bool, error) {
		raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", pod.node, "proxy", "metrics", "resource").DoRaw(context.Background())
		if err != nil {
			return false, fmt.Errorf("reading the kubelet's resource metrics: %w", err)
		}
		v, at, ok := containerSample(string(raw), "container_memory_working_set_bytes", pod.name, "hostpath-provisioner")
		if !ok || at.Before(since) {
			return false, nil
		}
		ws = v / (1 << 20)
		return true, nil
	})
	return ws
}

// containerSample is the value and timestamp of metric for one container
// of one pod in a Prometheus text exposition whose samples carry
// timestamps (in milliseconds), as the kubelet's do.
func containerSample(body, metric, pod, container string) (float64, time.Time, bool) {
	for line := range strings.SplitSeq(body, "\n") {
		labels, rest, ok := strings.Cut(strings.TrimPrefix(line, metric+"{"), "}")
		if !ok || !strings.HasPrefix(line, metric+"{") ||
			!strings.Contains(labels, `pod="`+pod+`"`) || !strings.Contains(labels, `container="`+container+`"`) {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 {
			continue
		}
		v, err1 := strconv.ParseFloat(f[0], 64)
		ms, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		return v, time.UnixMilli(ms), true
	}
	return 0, time.Time{}, false
}

// footprint is one moment of the installed container's memory: what
// `kubectl top` shows, the resident set, and the Go runtime's account of
// the heap and stacks it holds (from the process's own /metrics).
type footprint struct {
	workingSet float64
	memory
	heapInuse, heapIdleKept, stacks, runtimeOther float64
}

func measure(b *testing.B, cs kubernetes.Interface, pod installedPod, metrics framework.MetricsEndpoint) footprint {
	b.Helper()
	now := time.Now()
	code, body := metrics.Get(b, framework.MetricsReaderToken(b))
	if code != http.StatusOK {
		b.Fatalf("scraping the installed provisioner: HTTP %d", code)
	}
	gauge := func(name string) float64 { return framework.ParseMetric(body, name, "")[""] / (1 << 20) }
	f := footprint{
		workingSet: workingSetMiB(b, cs, pod, now),
		memory:     rssMiB(b, pod.pid),
		heapInuse:  gauge("go_memstats_heap_inuse_bytes"),
		stacks:     gauge("go_memstats_stack_inuse_bytes"),
	}
	// Idle heap spans the runtime has not returned to the kernel yet: they
	// count in the resident set until the scavenger releases them.
	f.heapIdleKept = gauge("go_memstats_heap_idle_bytes") - gauge("go_memstats_heap_released_bytes")
	f.runtimeOther = gauge("go_memstats_sys_bytes") - gauge("go_memstats_heap_sys_bytes") - gauge("go_memstats_stack_sys_bytes")
	return f
}

func (f footprint) report(b *testing.B, when string) {
	b.ReportMetric(f.workingSet, "MiB-working-set-"+when)
	b.ReportMetric(f.rss, "MiB-rss-"+when)
	b.ReportMetric(f.private, "MiB-rss-anon-"+when)
	b.ReportMetric(f.file, "MiB-rss-file-"+when)
	b.ReportMetric(f.heapInuse, "MiB-go-heap-inuse-"+when)
	b.ReportMetric(f.heapIdleKept, "MiB-go-heap-idle-kept-"+when)
	b.ReportMetric(f.stacks, "MiB-go-stacks-"+when)
	b.ReportMetric(f.runtimeOther, "MiB-go-runtime-other-"+when)
	b.Logf("%s: working set %.1f MiB; resident %.1f MiB = %.1f anonymous + %.1f file; Go: heap in use %.1f, idle heap not yet released %.1f, stacks %.1f, runtime metadata %.1f MiB",
		when, f.workingSet, f.rss, f.private, f.file, f.heapInuse, f.heapIdleKept, f.stacks, f.runtimeOther)
}

// BenchmarkMemory: the installed DaemonSet's container (dist/install.yaml,
// as users run it) idle, and with 5,000 claims and 5,000 PVs in the
// cluster, hence in its caches. The baseline is its own idle figure.
func BenchmarkMemory(b *testing.B) {
	const n = 5000
	cs := fastClient()
	ctx := context.Background()
	settle(b, cs)
	framework.UseDefaultBasePath(b)
	framework.Install(b, framework.InstallManifestFile(b))
	pod := findInstalledPod(b, cs)
	metrics := framework.InstalledMetrics(b)
	time.Sleep(20 * time.Second) // caches synced, the first GC cycles run
	idle := measure(b, cs, pod, metrics)

	ns := namespace(b)
	label := "bench=" + ns
	b.Cleanup(func() {
		bg := context.Background()
		_ = cs.CoreV1().PersistentVolumeClaims(ns).DeleteCollection(bg, metav1.DeleteOptions{}, metav1.ListOptions{})
		_ = cs.CoreV1().PersistentVolumes().DeleteCollection(bg, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: label})
	})
	each(16, n, func(i int) {
		if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, staticPV(ns, ns, i), metav1.CreateOptions{}); err != nil {
			b.Error(err)
		}
		if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claimOf(ns, fmt.Sprintf("c%d", i), ns), metav1.CreateOptions{}); err != nil {
			b.Error(err)
		}
	})
	time.Sleep(20 * time.Second) // the informers catch up, the binder binds
	loaded := measure(b, cs, pod, metrics)

	idle.report(b, "idle")
	loaded.report(b, "5000")
	b.ReportMetric(loaded.workingSet/idle.workingSet, "x-idle")
}
