package manifests_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/mazdermind/hostpath-provisioner/pkg/basepath"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

const (
	chartDir = "charts/hostpath-provisioner"
	// release is the release name that the README's commands use; object
	// names do not depend on it.
	release = "hostpath-provisioner"
)

// helmBinary is the pinned helm that `make tools` builds (HELM overrides
// it). make verify-manifests builds it first, so these tests skip only when
// run by hand on a fresh clone.
func helmBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("HELM")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), "bin", "tools", "helm")
	}
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		t.Skipf("helm is not built at %s: run `make tools` (`make verify-manifests` builds it first) or set HELM", bin)
	}
	return bin
}

// runHelm runs helm in the repository root and returns stdout and stderr.
func runHelm(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Dir = repoRoot(t)
	// No user configuration, cache or repositories leak into the render.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home, "HELM_CACHE_HOME="+home, "HELM_DATA_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// renderChart is `helm template` of the chart as release hostpath-provisioner
// in the manifest's namespace, with extra helm arguments (--set, -f).
func renderChart(t *testing.T, args ...string) *manifest {
	t.Helper()
	full := append([]string{"template", release, chartDir, "--namespace", namespace}, args...)
	out, stderr, err := runHelm(t, full...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(full, " "), err, stderr)
	}
	return &manifest{objs: decodeBytes(t, "helm template "+strings.Join(args, " "), []byte(out))}
}

// writeValues writes a values file for -f, in a directory of its own and
// not t.TempDir(): helm splits -f at commas, which subtest names may hold.
func writeValues(t *testing.T, yaml string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hpp-chart-values-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// objectKey names an object the way kubectl would find it.
func objectKey(t *testing.T, o runtime.Object) string {
	t.Helper()
	acc, err := metaAccessor(o)
	if err != nil {
		t.Fatal(err)
	}
	gvk := o.GetObjectKind().GroupVersionKind()
	key := gvk.GroupVersion().String() + " " + gvk.Kind + " "
	if acc.GetNamespace() != "" {
		key += acc.GetNamespace() + "/"
	}
	return key + acc.GetName()
}

// flatten turns an object into leaf paths and their JSON values, so that
// two objects are compared field by field and a difference names its path.
func flatten(prefix string, v any, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 {
			out[prefix] = "{}"
		}
		for k, e := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, e, out)
		}
	case []any:
		if len(v) == 0 {
			out[prefix] = "[]"
		}
		for i, e := range v {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), e, out)
		}
	default:
		b, _ := json.Marshal(v)
		out[prefix] = string(b)
	}
}

func fields(t *testing.T, o runtime.Object) map[string]string {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	flatten("", u, out)
	return out
}

// objectDiff lists, per object, every field that differs between the two
// sets of objects, and the objects that only one of them holds.
func objectDiff(t *testing.T, wantName string, want []runtime.Object, gotName string, got []runtime.Object) []string {
	t.Helper()
	index := func(objs []runtime.Object) map[string]runtime.Object {
		m := map[string]runtime.Object{}
		for _, o := range objs {
			k := objectKey(t, o)
			if _, dup := m[k]; dup {
				t.Errorf("%s is rendered twice", k)
			}
			m[k] = o
		}
		return m
	}
	w, g := index(want), index(got)
	var diffs []string
	for k, wo := range w {
		gobj, ok := g[k]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s: in %s, not in %s", k, wantName, gotName))
			continue
		}
		wf, gf := fields(t, wo), fields(t, gobj)
		var lines []string
		for p, wv := range wf {
			if gv, ok := gf[p]; !ok {
				lines = append(lines, fmt.Sprintf("    %s: %s %s, %s has no such field", p, wantName, wv, gotName))
			} else if gv != wv {
				lines = append(lines, fmt.Sprintf("    %s: %s %s, %s %s", p, wantName, wv, gotName, gv))
			}
		}
		for p, gv := range gf {
			if _, ok := wf[p]; !ok {
				lines = append(lines, fmt.Sprintf("    %s: %s %s, %s has no such field", p, gotName, gv, wantName))
			}
		}
		if len(lines) > 0 {
			sort.Strings(lines)
			diffs = append(diffs, k+":\n"+strings.Join(lines, "\n"))
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: in %s, not in %s", k, gotName, wantName))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// With default values the chart renders the objects of dist/install.yaml,
// field for field. The chart adds no Helm bookkeeping labels of its own
// (helm.sh/chart, app.kubernetes.io/managed-by, app.kubernetes.io/instance);
// Helm stamps app.kubernetes.io/managed-by and the meta.helm.sh/release-*
// annotations on the objects when it installs them, which a render does not
// show, so nothing is stripped before comparing.
func TestChartRendersTheInstallManifest(t *testing.T) {
	chart := renderChart(t)
	dist := loadInstall(t)
	if diffs := objectDiff(t, installPath, dist.objs, chartDir, chart.objs); len(diffs) > 0 {
		t.Fatalf("the chart with default values and %s have drifted apart; change both (config/ and %s/templates; the image tag is the chart's appVersion), then `make manifests`:\n%s",
			installPath, chartDir, strings.Join(diffs, "\n"))
	}
	t.Logf("the chart renders the %d objects of %s", len(chart.objs), installPath)
}

// The release namespace, not a fixed one, is where the namespaced objects
// go and what the webhooks exclude and the certificates name.
func TestChartFollowsTheReleaseNamespace(t *testing.T) {
	const other = "storage-system"
	out, stderr, err := runHelm(t, "template", release, chartDir, "--namespace", other)
	if err != nil {
		t.Fatalf("helm template --namespace %s: %v\n%s", other, err, stderr)
	}
	if strings.Contains(out, namespace+".svc") || strings.Contains(out, "namespace: "+namespace) {
		t.Errorf("rendered into namespace %s, the output still names namespace %s", other, namespace)
	}
	m := &manifest{objs: decodeBytes(t, "helm template --namespace "+other, []byte(out))}
	for _, o := range m.objs {
		acc, _ := metaAccessor(o)
		if isNamespaced(o) && acc.GetNamespace() != other {
			t.Errorf("%s is in namespace %q, want the release namespace %q", objectKey(t, o), acc.GetNamespace(), other)
		}
	}
	if ds := one[*appsv1.DaemonSet](t, m, "hostpath-provisioner"); daemonSetOptions(t, ds).Namespace != other {
		t.Errorf("the provisioner would run with namespace %q, want %q", daemonSetOptions(t, ds).Namespace, other)
	}
}

func TestChartLints(t *testing.T) {
	for _, args := range [][]string{{"lint", chartDir}, {"lint", "--strict", chartDir}} {
		out, stderr, err := runHelm(t, args...)
		if err != nil || strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ERROR]") {
			t.Errorf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
	}
	// Lint checks values against the schema too.
	out, stderr, err := runHelm(t, "lint", "--strict", chartDir, "--set", "storageClass.reclaimPolicy=Foo")
	if err == nil || !strings.Contains(out+stderr, "/storageClass/reclaimPolicy") {
		t.Errorf("helm lint --strict with storageClass.reclaimPolicy=Foo: %v, and no message naming the field:\n%s%s", err, out, stderr)
	}
}

// values.schema.json refuses bad values before anything is rendered, naming
// the field; the allowed values are those of DESIGN.md and the binary.
func TestChartSchemaRefusesBadValues(t *testing.T) {
	cases := []struct {
		name   string
		values string
		want   []string // all in helm's message
	}{
		{"a reclaim policy Kubernetes does not have", "storageClass: {reclaimPolicy: Foo}",
			[]string{"/storageClass/reclaimPolicy", "'Delete', 'Retain'"}},
		{"a relative base path", "basePath: var/kubernetes",
			[]string{"/basePath", "var/kubernetes"}},
		{"a base path with ..", "basePath: /var/../etc",
			[]string{"/basePath", "/var/../etc"}},
		{"the root as base path", "basePath: /",
			[]string{"/basePath"}},
		{"a pull policy Kubernetes does not have", "image: {pullPolicy: Sometimes}",
			[]string{"/image/pullPolicy", "'Always', 'IfNotPresent', 'Never'"}},
		{"an onDelete the provisioner does not know", "storageClass: {onDelete: bogus}",
			[]string{"/storageClass/onDelete", "'delete', 'retain', 'archive'"}},
		{"a binding mode Kubernetes does not have", "storageClass: {volumeBindingMode: Later}",
			[]string{"/storageClass/volumeBindingMode", "'WaitForFirstConsumer', 'Immediate'"}},
		{"an absolute path pattern", "storageClass: {pathPattern: '/{{ .PVName }}'}",
			[]string{"/storageClass/pathPattern"}},
		{"an unknown class parameter", "storageClass: {parameters: {pathpattern: x}}",
			[]string{"/storageClass/parameters", "pathpattern"}},
		{"a quota mode the provisioner does not know", "storageClass: {parameters: {quota: sometimes}}",
			[]string{"/storageClass/parameters/quota", "'auto', 'required', 'off'"}},
		{"a volume type the provisioner does not know", "storageClass: {parameters: {volumeType: nfs}}",
			[]string{"/storageClass/parameters/volumeType", "'hostPath', 'local'"}},
		{"an unquoted octal mode, which YAML reads as a number", "storageClass: {parameters: {mode: 0770}}",
			[]string{"/storageClass/parameters/mode", "want string"}},
		{"a mode that is not octal", "storageClass: {parameters: {mode: '0789'}}",
			[]string{"/storageClass/parameters/mode", "0789"}},
		{"a size that is not a quantity", "storageClass: {parameters: {maxSize: ten gigs}}",
			[]string{"/storageClass/parameters/maxSize"}},
		{"a class name that is not a DNS name", "storageClass: {name: Fast_Disks}",
			[]string{"/storageClass/name", "Fast_Disks"}},
		{"an extra class without a name", "extraStorageClasses: [{reclaimPolicy: Retain}]",
			[]string{"/extraStorageClasses/0", "name"}},
		{"an extra class with a bad reclaim policy", "extraStorageClasses: [{name: keep, reclaimPolicy: Keep}]",
			[]string{"/extraStorageClasses/0/reclaimPolicy"}},
		{"an issuer kind cert-manager does not have", "certManager: {issuerRef: {name: ca, kind: Foo}}",
			[]string{"/certManager/issuerRef/kind", "'Issuer', 'ClusterIssuer'"}},
		{"a misspelt top-level value", "storageclass: {name: x}",
			[]string{"storageclass"}},
		{"quota.enforce that is not a boolean", "quota: {enforce: sometimes}",
			[]string{"/quota/enforce"}},
		{"an extra argument that is not a flag", "extraArgs: [workers=4]",
			[]string{"/extraArgs/0"}},
		{"a base path named default, which is basePath", "basePaths: [{name: default, path: /mnt/x}]",
			[]string{"/basePaths/0/name"}},
		{"a base path without a directory", "basePaths: [{name: bulk}]",
			[]string{"/basePaths/0"}},
		{"a relative per-node directory", "basePaths: [{name: bulk, nodes: {n1: mnt/bulk}}]",
			[]string{"/basePaths/0/nodes/n1"}},
		{"a misspelt base path field", "basePaths: [{name: bulk, path: /mnt/bulk, mustBeMountPoint: true}]",
			[]string{"/basePaths/0", "mustBeMountPoint"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runHelm(t, "template", release, chartDir, "--namespace", namespace, "-f", writeValues(t, tc.values))
			if err == nil {
				t.Fatalf("helm template accepted %q", tc.values)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("helm template with %q failed, but its message does not name %q:\n%s", tc.values, w, stderr)
				}
			}
		})
	}
}

// Every value that changes the rendering lands where the binary and
// Kubernetes read it, and the classes it makes pass our own validation,
// each against the others.
func TestChartValues(t *testing.T) {
	values := writeValues(t, `
image: {repository: registry.example/hpp, tag: v9.9.9, pullPolicy: Always}
imagePullSecrets: [{name: regcred}]
basePath: /data/volumes
storageClass:
  name: local-dirs
  defaultClass: true
  reclaimPolicy: Retain
  volumeBindingMode: Immediate
  allowVolumeExpansion: true
  onDelete: archive
  pathPattern: "{{ .PVC.Namespace }}/{{ .PVC.Name }}"
  parameters: {mode: "2770", gid: 1000, maxSize: 10Gi, quota: auto}
  annotations: {example.com/tier: fast}
extraStorageClasses:
  - name: hostpath-retain
    reclaimPolicy: Retain
    onDelete: retain
    pathPattern: "keep/{{ .PVC.Namespace }}-{{ .PVC.Name }}-{{ .PVName }}"
  - name: hostpath-local
    parameters: {volumeType: local, uid: "1000"}
quota: {enforce: true}
certManager: {issuerRef: {name: corp-ca, kind: ClusterIssuer}}
nodeSelector: {storage: "true"}
tolerations: [{key: dedicated, operator: Equal, value: storage, effect: NoSchedule}]
resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {memory: 512Mi}}
priorityClassName: storage-critical
podAnnotations: {example.com/scrape: "true"}
extraArgs: [--workers=4]
commonLabels: {team: storage}
`)
	m := renderChart(t, "-f", values)

	classes := map[string]*storagev1.StorageClass{}
	var list []storagev1.StorageClass
	for _, sc := range all[*storagev1.StorageClass](m) {
		classes[sc.Name] = sc
		list = append(list, *sc)
	}
	if len(classes) != 3 {
		t.Fatalf("rendered classes %v, want local-dirs, hostpath-retain and hostpath-local", keysOf(classes))
	}
	for _, sc := range list {
		others := slices.DeleteFunc(slices.Clone(list), func(o storagev1.StorageClass) bool { return o.Name == sc.Name })
		if _, errs := policy.ValidateStorageClass(&sc, nil, others...); len(errs) > 0 {
			t.Errorf("StorageClass %s is refused by our own validation: %v", sc.Name, errs.ToAggregate())
		}
		if sc.Provisioner != policy.ProvisionerName || sc.Labels["team"] != "storage" {
			t.Errorf("StorageClass %s: provisioner %q, labels %v", sc.Name, sc.Provisioner, sc.Labels)
		}
	}
	main := classes["local-dirs"]
	if main == nil {
		t.Fatalf("no StorageClass local-dirs")
	}
	if !policy.IsDefaultClass(main) || main.Annotations["example.com/tier"] != "fast" {
		t.Errorf("local-dirs annotations %v: want it marked default and the extra annotation", main.Annotations)
	}
	if *main.ReclaimPolicy != corev1.PersistentVolumeReclaimRetain || *main.VolumeBindingMode != storagev1.VolumeBindingImmediate || !*main.AllowVolumeExpansion {
		t.Errorf("local-dirs: reclaimPolicy %v, volumeBindingMode %v, allowVolumeExpansion %v", *main.ReclaimPolicy, *main.VolumeBindingMode, *main.AllowVolumeExpansion)
	}
	wantParams := map[string]string{"onDelete": "archive", "pathPattern": "{{ .PVC.Namespace }}/{{ .PVC.Name }}", "mode": "2770", "gid": "1000", "maxSize": "10Gi", "quota": "auto"}
	if fmt.Sprint(main.Parameters) != fmt.Sprint(wantParams) {
		t.Errorf("local-dirs parameters %v, want %v", main.Parameters, wantParams)
	}
	if l := classes["hostpath-local"]; l == nil || *l.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		*l.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer || l.Parameters["volumeType"] != "local" || l.Parameters["uid"] != "1000" || policy.IsDefaultClass(l) {
		t.Errorf("hostpath-local, an extra class with only parameters, should take the defaults: %+v", l)
	}

	ds := one[*appsv1.DaemonSet](t, m, "hostpath-provisioner")
	opts := daemonSetOptions(t, ds)
	if opts.BasePath != "/data/volumes" || opts.DefaultClass != "local-dirs" || opts.Workers != 4 {
		t.Errorf("the binary would run with base path %q, default class %q, workers %d; want /data/volumes, local-dirs, 4", opts.BasePath, opts.DefaultClass, opts.Workers)
	}
	pod := ds.Spec.Template.Spec
	c := pod.Containers[0]
	for _, v := range pod.Volumes {
		if v.Name == "base-path" && (v.HostPath == nil || v.HostPath.Path != "/data/volumes") {
			t.Errorf("volume base-path %+v, want hostPath /data/volumes", v.VolumeSource)
		}
	}
	for _, vm := range c.VolumeMounts {
		if vm.Name == "base-path" && vm.MountPath != "/data/volumes" {
			t.Errorf("base path mounted at %s, want /data/volumes (the same path as on the host)", vm.MountPath)
		}
	}
	if c.Image != "registry.example/hpp:v9.9.9" || c.ImagePullPolicy != corev1.PullAlways || len(pod.ImagePullSecrets) != 1 {
		t.Errorf("image %s, pull policy %s, pull secrets %v", c.Image, c.ImagePullPolicy, pod.ImagePullSecrets)
	}
	if !slices.Contains(c.SecurityContext.Capabilities.Add, "SYS_ADMIN") {
		t.Errorf("quota.enforce: capabilities %v lack SYS_ADMIN", c.SecurityContext.Capabilities.Add)
	}
	if pod.PriorityClassName != "storage-critical" || pod.NodeSelector["storage"] != "true" || len(pod.Tolerations) != 1 || pod.Tolerations[0].Key != "dedicated" {
		t.Errorf("priorityClassName %q, nodeSelector %v, tolerations %v", pod.PriorityClassName, pod.NodeSelector, pod.Tolerations)
	}
	if c.Resources.Limits.Memory().String() != "512Mi" || ds.Spec.Template.Annotations["example.com/scrape"] != "true" {
		t.Errorf("resources %v, pod annotations %v", c.Resources, ds.Spec.Template.Annotations)
	}

	// An existing issuer replaces the chart's own chain.
	if issuers := all[*cmv1.Issuer](m); len(issuers) != 0 {
		t.Errorf("with certManager.issuerRef set the chart still makes %d Issuers", len(issuers))
	}
	for _, cert := range all[*cmv1.Certificate](m) {
		if cert.Spec.IsCA || cert.Spec.IssuerRef.Name != "corp-ca" || cert.Spec.IssuerRef.Kind != cmv1.ClusterIssuerKind || cert.Spec.IssuerRef.Group != "cert-manager.io" {
			t.Errorf("Certificate %s: isCA %v, issuerRef %+v; want a leaf of ClusterIssuer corp-ca", cert.Name, cert.Spec.IsCA, cert.Spec.IssuerRef)
		}
	}
}

// storageClass.create=false leaves the class to the admin; the webhook
// still gives class-less claims storageClass.name.
func TestChartWithoutItsStorageClass(t *testing.T) {
	m := renderChart(t, "--set", "storageClass.create=false", "--set", "storageClass.name=existing")
	if classes := all[*storagev1.StorageClass](m); len(classes) != 0 {
		t.Errorf("storageClass.create=false still renders %d classes", len(classes))
	}
	if got := daemonSetOptions(t, one[*appsv1.DaemonSet](t, m, "hostpath-provisioner")).DefaultClass; got != "existing" {
		t.Errorf("default class %q, want existing", got)
	}
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// basePaths become a ConfigMap the binary accepts, read with
// --base-path-config, and every directory they name is mounted at the same
// path with HostToContainer propagation (a disk mounted later is seen).
func TestChartBasePaths(t *testing.T) {
	m := renderChart(t, "-f", writeValues(t, `
basePaths:
  - name: bulk
    path: /mnt/bulk
    nodes: {node-b: /data/bulk, node-c: ""}
    mustBeMountpoint: true
  - name: fast
    path: /mnt/nvme
extraStorageClasses:
  - name: bulk
    parameters: {basePath: bulk}
`))
	cm := one[*corev1.ConfigMap](t, m, "hostpath-provisioner-base-paths")
	cfg, err := basepath.Parse([]byte(cm.Data["base-paths.yaml"]))
	if err != nil {
		t.Fatalf("the binary refuses the rendered configuration: %v\n%s", err, cm.Data["base-paths.yaml"])
	}
	if got := strings.Join(cfg.Names(), ","); got != "bulk,fast" || !cfg.BasePaths[0].MustBeMountpoint || cfg.BasePaths[0].DirFor("node-b") != "/data/bulk" || cfg.BasePaths[0].DirFor("node-c") != "" {
		t.Errorf("rendered configuration %+v", cfg)
	}
	names := append([]string{policy.DefaultBasePathName}, cfg.Names()...)
	if sc := one[*storagev1.StorageClass](t, m, "bulk"); sc.Parameters[policy.ParamBasePath] != "bulk" {
		t.Errorf("class bulk parameters %v", sc.Parameters)
	} else if _, errs := policy.ValidateStorageClass(sc, names); len(errs) > 0 {
		t.Errorf("class bulk: %v", errs.ToAggregate())
	}
	ds := one[*appsv1.DaemonSet](t, m, "hostpath-provisioner")
	pod := ds.Spec.Template.Spec
	if !slices.Contains(pod.Containers[0].Args, "--base-path-config=/etc/hostpath-provisioner/base-paths.yaml") {
		t.Errorf("args %v lack --base-path-config", pod.Containers[0].Args)
	}
	hostPaths := map[string]string{}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
		if v.ConfigMap != nil && v.ConfigMap.Name != cm.Name {
			t.Errorf("volume %s mounts ConfigMap %s, want %s", v.Name, v.ConfigMap.Name, cm.Name)
		}
	}
	mounted := map[string]bool{}
	for _, vm := range pod.Containers[0].VolumeMounts {
		if hp, ok := hostPaths[vm.Name]; ok && hp == vm.MountPath {
			mounted[hp] = vm.Name == "base-path" || (vm.MountPropagation != nil && *vm.MountPropagation == corev1.MountPropagationHostToContainer)
		}
	}
	for _, dir := range []string{"/var/kubernetes", "/mnt/bulk", "/data/bulk", "/mnt/nvme"} {
		if !mounted[dir] {
			t.Errorf("%s is not mounted at the same path (with HostToContainer for a named base path): mounts %v, volumes %v", dir, pod.Containers[0].VolumeMounts, hostPaths)
		}
	}
	if ds.Spec.Template.Annotations["checksum/base-paths"] == "" {
		t.Error("a changed configuration would not roll the pods: no checksum/base-paths annotation")
	}
}
