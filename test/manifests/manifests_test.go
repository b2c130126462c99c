// Package manifests_test checks the installation manifests: dist/install.yaml
// is what config/ renders to, and it has the properties a reviewer looks for
// (least-privilege RBAC, a hardened DaemonSet, fail-open webhooks with
// cert-manager TLS), and it agrees with the binary's own flags.
package manifests_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/mazdermind/hostpath-provisioner/cmd/hostpath-provisioner/app"
	"github.com/mazdermind/hostpath-provisioner/pkg/basepath"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/webhook"
)

const (
	namespace       = "hostpath-provisioner"
	installPath     = "dist/install.yaml"
	renderScript    = "hack/render-manifests.sh"
	injectCAFrom    = "cert-manager.io/inject-ca-from"
	kustomizeAbsent = 3 // exit status of renderScript when kustomize is not built
)

// repoRoot is two levels up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestInstallManifestIsRenderedFromConfig(t *testing.T) {
	root := repoRoot(t)
	cmd := exec.Command("bash", filepath.Join(root, renderScript), "--stdout")
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == kustomizeAbsent {
			t.Skipf("cannot render config/default without the pinned kustomize: run `make tools` (`make verify-manifests` builds it first): %s", strings.TrimSpace(stderr.String()))
		}
		t.Fatalf("%s --stdout: %v\n%s", renderScript, err, stderr.String())
	}
	committed, err := os.ReadFile(filepath.Join(root, installPath))
	if err != nil {
		t.Fatalf("reading %s: %v (render it with `make manifests`)", installPath, err)
	}
	if !bytes.Equal(stdout.Bytes(), committed) {
		t.Fatalf("%s is out of date with config/: run `make manifests` (%s) and commit the result.\n%s",
			installPath, renderScript, firstDifference(committed, stdout.Bytes()))
	}
}

// firstDifference describes where two texts start to differ, with a little
// context, as a hint for the drift failure.
func firstDifference(committed, rendered []byte) string {
	a := strings.Split(string(committed), "\n")
	b := strings.Split(string(rendered), "\n")
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "first difference at line %d (%d lines committed, %d rendered):\n", i+1, len(a), len(b))
	for j := max(0, i-3); j < i; j++ {
		fmt.Fprintf(&sb, "    %s\n", a[j])
	}
	for j := i; j < min(len(a), i+3); j++ {
		fmt.Fprintf(&sb, "  - %s\n", a[j])
	}
	for j := i; j < min(len(b), i+3); j++ {
		fmt.Fprintf(&sb, "  + %s\n", b[j])
	}
	return sb.String()
}

// decode reads every object of a multi-document YAML file, strictly: an
// unknown or duplicate field (a typo such as readOnlyRootFileSystem) is an
// error, not silently dropped.
func decode(t *testing.T, path string) []runtime.Object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeBytes(t, path, data)
}

// decodeBytes is decode for YAML in memory; name says where it came from.
func decodeBytes(t *testing.T, name string, data []byte) []runtime.Object {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := cmv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	deserializer := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()

	reader := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []runtime.Object
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", name, n, err)
		}
		if isBlank(doc) {
			continue
		}
		obj, gvk, err := deserializer.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: document %d (%v): %v", name, n, gvk, err)
		}
		objs = append(objs, obj)
	}
	if len(objs) == 0 {
		t.Fatalf("%s holds no objects", name)
	}
	return objs
}

// isBlank reports whether a YAML document holds only comments and blanks.
func isBlank(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}

// manifest is dist/install.yaml, decoded.
type manifest struct {
	objs []runtime.Object
}

func loadInstall(t *testing.T) *manifest {
	t.Helper()
	return &manifest{objs: decode(t, filepath.Join(repoRoot(t), installPath))}
}

// all returns every object of type T in the manifest.
func all[T runtime.Object](m *manifest) []T {
	var out []T
	for _, o := range m.objs {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// one returns the object of type T called name, failing the test without it.
func one[T interface {
	runtime.Object
	GetName() string
}](t *testing.T, m *manifest, name string) T {
	t.Helper()
	for _, o := range all[T](m) {
		if o.GetName() == name {
			return o
		}
	}
	var zero T
	t.Fatalf("%s: no %T named %q", installPath, zero, name)
	return zero
}

func TestInstallManifestObjects(t *testing.T) {
	m := loadInstall(t)
	var got []string
	for _, o := range m.objs {
		acc, err := metaAccessor(o)
		if err != nil {
			t.Fatal(err)
		}
		kind := fmt.Sprintf("%T", o)
		got = append(got, kind+" "+acc.GetName())
		if isNamespaced(o) && acc.GetNamespace() != namespace {
			t.Errorf("%s %q is in namespace %q, want %q", kind, acc.GetName(), acc.GetNamespace(), namespace)
		}
		if _, ok := o.(*corev1.Secret); ok {
			t.Errorf("%s ships Secret %q: key material must come from cert-manager, never from the manifest", installPath, acc.GetName())
		}
	}
	t.Logf("%s holds %d objects:\n  %s", installPath, len(got), strings.Join(got, "\n  "))
	ns := one[*corev1.Namespace](t, m, namespace)
	if ns.Labels[corev1.LabelMetadataName] != namespace {
		t.Errorf("Namespace %s: label %s=%q, want %q (the webhooks' namespaceSelector relies on it)",
			namespace, corev1.LabelMetadataName, ns.Labels[corev1.LabelMetadataName], namespace)
	}
}

func metaAccessor(o runtime.Object) (metav1.Object, error) {
	acc, ok := o.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", o)
	}
	return acc, nil
}

func isNamespaced(o runtime.Object) bool {
	switch o.(type) {
	case *corev1.Namespace, *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding, *storagev1.StorageClass,
		*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration:
		return false
	}
	return true
}

// writable lists every resource the service account may change, and why.
var writable = map[string]string{
	"/persistentvolumes":             "the provisioner creates and deletes volumes",
	"/persistentvolumeclaims":        "the library and the default-class reconciler update claims",
	"/persistentvolumeclaims/status": "the resizer reports the grown size in the claim status",
	"/events":                        "events on claims and volumes",
	"events.k8s.io/events":           "events on claims and volumes",
	"coordination.k8s.io/leases":     "the Immediate-binding lease",
	// Creating a review reads or changes no object: it asks the API server
	// about a scraper's bearer token.
	"authentication.k8s.io/tokenreviews":        "/metrics authenticates a scraper's bearer token",
	"authorization.k8s.io/subjectaccessreviews": "/metrics asks whether that scraper may GET /metrics",
}

// createOnly are the writable resources whose only verb is create.
var createOnly = []string{"authentication.k8s.io/tokenreviews", "authorization.k8s.io/subjectaccessreviews"}

// metricsReader is the ClusterRole admins bind to their Prometheus: the only
// role with a non-resource URL, and bound by nothing in the manifest.
const metricsReader = "hostpath-provisioner-metrics-reader"

func TestRBACIsLeastPrivilege(t *testing.T) {
	m := loadInstall(t)
	roles := map[string][]rbacv1.PolicyRule{}
	for _, r := range all[*rbacv1.ClusterRole](m) {
		roles["ClusterRole/"+r.Name] = r.Rules
		if r.AggregationRule != nil {
			t.Errorf("ClusterRole %s aggregates other roles; its rules must be spelled out", r.Name)
		}
	}
	for _, r := range all[*rbacv1.Role](m) {
		roles["Role/"+r.Name] = r.Rules
	}
	if len(roles) == 0 {
		t.Fatalf("%s has no Role or ClusterRole", installPath)
	}
	for name, rules := range roles {
		for i, r := range rules {
			where := fmt.Sprintf("%s rule %d", name, i)
			for _, list := range [][]string{r.Verbs, r.APIGroups, r.Resources, r.ResourceNames} {
				if slices.Contains(list, rbacv1.VerbAll) || slices.ContainsFunc(list, func(s string) bool { return strings.HasSuffix(s, "/*") }) {
					t.Errorf("%s uses a wildcard: %+v", where, r)
				}
			}
			if len(r.NonResourceURLs) > 0 {
				if name != "ClusterRole/"+metricsReader {
					t.Errorf("%s grants non-resource URLs %v; only %s may, for /metrics", where, r.NonResourceURLs, metricsReader)
				}
				if !slices.Equal(r.NonResourceURLs, []string{"/metrics"}) || !slices.Equal(r.Verbs, []string{"get"}) ||
					len(r.APIGroups)+len(r.Resources)+len(r.ResourceNames) > 0 {
					t.Errorf("%s: %+v; a metrics reader may only GET /metrics", where, r)
				}
			}
			for _, v := range r.Verbs {
				switch v {
				case "escalate", "bind", "impersonate", "approve", "sign":
					t.Errorf("%s grants %q", where, v)
				}
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					if res == "secrets" || res == "pods/exec" || res == "serviceaccounts/token" {
						t.Errorf("%s grants %v on %s", where, r.Verbs, res)
					}
					for _, v := range r.Verbs {
						if v == "get" || v == "list" || v == "watch" {
							continue
						}
						if _, ok := writable[g+"/"+res]; !ok {
							t.Errorf("%s grants %q on %s/%s; writable are only %v", where, v, g, res, keys(writable))
						}
						if v != "create" && slices.Contains(createOnly, g+"/"+res) {
							t.Errorf("%s grants %q on %s/%s; only create is needed", where, v, g, res)
						}
					}
				}
			}
		}
	}

	if rules := roles["ClusterRole/"+metricsReader]; len(rules) != 1 {
		t.Errorf("ClusterRole %s has rules %+v; want exactly GET on /metrics, for admins to bind to their scraper", metricsReader, rules)
	}
	sa := one[*corev1.ServiceAccount](t, m, "hostpath-provisioner")
	checkSubjects := func(binding string, subjects []rbacv1.Subject, ref rbacv1.RoleRef) {
		switch ref.Name {
		case "cluster-admin", "admin", "edit":
			t.Errorf("%s binds the built-in role %q", binding, ref.Name)
		case metricsReader:
			t.Errorf("%s binds %s: who scrapes /metrics is the admin's choice, not the manifest's", binding, ref.Name)
		}
		if _, ok := roles[ref.Kind+"/"+ref.Name]; !ok {
			t.Errorf("%s binds %s/%s, which %s does not define", binding, ref.Kind, ref.Name, installPath)
		}
		for _, s := range subjects {
			if s.Kind != rbacv1.ServiceAccountKind || s.Name != sa.Name || s.Namespace != sa.Namespace {
				t.Errorf("%s has subject %+v; only ServiceAccount %s/%s is expected", binding, s, sa.Namespace, sa.Name)
			}
		}
	}
	for _, b := range all[*rbacv1.ClusterRoleBinding](m) {
		checkSubjects("ClusterRoleBinding "+b.Name, b.Subjects, b.RoleRef)
	}
	for _, b := range all[*rbacv1.RoleBinding](m) {
		checkSubjects("RoleBinding "+b.Name, b.Subjects, b.RoleRef)
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// allowedCapabilities are the only capabilities the container may add; see
// the comment in config/manager/daemonset.yaml for what each is needed for.
var allowedCapabilities = []corev1.Capability{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID"}

func TestDaemonSetIsHardened(t *testing.T) {
	m := loadInstall(t)
	ds := one[*appsv1.DaemonSet](t, m, "hostpath-provisioner")
	pod := ds.Spec.Template.Spec
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Errorf("pod shares host namespaces: hostNetwork=%v hostPID=%v hostIPC=%v", pod.HostNetwork, pod.HostPID, pod.HostIPC)
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("want exactly one container and no init containers, got %d and %d", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("container has no securityContext")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("container is privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Error("capabilities do not drop ALL")
	} else {
		for _, cp := range sc.Capabilities.Add {
			if !slices.Contains(allowedCapabilities, cp) {
				t.Errorf("capability %s added; allowed are %v", cp, allowedCapabilities)
			}
		}
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil && pod.SecurityContext != nil {
		seccomp = pod.SecurityContext.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccomp profile is %+v, want RuntimeDefault", seccomp)
	}
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	if c.LivenessProbe == nil || c.ReadinessProbe == nil {
		t.Error("liveness and readiness probes are both required")
	}
	if c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("imagePullPolicy %q, want IfNotPresent (a release tag is pulled once per node, and a node without registry access can import it)", c.ImagePullPolicy)
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil && v.HostPath.Path != policy.DefaultBasePath {
			t.Errorf("volume %s mounts host path %s; only the base path %s may be mounted", v.Name, v.HostPath.Path, policy.DefaultBasePath)
		}
	}
}

// fieldRefValues stands in for the downward API when the DaemonSet's
// environment is fed to the binary's own flag parser.
func fieldRefValues(ds *appsv1.DaemonSet) map[string]string {
	return map[string]string{"spec.nodeName": "node-1", "metadata.namespace": ds.Namespace}
}

// daemonSetOptions parses the container's args and env with the binary's own
// option parser, the downward API standing in as fieldRefValues.
func daemonSetOptions(t *testing.T, ds *appsv1.DaemonSet) *app.Options {
	t.Helper()
	c := ds.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	refs := fieldRefValues(ds)
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = refs[e.ValueFrom.FieldRef.FieldPath]
		}
	}
	args := c.Args
	if len(c.Command) > 1 { // command[0] is the binary
		args = append(slices.Clone(c.Command[1:]), c.Args...)
	}
	var stderr bytes.Buffer
	opts, err := app.Parse(args, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}, &stderr)
	if err != nil {
		t.Fatalf("the DaemonSet's args %q and env %v are rejected by the binary: %v\n%s", c.Args, env, err, stderr.String())
	}
	return opts
}

// TestDaemonSetAgreesWithFlags parses the container's args and env with the
// binary's own option parser, then checks that ports, mounts and names in
// the manifest are the ones the process will actually use.
func TestDaemonSetAgreesWithFlags(t *testing.T) {
	m := loadInstall(t)
	ds := one[*appsv1.DaemonSet](t, m, "hostpath-provisioner")
	pod := ds.Spec.Template.Spec
	c := pod.Containers[0]
	opts := daemonSetOptions(t, ds)
	if opts.NodeName != "node-1" {
		t.Errorf("node name %q: NODE_NAME must come from spec.nodeName", opts.NodeName)
	}
	if opts.Namespace != namespace {
		t.Errorf("namespace %q, want %q (POD_NAMESPACE from metadata.namespace)", opts.Namespace, namespace)
	}

	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["webhook"] != int32(opts.WebhookPort) {
		t.Errorf("container port webhook=%d, but the webhook listens on %d", ports["webhook"], opts.WebhookPort)
	}
	if want := addrPort(t, opts.MetricsAddr); ports["metrics"] != want {
		t.Errorf("container port metrics=%d, but metrics listen on %s", ports["metrics"], opts.MetricsAddr)
	}
	probePort := addrPort(t, opts.ProbeAddr)
	for name, probe := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Errorf("%s probe is not an HTTP GET", name)
			continue
		}
		if got := resolvePort(probe.HTTPGet.Port, ports); got != probePort {
			t.Errorf("%s probe on port %s (%d), but health probes listen on %s", name, probe.HTTPGet.Port.String(), got, opts.ProbeAddr)
		}
	}
	if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe path %q, want /healthz", c.LivenessProbe.HTTPGet.Path)
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe path %q, want /readyz", c.ReadinessProbe.HTTPGet.Path)
	}

	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	serving := one[*cmv1.Certificate](t, m, "hostpath-provisioner-webhook")
	var certMounted, baseMounted bool
	for _, vm := range c.VolumeMounts {
		v := volumes[vm.Name]
		switch {
		case v.Secret != nil && v.Secret.SecretName == serving.Spec.SecretName:
			certMounted = true
			if vm.SubPath != "" || vm.SubPathExpr != "" {
				t.Errorf("Secret %s is mounted with subPath %q: the kubelet never updates subPath mounts, so renewed certificates would never be seen", v.Secret.SecretName, vm.SubPath+vm.SubPathExpr)
			}
			if vm.MountPath != opts.WebhookCertDir {
				t.Errorf("Secret %s is mounted at %s, but the webhook reads certificates from --webhook-cert-dir=%s", v.Secret.SecretName, vm.MountPath, opts.WebhookCertDir)
			}
			if !vm.ReadOnly {
				t.Errorf("Secret %s is mounted read-write", v.Secret.SecretName)
			}
			if v.Secret.Optional != nil && *v.Secret.Optional {
				t.Errorf("Secret %s is optional: the webhook server cannot start without it", v.Secret.SecretName)
			}
		case v.HostPath != nil:
			baseMounted = true
			if v.HostPath.Path != opts.BasePath || vm.MountPath != opts.BasePath {
				t.Errorf("host path %s is mounted at %s, but the base path is %s: paths in PVs would not match the host", v.HostPath.Path, vm.MountPath, opts.BasePath)
			}
			if vm.ReadOnly {
				t.Error("the base path is mounted read-only")
			}
		}
	}
	if !certMounted {
		t.Errorf("the serving certificate's Secret %s is not mounted", serving.Spec.SecretName)
	}
	checkMetricsServing(t, m, ds, opts, ports)
	if !baseMounted {
		t.Errorf("the base path %s is not mounted from the host", opts.BasePath)
	}

	sa := one[*corev1.ServiceAccount](t, m, pod.ServiceAccountName)
	if sa.Namespace != ds.Namespace {
		t.Errorf("ServiceAccount %s is in %s, the DaemonSet in %s", sa.Name, sa.Namespace, ds.Namespace)
	}
	if opts.LeaderElect {
		found := false
		for _, r := range all[*rbacv1.Role](m) {
			for _, rule := range r.Rules {
				if r.Namespace == opts.Namespace && slices.Contains(rule.Resources, "leases") &&
					slices.Contains(rule.ResourceNames, opts.LeaseName) && slices.Contains(rule.Verbs, "update") {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("no Role in %s lets the provisioner update Lease %s", opts.Namespace, opts.LeaseName)
		}
	}

	// The webhook configurations the readiness check looks at.
	one[*admissionregistrationv1.MutatingWebhookConfiguration](t, m, opts.WebhookConfigs)
	one[*admissionregistrationv1.ValidatingWebhookConfiguration](t, m, opts.WebhookConfigs)

	// The Service reaches the webhook port of these pods.
	svc := one[*corev1.Service](t, m, "hostpath-provisioner-webhook")
	for k, v := range svc.Spec.Selector {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("Service %s selects %s=%s, which the DaemonSet's pods do not carry", svc.Name, k, v)
		}
	}
	if len(svc.Spec.Ports) != 1 || resolvePort(svc.Spec.Ports[0].TargetPort, ports) != int32(opts.WebhookPort) {
		t.Errorf("Service %s ports %+v do not lead to the webhook port %d", svc.Name, svc.Spec.Ports, opts.WebhookPort)
	}
}

// checkMetricsServing: /metrics is served over HTTPS to authorized tokens
// only, with the cert-manager certificate of the metrics Service, and the
// ServiceAccount may ask the API server the two questions that takes.
func checkMetricsServing(t *testing.T, m *manifest, ds *appsv1.DaemonSet, opts *app.Options, ports map[string]int32) {
	t.Helper()
	if !opts.MetricsSecure {
		t.Fatalf("the DaemonSet serves /metrics with --metrics-secure=false: every volume's namespace, claim and PV to anyone reaching the port")
	}
	c := ds.Spec.Template.Spec.Containers[0]
	cert := one[*cmv1.Certificate](t, m, "hostpath-provisioner-metrics")
	svc := one[*corev1.Service](t, m, "hostpath-provisioner-metrics")
	volumes := map[string]corev1.Volume{}
	for _, v := range ds.Spec.Template.Spec.Volumes {
		volumes[v.Name] = v
	}
	mounted := false
	for _, vm := range c.VolumeMounts {
		v := volumes[vm.Name]
		if v.Secret == nil || v.Secret.SecretName != cert.Spec.SecretName {
			continue
		}
		mounted = true
		if vm.MountPath != opts.MetricsCertDir || vm.SubPath != "" || vm.SubPathExpr != "" || !vm.ReadOnly {
			t.Errorf("Secret %s is mounted at %s (subPath %q, readOnly %v); want it read-only, whole, at --metrics-cert-dir=%s",
				v.Secret.SecretName, vm.MountPath, vm.SubPath+vm.SubPathExpr, vm.ReadOnly, opts.MetricsCertDir)
		}
	}
	if !mounted {
		t.Errorf("the metrics certificate's Secret %s is not mounted (--metrics-cert-dir=%q)", cert.Spec.SecretName, opts.MetricsCertDir)
	}
	for k, v := range svc.Spec.Selector {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("Service %s selects %s=%s, which the DaemonSet's pods do not carry", svc.Name, k, v)
		}
	}
	if len(svc.Spec.Ports) != 1 || resolvePort(svc.Spec.Ports[0].TargetPort, ports) != addrPort(t, opts.MetricsAddr) {
		t.Errorf("Service %s ports %+v do not lead to the metrics address %s", svc.Name, svc.Spec.Ports, opts.MetricsAddr)
	}
	for _, dns := range []string{svc.Name + "." + svc.Namespace + ".svc", svc.Name + "." + svc.Namespace + ".svc.cluster.local"} {
		if !slices.Contains(cert.Spec.DNSNames, dns) {
			t.Errorf("Certificate %s: dnsNames %v lack %s", cert.Name, cert.Spec.DNSNames, dns)
		}
	}
	sa := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: ds.Spec.Template.Spec.ServiceAccountName, Namespace: ds.Namespace}
	for _, want := range []struct{ group, resource string }{{"authentication.k8s.io", "tokenreviews"}, {"authorization.k8s.io", "subjectaccessreviews"}} {
		if !clusterGrants(m, sa, want.group, want.resource, "create") {
			t.Errorf("ServiceAccount %s/%s may not create %s.%s: every scrape of /metrics would fail with 500", sa.Namespace, sa.Name, want.resource, want.group)
		}
	}
}

// clusterGrants reports whether a ClusterRoleBinding of the manifest gives
// subject verb on group/resource.
func clusterGrants(m *manifest, subject rbacv1.Subject, group, resource, verb string) bool {
	for _, b := range all[*rbacv1.ClusterRoleBinding](m) {
		if b.RoleRef.Kind != "ClusterRole" || !slices.Contains(b.Subjects, subject) {
			continue
		}
		for _, r := range all[*rbacv1.ClusterRole](m) {
			if r.Name != b.RoleRef.Name {
				continue
			}
			for _, rule := range r.Rules {
				if slices.Contains(rule.APIGroups, group) && slices.Contains(rule.Resources, resource) && slices.Contains(rule.Verbs, verb) {
					return true
				}
			}
		}
	}
	return false
}

func addrPort(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.ParseInt(p, 10, 32)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return int32(n)
}

func resolvePort(p intstr.IntOrString, named map[string]int32) int32 {
	if p.Type == intstr.String {
		return named[p.StrVal]
	}
	return p.IntVal
}

func TestWebhookConfigurations(t *testing.T) {
	m := loadInstall(t)
	svc := one[*corev1.Service](t, m, "hostpath-provisioner-webhook")
	serving := one[*cmv1.Certificate](t, m, "hostpath-provisioner-webhook")
	wantPaths := map[string]bool{webhook.MutatePVCPath: true, webhook.ValidatePVCPath: true, webhook.ValidateStorageClassPath: true}
	seen := map[string]bool{}

	type hook struct {
		config, name      string
		clientConfig      admissionregistrationv1.WebhookClientConfig
		failurePolicy     *admissionregistrationv1.FailurePolicyType
		sideEffects       *admissionregistrationv1.SideEffectClass
		timeout           *int32
		reviewVersions    []string
		namespaceSelector *metav1.LabelSelector
		rules             []admissionregistrationv1.RuleWithOperations
	}
	var hooks []hook
	checkConfig := func(kind string, meta metav1.ObjectMeta) {
		if want := serving.Namespace + "/" + serving.Name; meta.Annotations[injectCAFrom] != want {
			t.Errorf("%s %s: annotation %s=%q, want %q", kind, meta.Name, injectCAFrom, meta.Annotations[injectCAFrom], want)
		}
	}
	mutating := all[*admissionregistrationv1.MutatingWebhookConfiguration](m)
	validating := all[*admissionregistrationv1.ValidatingWebhookConfiguration](m)
	if len(mutating) != 1 || len(validating) != 1 {
		t.Fatalf("want one Mutating- and one ValidatingWebhookConfiguration, got %d and %d", len(mutating), len(validating))
	}
	for _, c := range mutating {
		checkConfig("MutatingWebhookConfiguration", c.ObjectMeta)
		for _, w := range c.Webhooks {
			hooks = append(hooks, hook{"MutatingWebhookConfiguration " + c.Name, w.Name, w.ClientConfig, w.FailurePolicy, w.SideEffects, w.TimeoutSeconds, w.AdmissionReviewVersions, w.NamespaceSelector, w.Rules})
			if w.ClientConfig.Service != nil && w.ClientConfig.Service.Path != nil && *w.ClientConfig.Service.Path != webhook.MutatePVCPath {
				t.Errorf("mutating webhook %s calls %s; only %s mutates", w.Name, *w.ClientConfig.Service.Path, webhook.MutatePVCPath)
			}
			if w.ReinvocationPolicy == nil || *w.ReinvocationPolicy != admissionregistrationv1.NeverReinvocationPolicy {
				t.Errorf("mutating webhook %s: reinvocationPolicy %q, want Never", w.Name, ptrOr(w.ReinvocationPolicy, ""))
			}
		}
	}
	for _, c := range validating {
		checkConfig("ValidatingWebhookConfiguration", c.ObjectMeta)
		for _, w := range c.Webhooks {
			hooks = append(hooks, hook{"ValidatingWebhookConfiguration " + c.Name, w.Name, w.ClientConfig, w.FailurePolicy, w.SideEffects, w.TimeoutSeconds, w.AdmissionReviewVersions, w.NamespaceSelector, w.Rules})
		}
	}

	for _, h := range hooks {
		where := h.config + " webhook " + h.name
		if h.failurePolicy == nil || *h.failurePolicy != admissionregistrationv1.Ignore {
			t.Errorf("%s: failurePolicy %q, want Ignore (admission fails open; provisioning re-checks)", where, ptrOr(h.failurePolicy, ""))
		}
		if h.sideEffects == nil || *h.sideEffects != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("%s: sideEffects %q, want None", where, ptrOr(h.sideEffects, ""))
		}
		if h.timeout == nil || *h.timeout < 1 || *h.timeout > 10 {
			t.Errorf("%s: timeoutSeconds %d, want an explicit value from 1 to 10", where, ptrOr(h.timeout, 0))
		}
		if !slices.Equal(h.reviewVersions, []string{"v1"}) {
			t.Errorf("%s: admissionReviewVersions %v, want [v1]", where, h.reviewVersions)
		}
		for _, ns := range []string{"kube-system", namespace} {
			if !excludes(h.namespaceSelector, ns) {
				t.Errorf("%s: namespaceSelector %v does not exclude namespace %s", where, h.namespaceSelector, ns)
			}
		}
		cc := h.clientConfig
		if cc.URL != nil || cc.Service == nil {
			t.Errorf("%s: must call the Service, not a URL", where)
			continue
		}
		if len(cc.CABundle) != 0 {
			t.Errorf("%s: caBundle is set in the manifest; cert-manager injects it", where)
		}
		if cc.Service.Name != svc.Name || cc.Service.Namespace != svc.Namespace {
			t.Errorf("%s: calls Service %s/%s, want %s/%s", where, cc.Service.Namespace, cc.Service.Name, svc.Namespace, svc.Name)
		}
		if port := ptrOr(cc.Service.Port, 443); len(svc.Spec.Ports) == 0 || svc.Spec.Ports[0].Port != port {
			t.Errorf("%s: calls port %d, which Service %s does not expose", where, port, svc.Name)
		}
		path := ptrOr(cc.Service.Path, "")
		if !wantPaths[path] {
			t.Errorf("%s: path %q is not served; served are %v", where, path, keys(boolKeys(wantPaths)))
		}
		seen[path] = true
		for _, r := range h.rules {
			for _, op := range r.Operations {
				if op != admissionregistrationv1.Create && op != admissionregistrationv1.Update {
					t.Errorf("%s: intercepts %s; only CREATE and UPDATE are in scope", where, op)
				}
			}
			for _, list := range [][]string{r.APIGroups, r.APIVersions, r.Resources} {
				if slices.Contains(list, "*") {
					t.Errorf("%s: rule %+v uses a wildcard", where, r.Rule)
				}
			}
		}
	}
	for p := range wantPaths {
		if !seen[p] {
			t.Errorf("no webhook calls %s", p)
		}
	}

	// The serving certificate names the Service.
	for _, dns := range []string{svc.Name + "." + svc.Namespace + ".svc", svc.Name + "." + svc.Namespace + ".svc.cluster.local"} {
		if !slices.Contains(serving.Spec.DNSNames, dns) {
			t.Errorf("Certificate %s: dnsNames %v lack %s", serving.Name, serving.Spec.DNSNames, dns)
		}
	}
}

func boolKeys(m map[string]bool) map[string]string {
	out := map[string]string{}
	for k := range m {
		out[k] = ""
	}
	return out
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// excludes reports whether sel keeps the webhook away from namespace ns
// through a kubernetes.io/metadata.name NotIn expression.
func excludes(sel *metav1.LabelSelector, ns string) bool {
	if sel == nil {
		return false
	}
	for _, e := range sel.MatchExpressions {
		if e.Key == corev1.LabelMetadataName && e.Operator == metav1.LabelSelectorOpNotIn && slices.Contains(e.Values, ns) {
			return true
		}
	}
	return false
}

func TestCertificateChain(t *testing.T) {
	m := loadInstall(t)
	serving := one[*cmv1.Certificate](t, m, "hostpath-provisioner-webhook")
	if serving.Spec.IsCA {
		t.Errorf("serving Certificate %s is a CA", serving.Name)
	}
	if serving.Spec.IssuerRef.Kind != cmv1.IssuerKind {
		t.Fatalf("serving Certificate is issued by a %s; a namespaced Issuer keeps the CA private to this installation", serving.Spec.IssuerRef.Kind)
	}
	caIssuer := one[*cmv1.Issuer](t, m, serving.Spec.IssuerRef.Name)
	if caIssuer.Spec.CA == nil {
		t.Fatalf("Issuer %s is not a CA issuer", caIssuer.Name)
	}
	var ca *cmv1.Certificate
	for _, c := range all[*cmv1.Certificate](m) {
		if c.Spec.SecretName == caIssuer.Spec.CA.SecretName {
			ca = c
		}
	}
	if ca == nil {
		t.Fatalf("no Certificate writes the CA Secret %s of Issuer %s", caIssuer.Spec.CA.SecretName, caIssuer.Name)
	}
	if !ca.Spec.IsCA {
		t.Errorf("Certificate %s signs the serving certificate but is not isCA", ca.Name)
	}
	root := one[*cmv1.Issuer](t, m, ca.Spec.IssuerRef.Name)
	if root.Spec.SelfSigned == nil {
		t.Errorf("Issuer %s of the CA is not self-signed", root.Name)
	}
	metrics := one[*cmv1.Certificate](t, m, "hostpath-provisioner-metrics")
	if metrics.Spec.IsCA || metrics.Spec.IssuerRef.Kind != cmv1.IssuerKind || metrics.Spec.IssuerRef.Name != caIssuer.Name {
		t.Errorf("metrics Certificate %s: isCA %v, issuer %s/%s; want a leaf of Issuer %s", metrics.Name, metrics.Spec.IsCA,
			metrics.Spec.IssuerRef.Kind, metrics.Spec.IssuerRef.Name, caIssuer.Name)
	}
	for _, c := range []*cmv1.Certificate{ca, serving, metrics} {
		if c.Spec.PrivateKey == nil || c.Spec.PrivateKey.Algorithm != cmv1.ECDSAKeyAlgorithm || c.Spec.PrivateKey.Size != 256 {
			t.Errorf("Certificate %s: private key %+v, want ECDSA P-256", c.Name, c.Spec.PrivateKey)
		}
	}
	if serving.Spec.Duration == nil || serving.Spec.RenewBefore == nil || serving.Spec.RenewBefore.Duration >= serving.Spec.Duration.Duration {
		t.Errorf("serving Certificate: duration %v, renewBefore %v", serving.Spec.Duration, serving.Spec.RenewBefore)
	}
}

func TestStorageClass(t *testing.T) {
	m := loadInstall(t)
	classes := all[*storagev1.StorageClass](m)
	if len(classes) != 1 {
		t.Fatalf("want one StorageClass, got %d", len(classes))
	}
	sc := one[*storagev1.StorageClass](t, m, policy.DefaultClassName)
	if sc.Provisioner != policy.ProvisionerName {
		t.Errorf("StorageClass %s: provisioner %q, want %q", sc.Name, sc.Provisioner, policy.ProvisionerName)
	}
	if policy.IsDefaultClass(sc) {
		t.Errorf("StorageClass %s is marked as the cluster default; the webhook assigns it instead", sc.Name)
	}
	if sc.VolumeBindingMode == nil || *sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
		t.Errorf("StorageClass %s: volumeBindingMode %v, want WaitForFirstConsumer", sc.Name, sc.VolumeBindingMode)
	}
	if _, errs := policy.ValidateStorageClass(sc, nil); len(errs) > 0 {
		t.Errorf("StorageClass %s is rejected by our own validation: %v", sc.Name, errs.ToAggregate())
	}
}

func TestSamples(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "config", "samples")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var classes, claims, pods int
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		for _, o := range decode(t, f) {
			switch o := o.(type) {
			case *storagev1.StorageClass:
				classes++
				if !policy.IsOurProvisioner(o.Provisioner, policy.ProvisionerName) {
					t.Errorf("%s: StorageClass %s has provisioner %q", f, o.Name, o.Provisioner)
				}
				if _, errs := policy.ValidateStorageClass(o, nil); len(errs) > 0 {
					t.Errorf("%s: StorageClass %s is rejected by our own validation: %v", f, o.Name, errs.ToAggregate())
				}
			case *corev1.PersistentVolumeClaim:
				claims++
				if o.Name == "hostpath-test-claim" && (o.Spec.StorageClassName != nil || o.Annotations[policy.AnnBetaStorageClass] != "") {
					t.Errorf("%s: the quick-start claim must leave storageClassName unset, so the webhook assigns the class", f)
				}
			case *corev1.Pod:
				pods++
				if o.Spec.RestartPolicy != corev1.RestartPolicyNever {
					t.Errorf("%s: pod %s restartPolicy %q, want Never (it writes one file and exits)", f, o.Name, o.Spec.RestartPolicy)
				}
			}
		}
	}
	if classes < 3 || claims < 1 || pods < 1 {
		t.Errorf("config/samples holds %d StorageClasses, %d claims and %d pods; want the example classes and the quick start", classes, claims, pods)
	}
}

// The two-disk overlay (config/samples/two-disks, README "Two disks")
// renders a configuration the binary accepts, mounts every directory it
// names at the same path, and its class names a configured base path.
func TestTwoDisksOverlay(t *testing.T) {
	root := repoRoot(t)
	kustomize := filepath.Join(root, "bin", "tools", "kustomize")
	if _, err := os.Stat(kustomize); err != nil {
		t.Skipf("cannot render the overlay without the pinned kustomize: run `make tools`: %v", err)
	}
	out, err := exec.Command(kustomize, "build", filepath.Join(root, "config", "samples", "two-disks")).Output()
	if err != nil {
		t.Fatalf("kustomize build config/samples/two-disks: %v", err)
	}
	m := &manifest{objs: decodeBytes(t, "config/samples/two-disks", out)}
	var cm *corev1.ConfigMap
	for _, c := range all[*corev1.ConfigMap](m) {
		if strings.HasPrefix(c.Name, "hostpath-provisioner-base-paths-") {
			cm = c
		}
	}
	if cm == nil {
		t.Fatal("no ConfigMap hostpath-provisioner-base-paths-*")
	}
	cfg, err := basepath.Load("", policy.DefaultBasePath, true)
	if err != nil {
		t.Fatal(err)
	}
	named, err := basepath.Parse([]byte(cm.Data["base-paths.yaml"]))
	if err != nil {
		t.Fatalf("the binary refuses the overlay's configuration: %v", err)
	}
	cfg.BasePaths = append(cfg.BasePaths, named.BasePaths...)
	ds := one[*appsv1.DaemonSet](t, m, "hostpath-provisioner")
	pod := ds.Spec.Template.Spec
	if !slices.Contains(pod.Containers[0].Args, "--base-path-config=/etc/hostpath-provisioner/base-paths.yaml") {
		t.Errorf("args %v lack --base-path-config", pod.Containers[0].Args)
	}
	hostPaths, configMaps := map[string]string{}, map[string]string{}
	for _, v := range pod.Volumes {
		switch {
		case v.HostPath != nil:
			hostPaths[v.Name] = v.HostPath.Path
		case v.ConfigMap != nil:
			configMaps[v.Name] = v.ConfigMap.Name
		}
	}
	mounted := map[string]bool{}
	for _, vm := range pod.Containers[0].VolumeMounts {
		if hostPaths[vm.Name] == vm.MountPath {
			mounted[vm.MountPath] = true
		}
		if configMaps[vm.Name] == cm.Name && vm.MountPath != "/etc/hostpath-provisioner" {
			t.Errorf("the configuration is mounted at %s, not /etc/hostpath-provisioner", vm.MountPath)
		}
	}
	for _, node := range []string{"node-a", "node-b"} {
		rs, err := cfg.ForNode(node)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Dir != "" && !mounted[r.Dir] {
				t.Errorf("base path %q is %s on %s, which the DaemonSet does not mount at that path", r.Name, r.Dir, node)
			}
		}
	}
	for _, sc := range all[*storagev1.StorageClass](m) {
		if _, errs := policy.ValidateStorageClass(sc, cfg.Names()); len(errs) > 0 {
			t.Errorf("StorageClass %s: %v", sc.Name, errs.ToAggregate())
		}
	}
}
