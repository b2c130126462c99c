package provisioner

import (
	"time"

	"k8s.io/client-go/tools/cache"
)

// KickableInformer wraps the claim informer handed to the library so that we
// can make the library look at claims again: the library drops a claim that
// ShouldProvision declines (for example while no instance held the lease)
// and would otherwise only see it again at the next resync.
type KickableInformer struct {
	cache.SharedIndexInformer
	handlers []cache.ResourceEventHandler
}

// NewKickableInformer wraps inf.
func NewKickableInformer(inf cache.SharedIndexInformer) *KickableInformer {
	return &KickableInformer{SharedIndexInformer: inf}
}

// AddEventHandlerWithResyncPeriod records the handler and registers it.
func (k *KickableInformer) AddEventHandlerWithResyncPeriod(h cache.ResourceEventHandler, resync time.Duration) (cache.ResourceEventHandlerRegistration, error) {
	k.handlers = append(k.handlers, h)
	return k.SharedIndexInformer.AddEventHandlerWithResyncPeriod(h, resync)
}

// Kick delivers every cached object that wants() to the recorded handlers
// as an update, which puts it back on the library's work queue.
func (k *KickableInformer) Kick(wants func(obj any) bool) int {
	n := 0
	for _, obj := range k.GetStore().List() {
		if !wants(obj) {
			continue
		}
		for _, h := range k.handlers {
			h.OnUpdate(obj, obj)
		}
		n++
	}
	return n
}
