package provisioner

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mazdermind/hostpath-provisioner/pkg/basepath"
	"github.com/mazdermind/hostpath-provisioner/pkg/volume"
)

// RegisterMetrics exposes the capacity of each of the node's base paths,
// labelled by its name and directory (one without a directory on this
// node has none to report). The figures are read at scrape time, so they
// are never stale and cost nothing between scrapes; a base path that
// cannot be read now reports -1.
func RegisterMetrics(reg prometheus.Registerer, stores *basepath.Set, node string) {
	for _, r := range stores.Resolved() {
		if r.Dir == "" {
			continue
		}
		labels := prometheus.Labels{"node": node, "base_path": r.Dir, "base_path_name": r.Name}
		space := func(pick func(volume.Space) uint64) func() float64 {
			return func() float64 {
				s, err := stores.Space(r.Name)
				if err != nil {
					return -1
				}
				return float64(pick(s))
			}
		}
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "hostpath_provisioner_base_path_total_bytes", Help: "Size of the filesystem holding the base path.", ConstLabels: labels,
			}, space(func(s volume.Space) uint64 { return s.Total })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "hostpath_provisioner_base_path_free_bytes", Help: "Free bytes of the filesystem holding the base path.", ConstLabels: labels,
			}, space(func(s volume.Space) uint64 { return s.Free })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "hostpath_provisioner_base_path_available_bytes", ConstLabels: labels,
				Help: "Bytes a new volume can still get: the free bytes, and where sizes are enforced no more than the filesystem size less the limits promised to volumes.",
			}, space(func(s volume.Space) uint64 { return s.Available() })),
		)
	}
}
