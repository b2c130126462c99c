package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// The workloads of BenchmarkClaimsAndPods.
const (
	immediate = "Immediate"
	wffc      = "WaitForFirstConsumer"
)

// A baseline is who makes the volumes: nobody (the PVs exist before the
// clock starts), the null provisioner (the protocol at no cost of its
// own), or ours, installed from dist/install.yaml.
type baseline int

const (
	premade baseline = iota
	null
	ours
	baselines
)

func (b baseline) String() string {
	return [...]string{"pre-made PVs", "null provisioner", "ours (installed)"}[b]
}

// claimsSettings are BenchmarkClaimsAndPods' sizes, from the environment
// so that a quick run can be smaller than the reported one.
type claimsSettings struct {
	runs, workers, immediateClaims, wffcClaims int
}

func claimsSettingsFromEnv(b *testing.B) claimsSettings {
	b.Helper()
	s := claimsSettings{runs: 3, workers: 10, immediateClaims: 200, wffcClaims: 50}
	for _, v := range []struct {
		env string
		dst *int
	}{{"HPP_BENCH_RUNS", &s.runs}, {"HPP_BENCH_WORKERS", &s.workers}, {"HPP_BENCH_IMMEDIATE_CLAIMS", &s.immediateClaims}, {"HPP_BENCH_WFFC_CLAIMS", &s.wffcClaims}} {
		raw := os.Getenv(v.env)
		if raw == "" {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want a whole number of at least 1", v.env, raw)
		}
		*v.dst = n
	}
	return s
}

// cycle is one workload made by one baseline in one way: its totals from
// the first create, and the flows of its claims.
type cycle struct {
	workload string
	workers  int
	base     baseline
	bound    time.Duration // until the last claim was Bound
	running  time.Duration // until the last pod was Running (WaitForFirstConsumer)
	deleted  time.Duration // from the first delete until the last PV was gone
	flows    []flow
}

// BenchmarkClaimsAndPods creates claims the way users do, one by one and
// from concurrent workers (a StatefulSet's controller, a restore), and
// times each workload made by three baselines in the same run, in turns:
// pre-made PVs, the null provisioner, and ours installed as users install
// it. It prints the totals with their ratios and where the time goes, step
// by step, from watch timestamps.
func BenchmarkClaimsAndPods(b *testing.B) {
	s := claimsSettingsFromEnv(b)
	cs := fastClient()
	settle(b, cs)
	framework.UseDefaultBasePath(b)
	framework.Install(b, framework.InstallManifestFile(b))
	// Pre-made and null PVs of pods need a directory that exists; they
	// all share this one.
	shared, err := os.MkdirTemp("", "hpp-bench-shared-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(shared) })
	startNullProvisioner(b, nullName, shared)

	var cycles []cycle
	for run := range s.runs {
		for _, workers := range []int{1, s.workers} {
			for _, workload := range []string{immediate, wffc} {
				// The baselines take turns, and the one that goes first
				// changes from run to run, so that none always follows
				// another's cleanup.
				for k := range baselines {
					base := (baseline(run) + k) % baselines
					c := runCycle(b, cs, s, workload, workers, base, shared)
					b.Logf("run %d, %d workers, %s, %s: Bound %.1fs, Running %.1fs, deleted %.1fs",
						run+1, workers, workload, base, c.bound.Seconds(), c.running.Seconds(), c.deleted.Seconds())
					cycles = append(cycles, c)
				}
			}
		}
	}
	fmt.Print(claimsReport(s, cycles))
	for _, workers := range []int{1, s.workers} {
		way := wayName(workers)
		for _, workload := range []string{immediate, wffc} {
			nullT := totals(cycles, workload, workers, null, func(c cycle) time.Duration { return c.bound })
			oursT := totals(cycles, workload, workers, ours, func(c cycle) time.Duration { return c.bound })
			b.ReportMetric(median(ratios(oursT, nullT)), fmt.Sprintf("x-null-%s-%s-bound", strings.ToLower(workload[:4]), way))
		}
	}
}

const nullName = "null.bench.hostpath.dev"

func wayName(workers int) string {
	if workers == 1 {
		return "sequential"
	}
	return "concurrent"
}

// runCycle makes one workload with one baseline in a namespace of its own,
// waits until all claims are Bound (and pods Running), then deletes all and
// waits until the PVs are gone.
func runCycle(b *testing.B, cs kubernetes.Interface, s claimsSettings, workload string, workers int, base baseline, shared string) cycle {
	b.Helper()
	ctx := context.Background()
	n := s.immediateClaims
	mode := storagev1.VolumeBindingImmediate
	if workload == wffc {
		n, mode = s.wffcClaims, storagev1.VolumeBindingWaitForFirstConsumer
	}
	ns := namespace(b)
	provisioner := [...]string{"kubernetes.io/no-provisioner", nullName, policy.ProvisionerName}[base]
	createClass(b, cs, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: ns}, Provisioner: provisioner,
		VolumeBindingMode: ptr.To(mode), ReclaimPolicy: ptr.To(corev1.PersistentVolumeReclaimDelete)})
	if base == premade {
		b.Cleanup(func() {
			_ = cs.CoreV1().PersistentVolumes().DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "bench=" + ns})
		})
		for i := range n {
			pv := staticPV(ns, ns, i)
			if workload == wffc {
				pv.Spec.HostPath.Path = shared
				pv.Spec.NodeAffinity = onNode(framework.NodeName())
			}
			if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	tr, err := newTracker(ctx, cs, ns)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.stop()

	start := time.Now()
	each(workers, n, func(i int) {
		name := fmt.Sprintf("c%d", i)
		tr.sent(name, false, time.Now())
		if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claimOf(ns, name, ns), metav1.CreateOptions{}); err != nil {
			b.Errorf("creating claim %s/%s: %v", ns, name, err)
		}
		if workload != wffc {
			return
		}
		tr.sent(name, true, time.Now())
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, podOf(ns, i), metav1.CreateOptions{}); err != nil {
			b.Errorf("creating pod %s/p%d: %v", ns, i, err)
		}
	})
	c := cycle{workload: workload, workers: workers, base: base}
	waitCount(b, tr, n, "claims Bound", func(f *flow) bool { return !f.bound.IsZero() })
	if workload == wffc {
		waitCount(b, tr, n, "pods Running", func(f *flow) bool { return !f.running.IsZero() })
	}
	c.flows = tr.snapshot()
	c.bound = latest(c.flows, func(f flow) time.Time { return f.bound }).Sub(start)
	if workload == wffc {
		c.running = latest(c.flows, func(f flow) time.Time { return f.running }).Sub(start)
	}

	// Delete as users do: pod, then claim; an admin deletes pre-made PVs
	// (Retain) too, a provisioner deletes its own.
	delStart := time.Now()
	each(workers, n, func(i int) {
		if workload == wffc {
			if err := cs.CoreV1().Pods(ns).Delete(ctx, fmt.Sprintf("p%d", i), metav1.DeleteOptions{}); err != nil {
				b.Errorf("deleting pod %s/p%d: %v", ns, i, err)
			}
		}
		if err := cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, fmt.Sprintf("c%d", i), metav1.DeleteOptions{}); err != nil {
			b.Errorf("deleting claim %s/c%d: %v", ns, i, err)
		}
		if base == premade {
			if err := cs.CoreV1().PersistentVolumes().Delete(ctx, staticPV(ns, ns, i).Name, metav1.DeleteOptions{}); err != nil {
				b.Errorf("deleting PV %s: %v", staticPV(ns, ns, i).Name, err)
			}
		}
	})
	waitCount(b, tr, 0, "PVs left", nil)
	c.deleted = tr.lastGone().Sub(delStart)
	return c
}

// each runs do(0..n-1) from workers goroutines, in order of i.
func each(workers, n int, do func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range work {
				do(i)
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

// waitCount waits until want flows are done, or, with done nil, until
// want PVs are left; it fails after ten minutes without progress.
func waitCount(b *testing.B, tr *tracker, want int, what string, done func(*flow) bool) {
	b.Helper()
	framework.WaitForProgress(b, what, want, 10*time.Minute, func() (int, error) {
		n, volumes := tr.count(func(f *flow) bool { return done != nil && done(f) })
		if done == nil {
			// Counting down: progress is PVs going away.
			return want - volumes, nil
		}
		return n, nil
	})
}

func latest(flows []flow, at func(flow) time.Time) time.Time {
	var last time.Time
	for _, f := range flows {
		if t := at(f); t.After(last) {
			last = t
		}
	}
	return last
}

func onNode(node string) *corev1.VolumeNodeAffinity {
	return &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
	}}}}
}

// podOf is pod p<i> using claim c<i>, running until it is deleted.
func podOf(ns string, i int) *corev1.Pod {
	pod := framework.BusyboxPod(ns, fmt.Sprintf("p%d", i), "sleep 3600")
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	pod.Spec.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent
	pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: fmt.Sprintf("c%d", i)}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	return pod
}

// totals returns one figure of each run's cycle of workload, workers and
// base, in run order.
func totals(cycles []cycle, workload string, workers int, base baseline, of func(cycle) time.Duration) []time.Duration {
	var out []time.Duration
	for _, c := range cycles {
		if c.workload == workload && c.workers == workers && c.base == base {
			out = append(out, of(c))
		}
	}
	return out
}

// ratios divides run by run.
func ratios(a, b []time.Duration) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			out = append(out, a[i].Seconds()/b[i].Seconds())
		}
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Sorted(slices.Values(v))
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func seconds(d []time.Duration) []float64 {
	out := make([]float64, len(d))
	for i, x := range d {
		out[i] = x.Seconds()
	}
	return out
}

// spread is "median [min-max]" of v, or "-" for nothing measured.
func spread(v []float64, unit string, digits int) string {
	if len(v) == 0 {
		return "-"
	}
	lo, hi := slices.Min(v), slices.Max(v)
	f := "%." + strconv.Itoa(digits) + "f"
	if len(v) == 1 {
		return fmt.Sprintf(f+"%s", v[0], unit)
	}
	return fmt.Sprintf(f+"%s ["+f+"-"+f+"]", median(v), unit, lo, hi)
}

// claimsReport renders the totals and the steps as Markdown tables:
// medians over the runs with their range.
func claimsReport(s claimsSettings, cycles []cycle) string {
	var w strings.Builder
	fmt.Fprintf(&w, "\n## Claims and pods: %d runs, medians [range]\n\n", s.runs)
	fmt.Fprintf(&w, "| workload | way | %s | %s | %s | ours / null | null / pre-made |\n|---|---|---|---|---|---|---|\n", premade, null, ours)
	rows := []struct {
		workload, what string
		of             func(cycle) time.Duration
	}{
		{immediate, fmt.Sprintf("%d Immediate claims until all Bound", s.immediateClaims), func(c cycle) time.Duration { return c.bound }},
		{wffc, fmt.Sprintf("%d WFFC claims + %d pods until all Bound", s.wffcClaims, s.wffcClaims), func(c cycle) time.Duration { return c.bound }},
		{wffc, "the same until all pods Running", func(c cycle) time.Duration { return c.running }},
		{immediate, "delete the Immediate claims, until the PVs are gone", func(c cycle) time.Duration { return c.deleted }},
		{wffc, "delete the pods and claims, until the PVs are gone", func(c cycle) time.Duration { return c.deleted }},
	}
	for _, r := range rows {
		for _, workers := range []int{1, s.workers} {
			var t [baselines][]time.Duration
			for base := range baselines {
				t[base] = totals(cycles, r.workload, workers, base, r.of)
			}
			fmt.Fprintf(&w, "| %s | %s (%d) | %s | %s | %s | %s | %s |\n", r.what, wayName(workers), workers,
				spread(seconds(t[premade]), " s", 1), spread(seconds(t[null]), " s", 1), spread(seconds(t[ours]), " s", 1),
				spread(ratios(t[ours], t[null]), "x", 2), spread(ratios(t[null], t[premade]), "x", 2))
		}
	}
	for _, workload := range []string{immediate, wffc} {
		for _, workers := range []int{1, s.workers} {
			fmt.Fprintf(&w, "\n### Where the time goes: %s, %s (%d workers); per-claim median and slowest claim of each run, ms\n\n", workload, wayName(workers), workers)
			fmt.Fprintf(&w, "| step | %s | %s | %s |\n|---|---|---|---|\n", premade, null, ours)
			for _, st := range stages {
				if !slices.Contains(st.workloads, workload) {
					continue
				}
				fmt.Fprintf(&w, "| %s |", st.name)
				for base := range baselines {
					var medians, slowest []float64
					for _, c := range cycles {
						if c.workload == workload && c.workers == workers && c.base == base {
							if span := st.span(c.flows); len(span) > 0 {
								medians = append(medians, float64(span[len(span)/2].Microseconds())/1000)
								slowest = append(slowest, float64(span[len(span)-1].Microseconds())/1000)
							}
						}
					}
					fmt.Fprintf(&w, " %s; slowest %s |", spread(medians, "", 0), spread(slowest, "", 0))
				}
				w.WriteString("\n")
			}
		}
	}
	return w.String()
}
