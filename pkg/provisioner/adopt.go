package provisioner

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/mazdermind/hostpath-provisioner/pkg/location"
)

// Adopt records the directories of this node's existing PVs in the base
// path's on-disk registry (pkg/volume), before anything is provisioned:
// volumes made by versions that kept no registry then block nesting and
// are spared by the clean-up of parent directories like new ones. A PV
// whose location is refused, or whose directory is gone, is skipped: it
// is reported where it is acted on.
func (p *Provisioner) Adopt(ctx context.Context) error {
	var pvs corev1.PersistentVolumeList
	if err := p.cfg.Reader.List(ctx, &pvs); err != nil {
		return fmt.Errorf("listing PVs to adopt: %w", err)
	}
	logger := klog.FromContext(ctx)
	adopted := 0
	for i := range pvs.Items {
		pv := &pvs.Items[i]
		if !location.OnNode(pv, p.cfg.NodeName) {
			continue
		}
		store, loc, _, err := p.cfg.Stores.ForVolume(pv)
		if err != nil {
			continue
		}
		if ok, err := store.Exists(loc.Rel); err != nil || !ok {
			continue
		}
		if err := store.Register(loc.Rel, pv.Name); err != nil {
			return fmt.Errorf("adopting PV %s (%s): %w", pv.Name, loc.Abs(), err)
		}
		adopted++
	}
	logger.V(2).Info("Adopted this node's volumes into the on-disk registry", "count", adopted)
	return nil
}
