package e2e

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// warningCollector records the admission warnings the API server relays.
type warningCollector struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningCollector) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	w.msgs = append(w.msgs, msg)
	w.mu.Unlock()
}

func (w *warningCollector) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

// webhookEnv is our process serving admission on loopback, with its serving
// certificate issued by the real cert-manager and the CA injected into
// webhook configurations by the real cainjector: the production TLS wiring,
// reached by URL instead of through a Service.
type webhookEnv struct {
	ns, certDir, cfgName string
	proc                 *framework.Provisioner
	base                 string
	warnings             *warningCollector
	cs                   kubernetes.Interface
	port                 string
}

func newWebhookEnv(t *testing.T, targets ...string) *webhookEnv {
	t.Helper()
	ns := framework.NewNamespace(t)
	e := &webhookEnv{ns: ns, cfgName: "hpp-e2e-" + ns, certDir: t.TempDir(), base: baseDir(t), warnings: &warningCollector{}}
	cfg := framework.RESTConfig()
	cfg.WarningHandler = e.warnings
	e.cs = kubernetes.NewForConfigOrDie(cfg)

	issueServingCert(t, ns)
	stopSync := syncSecretToDir(t, ns, "serving", e.certDir)
	t.Cleanup(stopSync)

	addr := freeAddr(t)
	_, e.port, _ = strings.Cut(addr, ":")
	e.createConfigs(t, append(targets, ns))
	e.proc = startProvisioner(t, e.base, "--enable-webhook=true", "--webhook-host=127.0.0.1", "--webhook-port="+e.port,
		"--webhook-cert-dir="+e.certDir, "--webhook-configurations="+e.cfgName, "--namespace=hpp-e2e-installation", "--default-class=hostpath")
	return e
}

func issueServingCert(t *testing.T, ns string) {
	t.Helper()
	for _, o := range []client.Object{
		&cmv1.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "selfsigned"},
			Spec: cmv1.IssuerSpec{IssuerConfig: cmv1.IssuerConfig{SelfSigned: &cmv1.SelfSignedIssuer{}}}},
		&cmv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ca"},
			Spec: cmv1.CertificateSpec{IsCA: true, CommonName: "hpp-e2e-ca", SecretName: "ca",
				IssuerRef: cmmeta.IssuerReference{Kind: "Issuer", Name: "selfsigned"}}},
		&cmv1.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ca"},
			Spec: cmv1.IssuerSpec{IssuerConfig: cmv1.IssuerConfig{CA: &cmv1.CAIssuer{SecretName: "ca"}}}},
		&cmv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "serving"},
			Spec: cmv1.CertificateSpec{SecretName: "serving", IPAddresses: []string{"127.0.0.1"},
				DNSNames: []string{"hostpath-provisioner-webhook." + ns + ".svc"}, IssuerRef: cmmeta.IssuerReference{Kind: "Issuer", Name: "ca"}}},
	} {
		create(t, o)
	}
	framework.WaitFor(t, time.Minute, func() (bool, error) { return certReady(t, ns, "serving"), nil })
}

func certReady(t *testing.T, ns, name string) bool {
	crt := &cmv1.Certificate{}
	if err := framework.Client().Get(ctxT(t), client.ObjectKey{Namespace: ns, Name: name}, crt); err != nil {
		return false
	}
	for _, c := range crt.Status.Conditions {
		if c.Type == cmv1.CertificateConditionReady {
			return c.Status == cmmeta.ConditionTrue && c.ObservedGeneration == crt.Generation
		}
	}
	return false
}

// syncSecretToDir does what the kubelet does for a Secret volume: it keeps
// tls.crt, tls.key and ca.crt current in dir, replacing files atomically.
func syncSecretToDir(t *testing.T, ns, name, dir string) func() {
	t.Helper()
	write := func() (bool, error) {
		s, err := framework.Clientset().CoreV1().Secrets(ns).Get(ctxT(t), name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, k := range []string{"tls.crt", "tls.key", "ca.crt"} {
			cur, _ := os.ReadFile(filepath.Join(dir, k))
			if bytes.Equal(cur, s.Data[k]) {
				continue
			}
			tmp := filepath.Join(dir, "."+k+".tmp")
			if err := os.WriteFile(tmp, s.Data[k], 0o600); err != nil {
				return false, err
			}
			if err := os.Rename(tmp, filepath.Join(dir, k)); err != nil {
				return false, err
			}
		}
		return true, nil
	}
	framework.WaitFor(t, 30*time.Second, write)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_, _ = write()
			}
		}
	}()
	return func() { close(stop); <-done }
}

func (e *webhookEnv) createConfigs(t *testing.T, namespaces []string) {
	t.Helper()
	mutating, validating := framework.WebhookConfigurations(framework.WebhookTarget{
		Name: e.cfgName, Port: e.port, Namespaces: namespaces,
		// Cluster-scoped classes are matched by a label only this test's classes carry.
		ClassLabels: map[string]string{"hpp-e2e/webhook": e.ns},
		Annotations: map[string]string{"cert-manager.io/inject-ca-from": e.ns + "/serving"},
	})
	createClusterScoped(t, mutating)
	createClusterScoped(t, validating)
}

// class creates one of our classes that this test's webhook validates.
func (e *webhookEnv) class(t *testing.T, name string, mode storagev1.VolumeBindingMode, params map[string]string) *storagev1.StorageClass {
	t.Helper()
	sc := &storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{"hpp-e2e/webhook": e.ns}},
		Provisioner: policy.ProvisionerName, VolumeBindingMode: &mode, ReclaimPolicy: ptr.To(deletePol), Parameters: params,
	}
	createClusterScoped(t, sc)
	return sc
}

func (e *webhookEnv) createClaim(t *testing.T, claim *corev1.PersistentVolumeClaim) (*corev1.PersistentVolumeClaim, []string, error) {
	e.warnings.take()
	got, err := e.cs.CoreV1().PersistentVolumeClaims(claim.Namespace).Create(ctxT(t), claim, metav1.CreateOptions{})
	return got, e.warnings.take(), err
}

func TestWebhook(t *testing.T) {
	other := framework.NewNamespace(t)
	// Namespace annotations are set before the process starts, so its
	// cache holds them (a change is seen with the cache's delay).
	annotated := framework.NewNamespace(t)
	nsDefault := annotated + "-default"
	annotateNamespace(t, annotated, policy.AnnNamespaceDefaultClass, nsDefault)
	nsLimit := framework.NewNamespace(t)
	annotateNamespace(t, nsLimit, policy.AnnNamespaceMaxSize, "3Mi")
	e := newWebhookEnv(t, other, annotated, nsLimit)
	hostpath := e.class(t, "hostpath", wffc, nil)
	limited := e.class(t, e.ns+"-limited", immediate, map[string]string{"minSize": "2Mi", "maxSize": "10Mi"})
	e.class(t, nsDefault, immediate, nil)
	ns := e.ns

	t.Run("a claim without a class gets hostpath, with a warning, and is provisioned", func(t *testing.T) {
		got, warnings, err := e.createClaim(t, newClaim(ns, "classless", "1Mi", nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.StorageClassName == nil || *got.Spec.StorageClassName != hostpath.Name {
			t.Fatalf("class = %v", got.Spec.StorageClassName)
		}
		if !strings.Contains(strings.Join(warnings, "\n"), `spec.storageClassName set to "hostpath"`) {
			t.Errorf("warnings = %q", warnings)
		}
		framework.RunPod(t, writerPod(ns, "classless-user", got.Name, "echo ok > /data/f"))
		framework.WaitPodSucceeded(t, ns, "classless-user", 2*time.Minute)
		waitBound(t, got, 30*time.Second)
	})

	t.Run("a namespace default picks another class", func(t *testing.T) {
		got, warnings, err := e.createClaim(t, newClaim(annotated, "by-namespace", "1Mi", nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		if *got.Spec.StorageClassName != nsDefault || !strings.Contains(strings.Join(warnings, " "), policy.AnnNamespaceDefaultClass) {
			t.Errorf("class %q, warnings %q", *got.Spec.StorageClassName, warnings)
		}
	})

	t.Run("an explicit empty class stays static", func(t *testing.T) {
		got, _, err := e.createClaim(t, newClaim(other, "static", "1Mi", ptr.To(""), nil))
		if err != nil || got.Spec.StorageClassName == nil || *got.Spec.StorageClassName != "" {
			t.Fatalf("class %v, err %v", got.Spec.StorageClassName, err)
		}
		// Left pending, it would bind to whichever class-less PV comes
		// next: the pre-made volumes of the next step, which their own
		// claims then never get.
		deleteObj(t, got)
		framework.WaitFor(t, 30*time.Second, func() (bool, error) {
			err := framework.Client().Get(ctxT(t), client.ObjectKeyFromObject(got), got)
			return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
		})
	})

	t.Run("class-less claims for pre-made volumes stay class-less and bind to them", func(t *testing.T) {
		static := func(name string, labels map[string]string) *corev1.PersistentVolume {
			pv := &corev1.PersistentVolume{
				ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + name, Labels: labels},
				Spec: corev1.PersistentVolumeSpec{
					Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")},
					AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
					PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: t.TempDir()}},
				},
			}
			createClusterScoped(t, pv)
			return pv
		}
		byLabel := static("by-label", map[string]string{"hpp-e2e/disk": ns})
		byName := static("by-name", nil)

		selecting := newClaim(other, "selects", "1Mi", nil, nil)
		selecting.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"hpp-e2e/disk": ns}}
		naming := newClaim(other, "names", "1Mi", nil, nil)
		naming.Spec.VolumeName = byName.Name
		for _, tt := range []struct {
			claim *corev1.PersistentVolumeClaim
			pv    *corev1.PersistentVolume
			why   string
		}{{selecting, byLabel, "spec.selector matches pre-made PersistentVolumes"}, {naming, byName, `spec.volumeName names PersistentVolume "` + byName.Name + `"`}} {
			got, warnings, err := e.createClaim(t, tt.claim)
			if err != nil {
				t.Fatalf("claim %s for a pre-made volume refused: %v", tt.claim.Name, err)
			}
			if got.Spec.StorageClassName != nil {
				t.Errorf("claim %s got class %q; a claim for a pre-made volume keeps no class", got.Name, *got.Spec.StorageClassName)
			}
			if w := strings.Join(warnings, " | "); !strings.Contains(w, "spec.storageClassName left empty") || !strings.Contains(w, tt.why) {
				t.Errorf("claim %s: warnings %q, want one saying the class was left empty because %s", got.Name, w, tt.why)
			}
			bound, _ := waitBound(t, got, time.Minute)
			if bound.Spec.VolumeName != tt.pv.Name {
				t.Errorf("claim %s bound to %s, want the pre-made %s", bound.Name, bound.Spec.VolumeName, tt.pv.Name)
			}
		}
	})

	block := corev1.PersistentVolumeBlock
	invalid := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		want  string
	}{
		{"above maxSize", newClaim(ns, "too-big", "11Mi", &limited.Name, nil), `spec.resources.requests[storage]: Invalid value: "11Mi": must be at most 10Mi (StorageClass parameter maxSize)`},
		{"below minSize", newClaim(ns, "too-small", "1Mi", &limited.Name, nil), `must be at least 2Mi (StorageClass parameter minSize)`},
		{"a block volume", func() *corev1.PersistentVolumeClaim {
			c := newClaim(ns, "block", "5Mi", &limited.Name, nil)
			c.Spec.VolumeMode = &block
			return c
		}(), `spec.volumeMode: Unsupported value: "Block": supported values: "Filesystem"`},
		{"a clone in another class than its source", func() *corev1.PersistentVolumeClaim {
			c := newClaim(ns, "clone", "5Mi", &limited.Name, nil)
			c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "classless"}
			return c
		}(), `spec.storageClassName: Invalid value: "` + limited.Name + `": must be "hostpath", the class of the source claim classless`},
		{"a clone smaller than its source", func() *corev1.PersistentVolumeClaim {
			c := newClaim(ns, "small-clone", "512Ki", &hostpath.Name, nil)
			c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "classless"}
			return c
		}(), `spec.resources.requests[storage]: Invalid value: "512Ki": must be at least 1Mi, the size of the source claim classless`},
		{"a snapshot as data source", func() *corev1.PersistentVolumeClaim {
			c := newClaim(ns, "from-snapshot", "5Mi", &limited.Name, nil)
			c.Spec.DataSourceRef = &corev1.TypedObjectReference{APIGroup: ptr.To("snapshot.storage.k8s.io"), Kind: "VolumeSnapshot", Name: "snap"}
			return c
		}(), `spec.dataSourceRef.kind: Unsupported value: "VolumeSnapshot.snapshot.storage.k8s.io"`},
		{"a typo in an annotation", newClaim(ns, "typo", "5Mi", &limited.Name, map[string]string{"hostpath.dev/on-delte": "retain"}),
			`metadata.annotations[hostpath.dev/on-delte]: Invalid value: "retain": unknown annotation, did you mean "hostpath.dev/on-delete"?`},
		{"a bad on-delete", newClaim(ns, "bad-on-delete", "5Mi", &limited.Name, map[string]string{policy.AnnOnDelete: "keep"}),
			`metadata.annotations[hostpath.dev/on-delete]: Unsupported value: "keep": supported values: "delete", "retain", "archive"`},
		{"above the namespace max-size", newClaim(nsLimit, "ns-too-big", "5Mi", &limited.Name, nil), `must be at most 3Mi (namespace annotation hostpath.dev/max-size)`},
	}
	for _, tt := range invalid {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			_, _, err := e.createClaim(t, tt.claim)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant %q", err, tt.want)
			}
		})
	}
	entries, _ := os.ReadDir(e.base)
	for _, en := range entries {
		for _, tt := range invalid {
			if strings.Contains(en.Name(), "-"+tt.claim.Name+"-") {
				t.Errorf("refused claim %s touched the disk: %s", tt.claim.Name, en.Name())
			}
		}
	}

	t.Run("shared access modes are allowed with a warning", func(t *testing.T) {
		c := newClaim(ns, "rwx", "5Mi", &limited.Name, nil)
		c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		_, warnings, err := e.createClaim(t, c)
		if err != nil || !strings.Contains(strings.Join(warnings, " "), "one node") {
			t.Fatalf("err %v warnings %q", err, warnings)
		}
	})

	t.Run("bad StorageClasses are refused", func(t *testing.T) {
		for _, tc := range []struct {
			params map[string]string
			want   string
		}{
			{map[string]string{"pathPatern": "x"}, `parameters[pathPatern]: Invalid value: "pathPatern": unknown parameter, did you mean "pathPattern"?`},
			{map[string]string{"pathPattern": "../{{ .PVName }}"}, `has the path component ".."`},
			{map[string]string{"mode": "999"}, `parameters[mode]: Invalid value: "999": must be an octal file mode`},
		} {
			sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: e.ns + "-bad", Labels: map[string]string{"hpp-e2e/webhook": e.ns}},
				Provisioner: policy.ProvisionerName, Parameters: tc.params}
			err := framework.Client().Create(ctxT(t), sc)
			if err == nil {
				deleteObj(t, sc)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("params %v: err = %v, want %q", tc.params, err, tc.want)
			}
		}
	})

	t.Run("changing on-delete on a bound claim reaches the PV", func(t *testing.T) {
		claim, _, err := e.createClaim(t, newClaim(ns, "change-me", "5Mi", &limited.Name, nil))
		if err != nil {
			t.Fatal(err)
		}
		claim, pv := waitBound(t, claim, time.Minute)
		bad := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:"forever"}}}`, policy.AnnOnDelete))
		if _, err := e.cs.CoreV1().PersistentVolumeClaims(ns).Patch(ctxT(t), claim.Name, types.MergePatchType, bad, metav1.PatchOptions{}); err == nil ||
			!strings.Contains(err.Error(), `Unsupported value: "forever"`) {
			t.Fatalf("invalid change: %v", err)
		}
		good := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:"retain"}}}`, policy.AnnOnDelete))
		if _, err := e.cs.CoreV1().PersistentVolumeClaims(ns).Patch(ctxT(t), claim.Name, types.MergePatchType, good, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		framework.WaitFor(t, 30*time.Second, func() (bool, error) {
			err := framework.Client().Get(ctxT(t), client.ObjectKeyFromObject(pv), pv)
			return pv.Spec.PersistentVolumeReclaimPolicy == retainPol && pv.Annotations[policy.AnnOnDelete] == "retain", err
		})
		deleteObj(t, claim)
		framework.WaitFor(t, time.Minute, func() (bool, error) {
			err := framework.Client().Get(ctxT(t), client.ObjectKeyFromObject(pv), pv)
			return pv.Status.Phase == corev1.VolumeReleased, err
		})
		if _, err := os.Stat(filepath.Join(e.base, pv.Annotations[policy.AnnPath])); err != nil {
			t.Errorf("retained directory gone: %v", err)
		}
		deleteObj(t, pv)
	})

	t.Run("with the webhook down, admission fails open and the provisioner fails closed", func(t *testing.T) {
		e.proc.Stop()
		classless, _, err := e.createClaim(t, newClaim(ns, "while-down", "1Mi", nil, nil))
		if err != nil {
			t.Fatalf("fail open: %v", err)
		}
		if classless.Spec.StorageClassName != nil {
			t.Fatalf("nothing should have mutated the claim, got class %q", *classless.Spec.StorageClassName)
		}
		if _, _, err := e.createClaim(t, newClaim(ns, "too-big-while-down", "11Mi", &limited.Name, nil)); err != nil {
			t.Fatalf("fail open: %v", err)
		}
		// Back up without the webhook: the reconciler and the provisioner
		// catch what admission missed.
		e.proc.RestartWithArgs("--enable-webhook=false")
		waitEvent(t, ns, "too-big-while-down", "ProvisioningFailed", "must be at most 10Mi", time.Minute)
		framework.WaitFor(t, time.Minute, func() (bool, error) {
			err := framework.Client().Get(ctxT(t), client.ObjectKeyFromObject(classless), classless)
			return classless.Spec.StorageClassName != nil && *classless.Spec.StorageClassName == "hostpath", err
		})
	})
}

// annotateNamespace sets one annotation on a namespace.
func annotateNamespace(t *testing.T, ns, key, value string) {
	t.Helper()
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, key, value))
	if _, err := framework.Clientset().CoreV1().Namespaces().Patch(ctxT(t), ns, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A forced renewal of the serving certificate causes no failed admission:
// claims created all through it are mutated by the webhook, and the process
// serves the new certificate afterwards without a restart.
func TestWebhookCertificateRenewalLosesNoAdmission(t *testing.T) {
	e := newWebhookEnv(t)
	e.class(t, "hostpath", wffc, nil)
	before := servedSerial(t, e.port)

	stop := make(chan struct{})
	type result struct {
		mutated bool
		err     error
	}
	results := make(chan result, 1000)
	go func() {
		defer close(results)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond): // a steady 10 claims/s
			}
			got, _, err := e.createClaim(t, newClaim(e.ns, fmt.Sprintf("r%d", i), "1Mi", nil, nil))
			results <- result{mutated: err == nil && got.Spec.StorageClassName != nil, err: err}
		}
	}()

	time.Sleep(time.Second) // some admissions before the renewal
	crt := &cmv1.Certificate{}
	if err := framework.Client().Get(ctxT(t), client.ObjectKey{Namespace: e.ns, Name: "serving"}, crt); err != nil {
		t.Fatal(err)
	}
	// What `cmctl renew` does: mark the certificate as issuing.
	crt.Status.Conditions = append(crt.Status.Conditions, cmv1.CertificateCondition{
		Type: cmv1.CertificateConditionIssuing, Status: cmmeta.ConditionTrue, Reason: "ManuallyTriggered", Message: "e2e renewal",
		LastTransitionTime: ptr.To(metav1.Now()),
	})
	if err := framework.Client().Status().Update(ctxT(t), crt); err != nil {
		t.Fatalf("triggering renewal: %v", err)
	}
	framework.WaitFor(t, time.Minute, func() (bool, error) {
		s := servedSerial(t, e.port)
		return s != "" && s != before, nil
	})
	time.Sleep(time.Second) // admissions after the new certificate is served
	close(stop)

	total, failed := 0, 0
	for r := range results {
		total++
		if !r.mutated {
			failed++
			t.Logf("admission not applied: %v", r.err)
		}
	}
	t.Logf("certificate renewal: %d claims admitted while renewing, %d without the webhook's mutation", total, failed)
	if total < 10 || failed != 0 {
		t.Errorf("%d of %d admissions failed during renewal", failed, total)
	}
}

// servedSerial is the serial number of the certificate the webhook serves.
func servedSerial(t *testing.T, port string) string {
	conn, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reading the served certificate, not trusting it
	if err != nil {
		return ""
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}
