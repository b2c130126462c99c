// Package app is the hostpath-provisioner command: options (flags with the
// original's environment variables as fallbacks) and the manager wiring.
// main.go only passes in the process's arguments, environment and signals.
package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/mazdermind/hostpath-provisioner/pkg/basepath"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

// Options is the whole configuration of one process.
type Options struct {
	Kubeconfig string
	BasePath   string
	// BasePathConfig is the file naming more base paths (usually mounted
	// from a ConfigMap); BasePaths is what it and BasePath amount to.
	BasePathConfig  string
	BasePaths       *basepath.Config
	NodeName        string
	ProvisionerName string
	DefaultClass    string
	Namespace       string
	// ReclaimPolicy overrides the class reclaimPolicy as the default fate of
	// new volumes ("" keeps the class's).
	ReclaimPolicy corev1.PersistentVolumeReclaimPolicy

	EnableWebhook   bool
	WebhookHost     string
	WebhookPort     int
	WebhookCertDir  string
	WebhookConfigs  string // mutating,validating configuration names checked for readiness
	MetricsAddr     string
	MetricsSecure   bool   // HTTPS with TokenReview/SubjectAccessReview (see metrics.go)
	MetricsCertDir  string // tls.crt, tls.key; empty: a self-signed certificate made at start
	PprofAddr       string
	ProbeAddr       string
	LeaderElect     bool
	LeaseName       string
	LeaseDuration   time.Duration
	RenewDeadline   time.Duration
	RetryPeriod     time.Duration
	KubeAPIQPS      float64
	KubeAPIBurst    int
	Workers         int
	ResyncPeriod    time.Duration
	NodeGracePeriod time.Duration
	UsageInterval   time.Duration
}

// Defaults chosen so the provisioner is never the bottleneck: client-go's
// 5 QPS would cap provisioning at about two volumes a second.
const (
	defaultQPS     = 100
	defaultBurst   = 200
	defaultWorkers = 16
)

// getenv is os.LookupEnv, passed in so tests control the environment.
type getenv func(string) (string, bool)

// Parse reads flags, falling back to the original provisioner's environment
// variables (PV_DIR, PV_RECLAIM_POLICY, NODE_NAME) and POD_NAMESPACE.
func Parse(args []string, env getenv, stderr io.Writer) (*Options, error) {
	o := &Options{}
	fs := flag.NewFlagSet("hostpath-provisioner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	klog.InitFlags(fs)

	envOr := func(key, def string) string {
		if v, ok := env(key); ok && v != "" {
			return v
		}
		return def
	}
	var reclaim string
	fs.StringVar(&o.Kubeconfig, "kubeconfig", envOr("KUBECONFIG", ""), "kubeconfig file; empty means in-cluster configuration")
	fs.StringVar(&o.BasePath, "base-path", envOr("PV_DIR", policy.DefaultBasePath), "directory under which volumes are created (env PV_DIR): the base path named \"default\", used by classes without a basePath parameter")
	fs.StringVar(&o.BasePathConfig, "base-path-config", envOr("BASE_PATH_CONFIG", ""), "YAML file naming more base paths, a directory per node each (env BASE_PATH_CONFIG; README \"Two disks\")")
	fs.StringVar(&o.NodeName, "node-name", envOr("NODE_NAME", ""), "name of the node this instance runs on (env NODE_NAME, from the downward API)")
	fs.StringVar(&o.ProvisionerName, "provisioner-name", policy.ProvisionerName, "StorageClass provisioner name to serve; \""+policy.LegacyProvisionerName+"\" is always served too")
	fs.StringVar(&o.DefaultClass, "default-class", policy.DefaultClassName, "StorageClass given to claims without one")
	fs.StringVar(&o.Namespace, "namespace", envOr("POD_NAMESPACE", "hostpath-provisioner"), "namespace of the installation (lease, events)")
	fs.StringVar(&reclaim, "reclaim-policy", envOr("PV_RECLAIM_POLICY", ""), "Retain or Delete: overrides the class reclaimPolicy for new volumes (env PV_RECLAIM_POLICY)")
	fs.BoolVar(&o.EnableWebhook, "enable-webhook", true, "serve the admission webhook")
	fs.StringVar(&o.WebhookHost, "webhook-host", "", "address the webhook server listens on (empty: all)")
	fs.IntVar(&o.WebhookPort, "webhook-port", 9443, "webhook server port")
	fs.StringVar(&o.WebhookCertDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory with tls.crt, tls.key (and ca.crt) from the cert-manager Secret")
	fs.StringVar(&o.WebhookConfigs, "webhook-configurations", "hostpath-provisioner", "name of the Mutating- and ValidatingWebhookConfiguration whose caBundle readiness verifies")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8443", "Prometheus /metrics address (0 disables)")
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", true, "serve /metrics over HTTPS to bearer tokens the API server authenticates and authorizes for GET /metrics; false serves plain HTTP to anyone who reaches the port (the volume metrics name every namespace, claim and PV on the node)")
	fs.StringVar(&o.MetricsCertDir, "metrics-cert-dir", "", "directory with tls.crt and tls.key for /metrics (the cert-manager Secret, reloaded on renewal); empty: a self-signed certificate generated at start")
	fs.StringVar(&o.PprofAddr, "pprof-bind-address", "", "serve net/http/pprof on this address, for profiling (empty: off; never expose it beyond the node)")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "/healthz and /readyz address")
	fs.BoolVar(&o.LeaderElect, "leader-elect", true, "campaign for the lease that entitles one instance to provision Immediate claims; off means this instance always does")
	fs.StringVar(&o.LeaseName, "leader-election-id", "hostpath-provisioner", "name of the Lease")
	fs.DurationVar(&o.LeaseDuration, "lease-duration", 15*time.Second, "lease duration")
	fs.DurationVar(&o.RenewDeadline, "renew-deadline", 10*time.Second, "lease renew deadline")
	fs.DurationVar(&o.RetryPeriod, "retry-period", 2*time.Second, "lease retry period")
	fs.Float64Var(&o.KubeAPIQPS, "kube-api-qps", defaultQPS, "client QPS towards the API server")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", defaultBurst, "client burst towards the API server")
	fs.IntVar(&o.Workers, "workers", defaultWorkers, "claims and volumes processed in parallel")
	fs.DurationVar(&o.ResyncPeriod, "resync-period", 5*time.Minute, "how often every claim and volume is looked at again")
	fs.DurationVar(&o.NodeGracePeriod, "node-gone-grace-period", 10*time.Minute, "how long a volume whose Node object is gone waits before its PV is released")
	fs.DurationVar(&o.UsageInterval, "usage-interval", time.Minute, "how often each volume's used bytes are measured for /metrics (0 disables)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.ReclaimPolicy = corev1.PersistentVolumeReclaimPolicy(reclaim)
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "base-path" })
	if v, ok := env("PV_DIR"); ok && v != "" {
		explicit = true
	}
	verr := o.Validate()
	errs := []error{verr}
	// A bad --base-path is reported once, by Validate; the file is read
	// whenever it is given, so its errors come in the same run.
	if o.BasePathConfig != "" || verr == nil {
		bp, err := basepath.Load(o.BasePathConfig, o.BasePath, explicit)
		if err != nil {
			errs = append(errs, fmt.Errorf("--base-path-config=%s: %w", o.BasePathConfig, err))
		}
		o.BasePaths = bp
	}
	return o, errors.Join(errs...)
}

// Validate reports every invalid option at once, naming flag and value.
func (o *Options) Validate() error {
	var errs []error
	bad := func(flag string, value any, allowed string) {
		errs = append(errs, fmt.Errorf("--%s=%v: %s", flag, value, allowed))
	}
	if o.NodeName == "" {
		bad("node-name", `""`, "required: set --node-name or NODE_NAME (the downward API's spec.nodeName)")
	}
	if !filepath.IsAbs(o.BasePath) || filepath.Clean(o.BasePath) == "/" {
		bad("base-path", strconv.Quote(o.BasePath), "must be an absolute path other than /")
	}
	switch o.ReclaimPolicy {
	case "", corev1.PersistentVolumeReclaimRetain, corev1.PersistentVolumeReclaimDelete:
	default:
		bad("reclaim-policy", o.ReclaimPolicy, "must be Retain or Delete (or empty to follow the StorageClass)")
	}
	if o.ProvisionerName == "" {
		bad("provisioner-name", `""`, "must not be empty")
	}
	if o.WebhookPort < 1 || o.WebhookPort > 65535 {
		bad("webhook-port", o.WebhookPort, "must be a port from 1 to 65535")
	}
	if o.MetricsCertDir != "" && !o.MetricsSecure {
		bad("metrics-cert-dir", strconv.Quote(o.MetricsCertDir), "is only used with --metrics-secure=true")
	}
	if o.KubeAPIQPS <= 0 {
		bad("kube-api-qps", o.KubeAPIQPS, "must be positive")
	}
	if o.KubeAPIBurst < 1 {
		bad("kube-api-burst", o.KubeAPIBurst, "must be at least 1")
	}
	if o.UsageInterval < 0 {
		bad("usage-interval", o.UsageInterval, "must not be negative")
	}
	if o.Workers < 1 {
		bad("workers", o.Workers, "must be at least 1")
	}
	if o.LeaderElect && (o.LeaseDuration <= o.RenewDeadline || o.RenewDeadline <= o.RetryPeriod || o.RetryPeriod <= 0) {
		bad("lease-duration", o.LeaseDuration, fmt.Sprintf("must exceed --renew-deadline (%v), which must exceed --retry-period (%v) > 0", o.RenewDeadline, o.RetryPeriod))
	}
	return errors.Join(errs...)
}
