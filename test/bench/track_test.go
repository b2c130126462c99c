package bench

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

// annStorageProvisioner is what the binder sets on a claim it hands to an
// external provisioner (an Immediate one at once, a WaitForFirstConsumer
// one once the scheduler chose a node): the moment the provisioner's turn
// starts.
const annStorageProvisioner = "volume.kubernetes.io/storage-provisioner"

// flow is one claim (and, with WaitForFirstConsumer, its pod) on its way
// through the protocol: when the benchmark sent each create, and when a
// watch first saw each step. Object timestamps (creationTimestamp,
// managedFields, conditions) have a resolution of one second, too coarse
// for steps of milliseconds; a watch's arrival time is accurate to a few
// milliseconds and costs every baseline the same.
type flow struct {
	claimSent, podSent time.Time
	handed             time.Time // the binder set the storage-provisioner annotation
	nodeChosen         time.Time // the scheduler set the selected-node annotation (dynamic WaitForFirstConsumer)
	volume             time.Time // a PV naming the claim in its claimRef: created by a provisioner, or a pre-made one chosen
	bound              time.Time // the claim is Bound
	scheduled          time.Time // the pod is bound to a node
	running            time.Time // the pod is Running
}

// tracker watches one namespace's claims and pods and the PVs that name its
// claims, and records each claim's flow.
type tracker struct {
	ns    string
	mu    sync.Mutex
	flows map[string]*flow // by claim name
	pvs   map[string]bool  // PVs naming one of the namespace's claims, present now
	gone  time.Time        // when the last of them was seen deleted
	stop  context.CancelFunc
}

func newTracker(ctx context.Context, cs kubernetes.Interface, ns string) (*tracker, error) {
	ctx, cancel := context.WithCancel(ctx)
	t := &tracker{ns: ns, flows: map[string]*flow{}, pvs: map[string]bool{}, stop: cancel}
	inNS := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	all := informers.NewSharedInformerFactory(cs, 0)
	handlers := []struct {
		informer cache.SharedIndexInformer
		see      func(obj any, now time.Time)
	}{
		{inNS.Core().V1().PersistentVolumeClaims().Informer(), t.seeClaim},
		{inNS.Core().V1().Pods().Informer(), t.seePod},
		{all.Core().V1().PersistentVolumes().Informer(), t.seeVolume},
	}
	for _, h := range handlers {
		see := h.see
		if _, err := h.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { see(obj, time.Now()) },
			UpdateFunc: func(_, obj any) { see(obj, time.Now()) },
			DeleteFunc: func(obj any) {
				if pv, ok := obj.(*corev1.PersistentVolume); ok {
					t.mu.Lock()
					if t.pvs[pv.Name] {
						delete(t.pvs, pv.Name)
						t.gone = time.Now()
					}
					t.mu.Unlock()
				}
			},
		}); err != nil {
			cancel()
			return nil, err
		}
	}
	inNS.Start(ctx.Done())
	all.Start(ctx.Done())
	for _, synced := range []map[reflect.Type]bool{inNS.WaitForCacheSync(ctx.Done()), all.WaitForCacheSync(ctx.Done())} {
		for _, ok := range synced {
			if !ok {
				cancel()
				return nil, context.Canceled
			}
		}
	}
	return t, nil
}

func (t *tracker) flow(claim string) *flow {
	f := t.flows[claim]
	if f == nil {
		f = &flow{}
		t.flows[claim] = f
	}
	return f
}

// once sets *at to now if it is not set yet: each step counts when first seen.
func once(at *time.Time, now time.Time) {
	if at.IsZero() {
		*at = now
	}
}

func (t *tracker) sent(claim string, pod bool, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pod {
		t.flow(claim).podSent = at
	} else {
		t.flow(claim).claimSent = at
	}
}

func (t *tracker) seeClaim(obj any, now time.Time) {
	c, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.flow(c.Name)
	if c.Annotations[annStorageProvisioner] != "" {
		once(&f.handed, now)
	}
	if c.Annotations[policy.AnnSelectedNode] != "" {
		once(&f.nodeChosen, now)
	}
	if c.Status.Phase == corev1.ClaimBound {
		once(&f.bound, now)
	}
}

func (t *tracker) seePod(obj any, now time.Time) {
	p, ok := obj.(*corev1.Pod)
	if !ok || len(p.Spec.Volumes) == 0 || p.Spec.Volumes[0].PersistentVolumeClaim == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.flow(p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName)
	if p.Spec.NodeName != "" {
		once(&f.scheduled, now)
	}
	if p.Status.Phase == corev1.PodRunning {
		once(&f.running, now)
	}
}

func (t *tracker) seeVolume(obj any, now time.Time) {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok || pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Namespace != t.ns {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pvs[pv.Name] = true
	once(&t.flow(pv.Spec.ClaimRef.Name).volume, now)
}

// count returns how many flows satisfy done and how many PVs name the
// namespace's claims now.
func (t *tracker) count(done func(*flow) bool) (n, volumes int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range t.flows {
		if done(f) {
			n++
		}
	}
	return n, len(t.pvs)
}

// lastGone is when the last PV naming one of the claims was seen deleted.
func (t *tracker) lastGone() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.gone
}

// snapshot copies the flows.
func (t *tracker) snapshot() []flow {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]flow, 0, len(t.flows))
	for _, f := range t.flows {
		out = append(out, *f)
	}
	return out
}

// stage is one step of the protocol, measured between two of a flow's
// times; a flow where either is missing does not count.
type stage struct {
	name      string
	from, to  func(f flow) time.Time
	workloads []string
}

// span returns each flow's duration of s, sorted.
func (s stage) span(flows []flow) []time.Duration {
	var out []time.Duration
	for _, f := range flows {
		from, to := s.from(f), s.to(f)
		if from.IsZero() || to.IsZero() {
			continue
		}
		out = append(out, to.Sub(from))
	}
	slices.Sort(out)
	return out
}

// chosen is when the claim's volume was decided on: the scheduler's node
// choice for a dynamic claim, the pre-made PV named for a static one.
func chosen(f flow) time.Time {
	if !f.nodeChosen.IsZero() {
		return f.nodeChosen
	}
	return f.volume
}

// stages are the steps between the benchmark's creates and a Bound claim
// (Immediate) or a Running pod (WaitForFirstConsumer). Each names who
// spends it.
var stages = []stage{
	{"binder: claim created -> handed to the provisioner", func(f flow) time.Time { return f.claimSent }, func(f flow) time.Time { return f.handed }, []string{immediate}},
	{"scheduler: pod created -> node chosen (pre-made: PV chosen)", func(f flow) time.Time { return f.podSent }, chosen, []string{wffc}},
	{"binder: node chosen -> handed to the provisioner", func(f flow) time.Time { return f.nodeChosen }, func(f flow) time.Time { return f.handed }, []string{wffc}},
	{"provisioner: handed -> PV created", func(f flow) time.Time { return f.handed }, func(f flow) time.Time { return f.volume }, []string{immediate, wffc}},
	{"binder: PV created or chosen -> claim Bound", func(f flow) time.Time { return f.volume }, func(f flow) time.Time { return f.bound }, []string{immediate, wffc}},
	{"scheduler: claim Bound -> pod bound to the node", func(f flow) time.Time { return f.bound }, func(f flow) time.Time { return f.scheduled }, []string{wffc}},
	{"kubelet: pod bound -> Running", func(f flow) time.Time { return f.scheduled }, func(f flow) time.Time { return f.running }, []string{wffc}},
}
