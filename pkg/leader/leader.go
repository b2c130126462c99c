// Package leader elects the one instance that provisions Immediate claims.
//
// It is a manager Runnable that does not itself need leader election: losing
// the lease only stops Immediate provisioning, it never stops the process,
// which also serves the admission webhook and this node's volumes. The
// instance keeps campaigning until its context ends.
package leader

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// Config describes the lease.
type Config struct {
	Namespace, Name, Identity                 string
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// OnStartedLeading runs each time the lease is won, for example to look
	// again at claims that waited for a leader.
	OnStartedLeading func(ctx context.Context)
}

// Elector campaigns for a Lease and reports whether it holds it.
type Elector struct {
	cfg    Config
	client kubernetes.Interface
	held   atomic.Bool
}

// New returns an Elector; nothing happens before Start.
func New(client kubernetes.Interface, cfg Config) *Elector {
	return &Elector{cfg: cfg, client: client}
}

// NewAlwaysLeader returns an Elector for single-instance setups that holds
// the lease from the start and never campaigns.
func NewAlwaysLeader() *Elector {
	e := &Elector{}
	e.held.Store(true)
	return e
}

// IsLeader reports whether this instance holds the lease right now.
func (e *Elector) IsLeader() bool { return e.held.Load() }

// NeedLeaderElection is false: this runnable is the election.
func (e *Elector) NeedLeaderElection() bool { return false }

// Start campaigns until ctx is done.
func (e *Elector) Start(ctx context.Context) error {
	if e.client == nil {
		<-ctx.Done()
		return nil
	}
	logger := klog.FromContext(ctx).WithValues("lease", klog.KRef(e.cfg.Namespace, e.cfg.Name), "identity", e.cfg.Identity)
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, e.cfg.Namespace, e.cfg.Name,
		e.client.CoreV1(), e.client.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: e.cfg.Identity})
	if err != nil {
		return fmt.Errorf("creating lease lock: %w", err)
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   e.cfg.LeaseDuration,
		RenewDeadline:   e.cfg.RenewDeadline,
		RetryPeriod:     e.cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            e.cfg.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				e.held.Store(true)
				logger.Info("Acquired lease: provisioning Immediate claims on this node")
				if e.cfg.OnStartedLeading != nil {
					e.cfg.OnStartedLeading(ctx)
				}
			},
			OnStoppedLeading: func() {
				e.held.Store(false)
				logger.Info("Lease lost or released: no longer provisioning Immediate claims")
			},
		},
	})
	if err != nil {
		return fmt.Errorf("creating leader elector: %w", err)
	}
	for ctx.Err() == nil {
		le.Run(ctx) // returns when the lease is lost; campaign again
	}
	return nil
}
