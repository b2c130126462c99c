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
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
	"github.com/mazdermind/hostpath-provisioner/webhook"
)

// createInterleaved creates 2n class-less claims at rate per second in
// turns, one in nsWith (where our webhooks are called), one in nsWithout
// (where they are not), and returns each side's create latencies as the
// client sees them, sorted. Taking turns puts both sides under the same
// load at the same moments, so the difference is what the webhooks add.
func createInterleaved(b *testing.B, cs kubernetes.Interface, nsWith, nsWithout string, n, rate int) (with, without []time.Duration) {
	b.Helper()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	with, without = make([]time.Duration, n), make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range 2 * n {
		<-tick.C
		ns, lat := nsWith, with
		if i%2 == 1 {
			ns, lat = nsWithout, without
		}
		wg.Go(func() {
			c := claimOf(ns, fmt.Sprintf("c-%d", i), "")
			c.Spec.StorageClassName = nil
			t0 := time.Now()
			if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), c, metav1.CreateOptions{}); err != nil {
				b.Errorf("creating %s/%s: %v", ns, c.Name, err)
			}
			lat[i/2] = time.Since(t0)
		})
	}
	wg.Wait()
	slices.Sort(with)
	slices.Sort(without)
	return with, without
}

// BenchmarkAdmission: claim creates through the API server at a steady
// 50/s, taking turns between a namespace where our webhooks (mutating +
// validating) are called and one where they are not, with the process
// running for both; and the handler alone over TLS on loopback.
func BenchmarkAdmission(b *testing.B) {
	const n, rate = 500, 50
	cs := fastClient()
	ctx := context.Background()
	settle(b, cs)
	ns := namespace(b)
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
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mutating, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, validating, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), mutating.Name, metav1.DeleteOptions{})
		_ = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), validating.Name, metav1.DeleteOptions{})
	})
	base := b.TempDir()
	proc := framework.StartProvisioner(b, base, "--enable-webhook=true", "--webhook-host=127.0.0.1", "--webhook-port="+port,
		"--webhook-cert-dir="+certDir, "--webhook-configurations="+mutating.Name, "--default-class="+class.Name, "--namespace="+plain)
	// The API server picks up new webhook configurations asynchronously:
	// wait until a create is really mutated before measuring.
	framework.WaitFor(b, 30*time.Second, func() (bool, error) {
		c := claimOf(ns, fmt.Sprintf("probe-%d", time.Now().UnixNano()), "")
		c.Spec.StorageClassName = nil
		got, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, c, metav1.CreateOptions{})
		return err == nil && got.Spec.StorageClassName != nil && *got.Spec.StorageClassName == class.Name, nil
	})
	with, without := createInterleaved(b, cs, ns, plain, n, rate)
	// Our handlers' own time, to tell it apart from the API server's.
	sum := framework.Scrape(b, proc.Metrics(), "controller_runtime_webhook_latency_seconds_sum", "webhook")
	count := framework.Scrape(b, proc.Metrics(), "controller_runtime_webhook_latency_seconds_count", "webhook")
	var handlerMs float64
	for path, c := range count {
		if c > 0 {
			handlerMs += sum[path] / c * 1000
		}
	}

	rps := handlerRate(b, addr, ca, ns, 5*time.Second)

	p := func(l []time.Duration, q float64) float64 { return float64(pct(l, q).Microseconds()) / 1000 }
	b.ReportMetric(p(without, 0.5), "ms-p50-plain")
	b.ReportMetric(p(without, 0.99), "ms-p99-plain")
	b.ReportMetric(p(with, 0.5), "ms-p50-webhook")
	b.ReportMetric(p(with, 0.99), "ms-p99-webhook")
	b.ReportMetric(p(with, 0.99)-p(without, 0.99), "ms-p99-added")
	b.ReportMetric(rps, "handler-req/s")
	b.ReportMetric(handlerMs, "ms-handlers-mean")
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
