package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mazdermind/hostpath-provisioner/pkg/basepath"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/webhook"
)

// CheckOptions configures `hostpath-provisioner check`.
type CheckOptions struct {
	Kubeconfig   string
	Namespace    string
	Certificate  string
	WebhookName  string
	ClassName    string
	DaemonSet    string
	Provisioner  string
	BasePath     string // checked only when it exists on this machine
	BasePathFile string // more base paths (--base-path-config), each checked likewise
	NodeName     string // picks each base path's directory
	CertDir      string // the mounted Secret, when run inside the pod
	WebhookCerts string // the Secret of the serving certificate, when run outside
}

// parseCheck reads the check subcommand's flags.
func parseCheck(args []string, env getenv, stderr io.Writer) (*CheckOptions, error) {
	o := &CheckOptions{}
	fs := flag.NewFlagSet("hostpath-provisioner check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := func(k, d string) string {
		if v, ok := env(k); ok && v != "" {
			return v
		}
		return d
	}
	fs.StringVar(&o.Kubeconfig, "kubeconfig", def("KUBECONFIG", ""), "kubeconfig; empty means in-cluster")
	fs.StringVar(&o.Namespace, "namespace", def("POD_NAMESPACE", "hostpath-provisioner"), "namespace of the installation")
	fs.StringVar(&o.Certificate, "certificate", "hostpath-provisioner-webhook", "cert-manager Certificate of the webhook")
	fs.StringVar(&o.WebhookCerts, "webhook-secret", "hostpath-provisioner-webhook-tls", "Secret holding the webhook serving certificate")
	fs.StringVar(&o.WebhookName, "webhook-configurations", "hostpath-provisioner", "name of both webhook configurations")
	fs.StringVar(&o.ClassName, "default-class", policy.DefaultClassName, "StorageClass that class-less claims get")
	fs.StringVar(&o.DaemonSet, "daemonset", "hostpath-provisioner", "DaemonSet of the provisioner")
	fs.StringVar(&o.Provisioner, "provisioner-name", policy.ProvisionerName, "provisioner name")
	fs.StringVar(&o.BasePath, "base-path", def("PV_DIR", policy.DefaultBasePath), "base path, checked when present on this machine")
	fs.StringVar(&o.BasePathFile, "base-path-config", def("BASE_PATH_CONFIG", ""), "base path configuration file, as the provisioner's (env BASE_PATH_CONFIG)")
	fs.StringVar(&o.NodeName, "node-name", def("NODE_NAME", ""), "node whose directories to check (env NODE_NAME); empty: the directories for unlisted nodes")
	fs.StringVar(&o.CertDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs", "mounted serving certificate, used when present")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return o, nil
}

// finding is one line of the report.
type finding struct {
	ok      bool
	what    string
	detail  string
	skipped bool
}

// Check inspects an installation and writes what is wrong and how to fix
// it. It returns an error when something is broken.
func Check(ctx context.Context, o *CheckOptions, out io.Writer) error {
	cfg, err := RestConfig(o.Kubeconfig, 20, 40)
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	var findings []finding
	add := func(f finding) { findings = append(findings, f) }

	add(checkCertManager(ctx, c, o))
	add(checkCABundle(ctx, c, o))
	add(checkClass(ctx, c, o))
	add(checkDefaults(ctx, c, o))
	add(checkPods(ctx, c, o))
	for _, f := range checkBasePaths(o) {
		add(f)
	}

	broken := 0
	for _, f := range findings {
		mark := "OK  "
		switch {
		case f.skipped:
			mark = "SKIP"
		case !f.ok:
			mark = "FAIL"
			broken++
		}
		fmt.Fprintf(out, "%s %s", mark, f.what)
		if f.detail != "" {
			fmt.Fprintf(out, ": %s", f.detail)
		}
		fmt.Fprintln(out)
	}
	if broken > 0 {
		return fmt.Errorf("%d problem(s) found", broken)
	}
	return nil
}

func checkCertManager(ctx context.Context, c client.Client, o *CheckOptions) finding {
	f := finding{what: "cert-manager Certificate " + o.Namespace + "/" + o.Certificate}
	cond, err := webhook.CertificateReady(ctx, c, o.Namespace, o.Certificate)
	switch {
	case meta.IsNoMatchError(err):
		f.detail = "cert-manager's CRDs are not installed; install cert-manager first, then apply the install manifest again"
		return f
	case err != nil:
		f.detail = fmt.Sprintf("cannot read it (%v); apply the install manifest", err)
		return f
	case cond == nil:
	case cond.Status == "True":
		f.ok, f.detail = true, "Ready"
		return f
	default:
		f.detail = fmt.Sprintf("not Ready: %s: %s; see `kubectl -n %s describe certificate %s` and the cert-manager logs", cond.Reason, cond.Message, o.Namespace, o.Certificate)
		return f
	}
	f.detail = "no Ready condition yet: is the cert-manager controller running?"
	return f
}

func checkCABundle(ctx context.Context, c client.Client, o *CheckOptions) finding {
	f := finding{what: "webhook configurations " + o.WebhookName + " trust the serving certificate"}
	chain, err := os.ReadFile(filepath.Join(o.CertDir, "tls.crt"))
	if err != nil {
		var s corev1.Secret
		if err := c.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: o.WebhookCerts}, &s); err != nil {
			f.detail = fmt.Sprintf("cannot read the serving certificate Secret %s/%s (%v): cert-manager has not issued it yet", o.Namespace, o.WebhookCerts, err)
			return f
		}
		chain = s.Data["tls.crt"]
	}
	rc := webhook.NewReadinessCheck(c, "", o.WebhookName, nil)
	if err := rc.VerifyServingCert(ctx, chain); err != nil {
		f.detail = err.Error()
		return f
	}
	f.ok, f.detail = true, "caBundle injected and matching"
	return f
}

func checkClass(ctx context.Context, c client.Client, o *CheckOptions) finding {
	f := finding{what: "StorageClass " + o.ClassName}
	var sc storagev1.StorageClass
	if err := c.Get(ctx, client.ObjectKey{Name: o.ClassName}, &sc); err != nil {
		f.detail = fmt.Sprintf("cannot read it (%v); class-less claims will stay Pending. Apply the install manifest", err)
		return f
	}
	if !policy.IsOurProvisioner(sc.Provisioner, o.Provisioner) {
		f.detail = fmt.Sprintf("has provisioner %q, not %q", sc.Provisioner, o.Provisioner)
		return f
	}
	if _, errs := policy.ValidateStorageClass(&sc, nil); len(errs) > 0 {
		f.detail = errs.ToAggregate().Error()
		return f
	}
	f.ok, f.detail = true, "present and valid"
	return f
}

func checkDefaults(ctx context.Context, c client.Client, o *CheckOptions) finding {
	f := finding{what: "default StorageClass"}
	var classes storagev1.StorageClassList
	if err := c.List(ctx, &classes); err != nil {
		f.detail = err.Error()
		return f
	}
	var defaults []string
	for i := range classes.Items {
		if policy.IsDefaultClass(&classes.Items[i]) {
			defaults = append(defaults, classes.Items[i].Name)
		}
	}
	switch {
	case len(defaults) > 1:
		f.detail = fmt.Sprintf("several classes are marked default (%s); Kubernetes picks the newest for class-less claims before our webhook runs. Unmark all but one: kubectl annotate storageclass NAME %s-", strings.Join(defaults, ", "), policy.AnnIsDefaultClass)
	case len(defaults) == 1 && defaults[0] != o.ClassName:
		f.detail = fmt.Sprintf("%s is the cluster default, so class-less claims get it (the built-in DefaultStorageClass admission runs before our webhook). To make hostpath the default: kubectl annotate storageclass %s %s-", defaults[0], defaults[0], policy.AnnIsDefaultClass)
	default:
		f.ok = true
		if len(defaults) == 0 {
			f.detail = "none marked; the webhook gives class-less claims " + o.ClassName
		} else {
			f.detail = o.ClassName + " is the cluster default"
		}
	}
	return f
}

func checkPods(ctx context.Context, c client.Client, o *CheckOptions) finding {
	f := finding{what: "provisioner pods on every node"}
	var ds appsv1.DaemonSet
	if err := c.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: o.DaemonSet}, &ds); err != nil {
		f.detail = fmt.Sprintf("DaemonSet %s/%s: %v", o.Namespace, o.DaemonSet, err)
		return f
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(o.Namespace), client.MatchingLabels(ds.Spec.Selector.MatchLabels)); err != nil {
		f.detail = err.Error()
		return f
	}
	var nodes corev1.NodeList
	if err := c.List(ctx, &nodes); err != nil {
		f.detail = err.Error()
		return f
	}
	ready := map[string]bool{}
	var notReady []string
	for _, p := range pods.Items {
		ok := false
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				ok = true
			}
		}
		if ok {
			ready[p.Spec.NodeName] = true
		} else {
			notReady = append(notReady, fmt.Sprintf("%s on %s (%s)", p.Name, p.Spec.NodeName, podProblem(&p)))
		}
	}
	var missing []string
	for _, n := range nodes.Items {
		if !ready[n.Name] {
			missing = append(missing, n.Name)
		}
	}
	if len(missing) > 0 {
		f.detail = fmt.Sprintf("no Ready provisioner on node(s) %s; claims for those nodes cannot be provisioned", strings.Join(missing, ", "))
		if len(notReady) > 0 {
			f.detail += "; not ready: " + strings.Join(notReady, "; ") + fmt.Sprintf(". `kubectl -n %s describe pod` shows the readiness message", o.Namespace)
		}
		return f
	}
	f.ok, f.detail = true, fmt.Sprintf("%d node(s), all Ready", len(nodes.Items))
	return f
}

func podProblem(p *corev1.Pod) string {
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Waiting != nil {
			return s.State.Waiting.Reason + ": " + s.State.Waiting.Message
		}
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Message != "" {
			return cond.Message
		}
	}
	return string(p.Status.Phase)
}

// checkBasePaths reports each base path as this node has it: usable
// (present, the mount point it must be, writable) and its free space.
func checkBasePaths(o *CheckOptions) []finding {
	explicit := o.BasePathFile == "" || o.BasePath != policy.DefaultBasePath
	cfg, err := basepath.Load(o.BasePathFile, o.BasePath, explicit)
	if err != nil {
		return []finding{{what: "base path configuration " + o.BasePathFile, detail: err.Error()}}
	}
	set, err := basepath.Open(cfg, o.NodeName)
	if err != nil {
		return []finding{{what: "base path configuration " + o.BasePathFile, detail: err.Error()}}
	}
	defer set.Close()
	var out []finding
	for _, r := range set.Resolved() {
		f := finding{what: fmt.Sprintf("base path %q (%s)", r.Name, r.Dir)}
		if r.Dir == "" {
			f.what = fmt.Sprintf("base path %q", r.Name)
			f.skipped, f.detail = true, "no directory on this node"
			out = append(out, f)
			continue
		}
		err := set.Check(r.Name)
		switch {
		case errors.Is(err, os.ErrNotExist) && !r.MustBeMountpoint:
			f.skipped, f.detail = true, "not on this machine; run check inside a provisioner pod (kubectl exec) to test it"
		case err != nil:
			f.detail = err.Error() + "; check the hostPath mount, that the disk is mounted and that the filesystem is not read-only"
		default:
			sp, err := set.Space(r.Name)
			if err != nil {
				f.detail = err.Error()
				break
			}
			f.ok, f.detail = true, fmt.Sprintf("writable, %d MiB free of %d MiB", sp.Free>>20, sp.Total>>20)
		}
		out = append(out, f)
	}
	return out
}
