package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"sync"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v10/controller"
	libmetrics "sigs.k8s.io/sig-storage-lib-external-provisioner/v10/controller/metrics"

	"github.com/mazdermind/hostpath-provisioner/pkg/basepath"
	"github.com/mazdermind/hostpath-provisioner/pkg/controllers"
	"github.com/mazdermind/hostpath-provisioner/pkg/failpoint"
	"github.com/mazdermind/hostpath-provisioner/pkg/leader"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/provisioner"
	"github.com/mazdermind/hostpath-provisioner/pkg/usage"
	"github.com/mazdermind/hostpath-provisioner/webhook"
)

// Scheme holds every type the process reads.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	return s
}

// RestConfig builds the client configuration: the kubeconfig when given,
// else in-cluster.
func RestConfig(kubeconfig string, qps float64, burst int) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("loading Kubernetes client configuration: %w", err)
	}
	cfg.QPS = float32(qps)
	cfg.Burst = burst
	cfg.UserAgent = "hostpath-provisioner"
	return cfg, nil
}

// Run wires the provisioner, the webhook and the reconcilers into one
// manager (one cache) and blocks until ctx ends.
func Run(ctx context.Context, o *Options) error {
	logger := klog.FromContext(ctx)
	ctrl.SetLogger(logger)

	cfg, err := RestConfig(o.Kubeconfig, o.KubeAPIQPS, o.KubeAPIBurst)
	if err != nil {
		return err
	}
	bpc := o.BasePaths
	if bpc == nil {
		if bpc, err = basepath.Load("", o.BasePath, true); err != nil {
			return fmt.Errorf("--base-path=%s: %w", o.BasePath, err)
		}
	}
	// A base path that cannot be used is not fatal: only its classes
	// fail (with its name), the others keep working.
	stores, err := basepath.Open(bpc, o.NodeName)
	if err != nil {
		return fmt.Errorf("--base-path-config=%s: %w", o.BasePathConfig, err)
	}
	defer stores.Close()

	disableHTTP2 := func(c *tls.Config) {
		// HTTP/2 multiplexing lets one client starve others (CVE-2023-44487);
		// admission traffic gains nothing from it.
		c.NextProtos = []string{"http/1.1"}
		c.MinVersion = tls.VersionTLS12
	}
	metrics, err := metricsServerOptions(logger, o, disableHTTP2)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 Scheme(),
		Logger:                 logger,
		Metrics:                metrics,
		HealthProbeBindAddress: o.ProbeAddr,
		// Nothing here reads managedFields from the cache (the webhook reads
		// them from the admission request); dropping them took the heap with
		// 5,000 claims and 5,000 PVs cached from 48 to 40 MiB
		// (BenchmarkMemory).
		Cache:            cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
		PprofBindAddress: o.PprofAddr,
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Host: o.WebhookHost, Port: o.WebhookPort, CertDir: o.WebhookCertDir,
			TLSOpts: []func(*tls.Config){disableHTTP2},
		}),
		// The manager's own election would end the process when the lease
		// is lost; ours (pkg/leader) only gates Immediate provisioning.
		LeaderElection: false,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}

	// The old events API on purpose: sig-storage-lib-external-provisioner
	// takes a record.EventRecorder (core/v1 Events), and the controllers
	// share it; GetEventRecorder returns the events.k8s.io recorder, another
	// interface.
	recorder := mgr.GetEventRecorderFor("hostpath-provisioner") //nolint:staticcheck // SA1019: see above
	elector, err := setupProvisioner(ctx, mgr, o, cfg, stores, recorder)
	if err != nil {
		return err
	}
	if err := (&controllers.RetentionSync{Client: mgr.GetClient(), NodeName: o.NodeName, Recorder: recorder}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up retention sync: %w", err)
	}
	if err := (&controllers.NodeGone{Client: mgr.GetClient(), IsLeader: elector.IsLeader, GracePeriod: o.NodeGracePeriod, Recorder: recorder}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up node-gone release: %w", err)
	}

	if err := (&controllers.DefaultClass{Client: mgr.GetClient(), DefaultClass: o.DefaultClass, Namespace: o.Namespace,
		IsLeader: elector.IsLeader, Recorder: recorder}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up default class assignment: %w", err)
	}
	if err := (&controllers.Resizer{Client: mgr.GetClient(), Stores: stores, NodeName: o.NodeName, Recorder: recorder}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up resizer: %w", err)
	}
	if o.UsageInterval > 0 {
		col := usage.NewCollector(mgr.GetClient(), stores, o.NodeName, o.UsageInterval)
		ctrlmetrics.Registry.MustRegister(col)
		if err := mgr.Add(col); err != nil {
			return fmt.Errorf("adding usage collector: %w", err)
		}
	}
	if o.EnableWebhook {
		if err := setupWebhook(mgr, o, stores.Names(), recorder); err != nil {
			return err
		}
	}

	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("adding healthz check: %w", err)
	}
	// One readiness check per base path, named after it, so /readyz?verbose
	// and the pod's events say which one is broken.
	node := &corev1.ObjectReference{Kind: "Node", Name: o.NodeName, UID: types.UID(o.NodeName)}
	for _, r := range stores.Resolved() {
		bp := &basePathCheck{stores: stores, name: r.Name, recorder: recorder, node: node}
		if err := mgr.AddReadyzCheck("base-path-"+r.Name, bp.Check); err != nil {
			return fmt.Errorf("adding readyz check: %w", err)
		}
	}

	logger.Info("Starting hostpath-provisioner", "node", o.NodeName, "basePaths", stores.Resolved(), "provisioner", o.ProvisionerName,
		"webhook", o.EnableWebhook, "leaderElect", o.LeaderElect)
	return mgr.Start(ctx)
}

// basePathCheck keeps the pod unready while a base path is not usable
// (missing, not the mount point it must be, not writable) and says so
// once, as an event on the Node naming it, when that starts and ends.
type basePathCheck struct {
	stores   *basepath.Set
	name     string
	recorder record.EventRecorder
	node     *corev1.ObjectReference

	mu      sync.Mutex
	failing bool
}

func (c *basePathCheck) Check(*http.Request) error {
	err := c.stores.Check(c.name)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err != nil && !c.failing:
		c.recorder.Eventf(c.node, corev1.EventTypeWarning, "BasePathUnavailable", "hostpath-provisioner cannot provision on this node: %v", err)
	case err == nil && c.failing:
		c.recorder.Eventf(c.node, corev1.EventTypeNormal, "BasePathAvailable", "hostpath-provisioner: base path %q is usable again", c.name)
	}
	c.failing = err != nil
	return err
}

// setupWebhook serves admission in this process and keeps readiness false
// until the serving certificate is loaded and the webhook configurations'
// caBundle verifies it.
func setupWebhook(mgr manager.Manager, o *Options, basePaths []string, recorder record.EventRecorder) error {
	if err := webhook.SetupWithManager(mgr, webhook.Options{ProvisionerName: o.ProvisionerName, DefaultClass: o.DefaultClass, Namespace: o.Namespace,
		BasePaths: basePaths}); err != nil {
		return fmt.Errorf("setting up webhook: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook-server", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return fmt.Errorf("adding webhook server readiness: %w", err)
	}
	rc := webhook.NewReadinessCheck(mgr.GetAPIReader(), o.WebhookCertDir, o.WebhookConfigs, recorder)
	if err := mgr.AddReadyzCheck("webhook-ca", rc.Check); err != nil {
		return fmt.Errorf("adding webhook CA readiness: %w", err)
	}
	return nil
}

// setupProvisioner hands the library the manager's informers (one cache for
// everything) and adds it, and the lease campaign, as manager runnables.
func setupProvisioner(ctx context.Context, mgr manager.Manager, o *Options, cfg *rest.Config, stores *basepath.Set, recorder record.EventRecorder) (*leader.Elector, error) {
	informer := func(obj client.Object) (toolscache.SharedIndexInformer, error) {
		inf, err := mgr.GetCache().GetInformer(ctx, obj)
		if err != nil {
			return nil, fmt.Errorf("getting informer for %T: %w", obj, err)
		}
		sii, ok := inf.(toolscache.SharedIndexInformer)
		if !ok {
			return nil, fmt.Errorf("informer for %T is a %T, not a SharedIndexInformer", obj, inf)
		}
		return sii, nil
	}
	claims, err := informer(&corev1.PersistentVolumeClaim{})
	if err != nil {
		return nil, err
	}
	volumes, err := informer(&corev1.PersistentVolume{})
	if err != nil {
		return nil, err
	}
	classes, err := informer(&storagev1.StorageClass{})
	if err != nil {
		return nil, err
	}
	nodes, err := informer(&corev1.Node{})
	if err != nil {
		return nil, err
	}
	kickable := provisioner.NewKickableInformer(claims)

	// Protobuf, as the manager's client uses for built-in types: cheaper
	// for the API server than JSON, which matters when it is the bottleneck.
	libCfg := rest.CopyConfig(cfg)
	libCfg.ContentType = runtime.ContentTypeProtobuf
	libCfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	clientset, err := kubernetes.NewForConfig(failpoint.WrapConfig(libCfg))
	if err != nil {
		return nil, fmt.Errorf("creating clientset: %w", err)
	}

	elector := leader.NewAlwaysLeader()
	if o.LeaderElect {
		elector = leader.New(clientset, leader.Config{
			Namespace: o.Namespace, Name: o.LeaseName, Identity: o.NodeName + "_" + string(uuid.NewUUID()),
			LeaseDuration: o.LeaseDuration, RenewDeadline: o.RenewDeadline, RetryPeriod: o.RetryPeriod,
			OnStartedLeading: func(ctx context.Context) {
				n := kickable.Kick(waitsForLeader)
				klog.FromContext(ctx).V(2).Info("Re-queued claims that waited for a lease holder", "count", n)
			},
		})
	}
	if err := mgr.Add(elector); err != nil {
		return nil, fmt.Errorf("adding leader election: %w", err)
	}

	prov := provisioner.New(provisioner.Config{
		NodeName:        o.NodeName,
		Stores:          stores,
		ReclaimOverride: o.ReclaimPolicy,
		IsLeader:        elector.IsLeader,
		Reader:          mgr.GetClient(),
		Recorder:        recorder,
	})

	// The library's metrics go on the manager's registry (one /metrics); its
	// own HTTP server stays off.
	m := libmetrics.New("hostpath_provisioner")
	ctrlmetrics.Registry.MustRegister(m.PersistentVolumeClaimProvisionTotal, m.PersistentVolumeClaimProvisionFailedTotal,
		m.PersistentVolumeClaimProvisionDurationSeconds, m.PersistentVolumeDeleteTotal, m.PersistentVolumeDeleteFailedTotal,
		m.PersistentVolumeDeleteDurationSeconds)
	provisioner.RegisterMetrics(ctrlmetrics.Registry, stores, o.NodeName)

	names := []string{policy.LegacyProvisionerName}
	pc := controller.NewProvisionController(klog.FromContext(ctx), provisioner.WithoutStartEvents(clientset), o.ProvisionerName, prov,
		controller.LeaderElection(false),
		controller.AdditionalProvisionerNames(names),
		controller.ClaimsInformer(kickable),
		controller.VolumesInformer(volumes),
		controller.ClassesInformer(classes),
		controller.NodesLister(corelisters.NewNodeLister(nodes.GetIndexer())),
		controller.Threadiness(o.Workers),
		controller.ResyncPeriod(o.ResyncPeriod),
		controller.MetricsPort(0),
		controller.MetricsInstance(m),
		controller.AddFinalizer(true),
	)
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if err := prov.Adopt(ctx); err != nil {
			return err
		}
		pc.Run(ctx)
		return nil
	})); err != nil {
		return nil, fmt.Errorf("adding provision controller: %w", err)
	}
	return elector, nil
}

// waitsForLeader selects claims that only a lease holder would provision:
// unbound and without a selected node.
func waitsForLeader(obj any) bool {
	c, ok := obj.(*corev1.PersistentVolumeClaim)
	return ok && c.Spec.VolumeName == "" && c.Annotations[policy.AnnSelectedNode] == "" && c.Status.Phase != corev1.ClaimBound
}
