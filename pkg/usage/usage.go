// Package usage measures how much of its size each volume on this node
// uses and exposes it on /metrics. Where the volume's quota backend keeps
// the number (btrfs qgroup, project quota) it is read from there; without
// one, the only honest figure is a walk of the tree. Walks are bounded
// (entries per volume), and all measuring runs in the background at a
// fixed interval, so a scrape never triggers disk I/O and a huge volume
// cannot stall the process.
package usage

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mazdermind/hostpath-provisioner/pkg/location"
	"github.com/mazdermind/hostpath-provisioner/pkg/volume"
)

// MaxEntries bounds one volume's walk; beyond it the figure is a lower
// bound and the metric says so with truncated="true".
const MaxEntries = 1_000_000

type sample struct {
	namespace, claim, pv string
	used, capacity       float64
	truncated            bool
}

// Measurer reports the bytes a volume uses: pkg/basepath's Set, which
// finds the volume's base path and directory (pkg/location) and measures
// it there.
type Measurer interface {
	Usage(pv *corev1.PersistentVolume, maxEntries int) (volume.Usage, error)
}

// Collector walks this node's volumes every Interval and serves the last
// results as Prometheus metrics.
type Collector struct {
	Reader   client.Reader
	Volumes  Measurer
	NodeName string
	Interval time.Duration

	mu      sync.Mutex
	samples []sample

	usedDesc, capDesc *prometheus.Desc
}

// NewCollector returns a collector for the volumes of node under root.
func NewCollector(reader client.Reader, volumes Measurer, node string, interval time.Duration) *Collector {
	labels := []string{"namespace", "persistentvolumeclaim", "persistentvolume", "truncated"}
	return &Collector{
		Reader: reader, Volumes: volumes, NodeName: node, Interval: interval,
		usedDesc: prometheus.NewDesc("hostpath_provisioner_volume_used_bytes",
			"Bytes used by a volume: from its btrfs qgroup or project quota where it has one (a qgroup lags writes by up to 30 s), else the allocated blocks counted by a bounded walk of its tree.", labels, nil),
		capDesc: prometheus.NewDesc("hostpath_provisioner_volume_capacity_bytes",
			"The volume's size as provisioned (the PV capacity).", labels[:3], nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.usedDesc
	ch <- c.capDesc
}

// Collect implements prometheus.Collector from the last walk.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.samples {
		tr := "false"
		if s.truncated {
			tr = "true"
		}
		ch <- prometheus.MustNewConstMetric(c.usedDesc, prometheus.GaugeValue, s.used, s.namespace, s.claim, s.pv, tr)
		ch <- prometheus.MustNewConstMetric(c.capDesc, prometheus.GaugeValue, s.capacity, s.namespace, s.claim, s.pv)
	}
}

// NeedLeaderElection is false: every node measures its own volumes.
func (c *Collector) NeedLeaderElection() bool { return false }

// Start walks until ctx ends.
func (c *Collector) Start(ctx context.Context) error {
	t := time.NewTicker(c.Interval)
	defer t.Stop()
	for {
		if err := c.refresh(ctx); err != nil {
			klog.FromContext(ctx).Error(err, "Measuring volume usage")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *Collector) refresh(ctx context.Context) error {
	var pvs corev1.PersistentVolumeList
	if err := c.Reader.List(ctx, &pvs); err != nil {
		return err
	}
	var out []sample
	for _, pv := range pvs.Items {
		if !location.OnNode(&pv, c.NodeName) {
			continue
		}
		s := sample{pv: pv.Name, capacity: float64(pv.Spec.Capacity.Storage().Value())}
		if ref := pv.Spec.ClaimRef; ref != nil {
			s.namespace, s.claim = ref.Namespace, ref.Name
		}
		u, err := c.Volumes.Usage(&pv, MaxEntries)
		if err != nil {
			// Not ours to measure, its base path unusable, or deleted
			// meanwhile: the provisioner reports it where it acts.
			continue
		}
		s.used, s.truncated = float64(u.Used), u.Truncated
		out = append(out, s)
	}
	c.mu.Lock()
	c.samples = out
	c.mu.Unlock()
	return nil
}
