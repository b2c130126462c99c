package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
	"github.com/mazdermind/hostpath-provisioner/webhook"
)

// createInterleaved creates n class-less claims in each of namespaces, at
// rate per second in turns (one in the first namespace, one in the second,
// ...), and returns each namespace's create latencies as the client sees
// them, sorted. Taking turns puts every side under the same load at the
// same moments, so the differences are what each namespace's admission
// adds.
func createInterleaved(b *testing.B, cs kubernetes.Interface, namespaces []string, n, rate int) [][]time.Duration {
	b.Helper()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	lats := make([][]time.Duration, len(namespaces))
	for i := range lats {
		lats[i] = make([]time.Duration, n)
	}
	var wg sync.WaitGroup
	for i := range len(namespaces) * n {
		<-tick.C
		side := i % len(namespaces)
		ns, lat := namespaces[side], lats[side]
		wg.Go(func() {
			c := claimOf(ns, fmt.Sprintf("c-%d", i), "")
			c.Spec.StorageClassName = nil
			t0 := time.Now()
			if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), c, metav1.CreateOptions{}); err != nil {
				b.Errorf("creating %s/%s: %v", ns, c.Name, err)
			}
			lat[i/len(namespaces)] = time.Since(t0)
		})
	}
	wg.Wait()
	for _, l := range lats {
		slices.Sort(l)
	}
	return lats
}

// celDefaulting is the in-process limit our mutating webhook is measured
// against: a MutatingAdmissionPolicy the API server evaluates itself (no
// TLS hop, no serialisation to a review) that gives class-less claims
// created in ns the class, as our webhook does.
func celDefaulting(name, ns, class string) (*admissionregistrationv1.MutatingAdmissionPolicy, *admissionregistrationv1.MutatingAdmissionPolicyBinding) {
	policy := &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"persistentvolumeclaims"}},
				},
			}}},
			MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "class-less", Expression: "!has(object.spec.storageClassName)"}},
			Mutations: []admissionregistrationv1.Mutation{{
				PatchType: admissionregistrationv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{
					Expression: fmt.Sprintf("Object{spec: Object.spec{storageClassName: %q}}", class),
				},
			}},
			FailurePolicy:      ptr.To(admissionregistrationv1.Fail),
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
		},
	}
	binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{
			PolicyName: name,
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: []string{ns},
			}}}},
		},
	}
	return policy, binding
}

// waitDefaulted waits until a class-less claim created in ns comes back
// with class: the API server picks up new admission configurations
// asynchronously, and a measurement before that would time the wrong path.
func waitDefaulted(b *testing.B, cs kubernetes.Interface, ns, class string) {
	b.Helper()
	framework.WaitFor(b, 30*time.Second, func() (bool, error) {
		c := claimOf(ns, fmt.Sprintf("probe-%d", time.Now().UnixNano()), "")
		c.Spec.StorageClassName = nil
		got, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), c, metav1.CreateOptions{})
		return err == nil && got.Spec.StorageClassName != nil && *got.Spec.StorageClassName == class, nil
	})
}

// BenchmarkAdmission: claim creates through the API server at a steady
// 50/s, taking turns between four namespaces: one with our mutating and
// validating webhooks (as installed), one with our mutating webhook alone,
// one where a CEL MutatingAdmissionPolicy does the same defaulting inside
// the API server (the limit for a webhook: no hop), and one with neither;
// the process runs for all four. Also the handler alone over TLS on
// loopback.
func BenchmarkAdmission(b *testing.B) {
	const n, rate = 500, 50
	cs := fastClient()
	ctx := context.Background()
	settle(b, cs)
	ns := namespace(b)
	mutOnly, celNS := framework.NewNamespace(b), framework.NewNamespace(b)
	// The process's own namespace: its default-class reconciler leaves
	// claims there alone, so class-less claims stay as created, as they
	// would without us.
	plain := framework.NewNamespace(b)
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"bench": ns}}, Provisioner: policy.ProvisionerName,
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)} // nothing is provisioned
	createClass(b, cs, class)

	certDir := b.TempDir()
	// The benchmark measures latency, not issuance: a certificate made
	// here, not by cert-manager (the e2e tests cover that path).
	ca, err := framework.LoopbackServingCert(certDir)
	if err != nil {
		b.Fatal(err)
	}
	addr := framework.FreeAddr(b)
	_, port, _ := strings.Cut(addr, ":")
	mutating, validating := framework.WebhookConfigurations(framework.WebhookTarget{
		Name: "hpp-bench-" + ns, Port: port, Namespaces: []string{ns}, ClassLabels: map[string]string{"bench": ns}, CABundle: ca,
	})
	mutatingOnly, _ := framework.WebhookConfigurations(framework.WebhookTarget{
		Name: "hpp-bench-" + mutOnly, Port: port, Namespaces: []string{mutOnly}, ClassLabels: map[string]string{"bench": mutOnly}, CABundle: ca,
	})
	cel, celBinding := celDefaulting("hpp-bench-"+celNS, celNS, class.Name)
	webhooks := cs.AdmissionregistrationV1()
	for _, m := range []*admissionregistrationv1.MutatingWebhookConfiguration{mutating, mutatingOnly} {
		if _, err := webhooks.MutatingWebhookConfigurations().Create(ctx, m, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := webhooks.ValidatingWebhookConfigurations().Create(ctx, validating, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := webhooks.MutatingAdmissionPolicies().Create(ctx, cel, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := webhooks.MutatingAdmissionPolicyBindings().Create(ctx, celBinding, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		bg := context.Background()
		_ = webhooks.MutatingWebhookConfigurations().Delete(bg, mutating.Name, metav1.DeleteOptions{})
		_ = webhooks.MutatingWebhookConfigurations().Delete(bg, mutatingOnly.Name, metav1.DeleteOptions{})
		_ = webhooks.ValidatingWebhookConfigurations().Delete(bg, validating.Name, metav1.DeleteOptions{})
		_ = webhooks.MutatingAdmissionPolicyBindings().Delete(bg, celBinding.Name, metav1.DeleteOptions{})
		_ = webhooks.MutatingAdmissionPolicies().Delete(bg, cel.Name, metav1.DeleteOptions{})
	})
	base := b.TempDir()
	proc := framework.StartProvisioner(b, base, "--enable-webhook=true", "--webhook-host=127.0.0.1", "--webhook-port="+port,
		"--webhook-cert-dir="+certDir, "--webhook-configurations="+mutating.Name, "--default-class="+class.Name, "--namespace="+plain)
	for _, defaulted := range []string{ns, mutOnly, celNS} {
		waitDefaulted(b, cs, defaulted, class.Name)
	}
	lats := createInterleaved(b, cs, []string{ns, mutOnly, celNS, plain}, n, rate)
	with, withMutating, withCEL, without := lats[0], lats[1], lats[2], lats[3]
	// Our handlers' own time, to tell it apart from the API server's.
	sum := framework.Scrape(b, proc.Metrics(), "controller_runtime_webhook_latency_seconds_sum", "webhook")
	count := framework.Scrape(b, proc.Metrics(), "controller_runtime_webhook_latency_seconds_count", "webhook")
	for path, c := range count {
		if c > 0 {
			b.ReportMetric(sum[path]/c*1000, "ms-handler-mean"+strings.ReplaceAll(path, "/", "-"))
		}
	}

	rps := handlerRate(b, addr, ca, ns, 5*time.Second)

	p := func(l []time.Duration, q float64) float64 { return float64(pct(l, q).Microseconds()) / 1000 }
	for _, side := range []struct {
		name string
		lat  []time.Duration
	}{{"plain", without}, {"cel", withCEL}, {"mutating", withMutating}, {"webhooks", with}} {
		b.ReportMetric(p(side.lat, 0.5), "ms-p50-"+side.name)
		b.ReportMetric(p(side.lat, 0.99), "ms-p99-"+side.name)
	}
	b.ReportMetric(p(with, 0.99)-p(without, 0.99), "ms-p99-added")
	b.ReportMetric(p(withMutating, 0.99)-p(withCEL, 0.99), "ms-p99-mutating-over-cel")
	b.ReportMetric(p(with, 0.99)-p(withCEL, 0.99), "ms-p99-webhooks-over-cel")
	b.ReportMetric(rps, "handler-req/s")
}

// handlerRate posts validation reviews to the handler over TLS from 8
// connections for d and returns the completed requests per second.
func handlerRate(b *testing.B, addr string, ca []byte, ns string, d time.Duration) float64 {
	b.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 8}}
	claim := claimOf(ns, "review", ns)
	raw, _ := json.Marshal(claim)
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "bench", Operation: admissionv1.Create, Namespace: ns, Name: claim.Name,
			Kind:     metav1.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaim"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"},
			Object:   runtime.RawExtension{Raw: raw}},
	}
	body, _ := json.Marshal(review)
	var done atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				resp, err := client.Post("https://"+addr+webhook.ValidatePVCPath, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Errorf("posting a review: %v", err)
					return
				}
				var out admissionv1.AdmissionReview
				if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Response == nil || !out.Response.Allowed {
					b.Errorf("review response: %v %+v", err, out.Response)
				}
				resp.Body.Close()
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / d.Seconds()
}
