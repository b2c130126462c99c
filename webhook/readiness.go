package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// AnnInjectCAFrom is cert-manager's cainjector annotation: <namespace>/<Certificate>.
const AnnInjectCAFrom = "cert-manager.io/inject-ca-from"

// ReadinessCheck keeps the pod unready until the API server can call the
// webhook: the serving key pair loads, and both webhook configurations carry
// a caBundle that verifies the serving certificate. A broken CA injection is
// the most common webhook outage, and it is invisible from inside the pod
// unless someone compares the two, so this does and says exactly what is
// wrong. Use Check as a healthz.Checker (mgr.AddReadyzCheck).
type ReadinessCheck struct {
	// Reader must be uncached (the manager's APIReader): it reads two
	// cluster-scoped configurations and maybe a Certificate every TTL,
	// which is not worth three cluster-wide informers.
	Reader     client.Reader
	CertDir    string
	ConfigName string // name of both the Mutating- and ValidatingWebhookConfiguration
	Recorder   record.EventRecorder

	// TTL is how long a result is reused, so frequent probes are cheap.
	TTL time.Duration
	// EventDelay is how long a problem must last before a Warning event is
	// emitted: at startup the CA is routinely not injected yet for a few
	// seconds, which is not worth an event.
	EventDelay time.Duration
	// EventInterval is the minimum time between two Warning events.
	EventInterval time.Duration
	// Now is the clock (tests replace it).
	Now func() time.Time

	mu          sync.Mutex
	checkedAt   time.Time
	last        error
	brokenSince time.Time // zero while healthy
	eventAt     time.Time // last Warning event
	eventMsg    string    // its message; "" when none since the last recovery
}

// NewReadinessCheck returns a check with TTL 5s, EventDelay 30s and
// EventInterval 5m. reader should be mgr.GetAPIReader(); certDir the
// webhook server's cert dir; configName the webhook configurations' name.
func NewReadinessCheck(reader client.Reader, certDir, configName string, recorder record.EventRecorder) *ReadinessCheck {
	return &ReadinessCheck{
		Reader: reader, CertDir: certDir, ConfigName: configName, Recorder: recorder,
		TTL: 5 * time.Second, EventDelay: 30 * time.Second, EventInterval: 5 * time.Minute, Now: time.Now,
	}
}

// Check implements healthz.Checker.
func (r *ReadinessCheck) Check(req *http.Request) error {
	ctx := context.Background()
	if req != nil {
		ctx = req.Context()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.Now()
	if !r.checkedAt.IsZero() && now.Sub(r.checkedAt) < r.TTL {
		return r.last
	}
	target, err := r.check(ctx)
	r.checkedAt, r.last = now, err
	r.report(ctx, now, target, err)
	return err
}

// report emits events on state changes: a Warning when a problem has lasted
// EventDelay (again only if the problem changes, at most every
// EventInterval) and a Normal event when it is gone.
func (r *ReadinessCheck) report(ctx context.Context, now time.Time, target runtime.Object, err error) {
	logger := klog.FromContext(ctx)
	if err == nil {
		if !r.brokenSince.IsZero() {
			logger.Info("Webhook serving certificate and CA bundles are consistent again")
			if r.eventMsg != "" && r.Recorder != nil && target != nil {
				r.Recorder.Event(target, corev1.EventTypeNormal, "WebhookReady", "The webhook serving certificate verifies against every caBundle")
			}
		}
		r.brokenSince, r.eventMsg = time.Time{}, ""
		return
	}
	if r.brokenSince.IsZero() {
		r.brokenSince = now
		logger.Info("Webhook not ready", "reason", err.Error())
	}
	msg := err.Error()
	if now.Sub(r.brokenSince) < r.EventDelay || msg == r.eventMsg || (r.eventMsg != "" && now.Sub(r.eventAt) < r.EventInterval) {
		return
	}
	logger.Error(err, "Webhook cannot be called by the API server")
	if r.Recorder != nil && target != nil {
		r.Recorder.Event(target, corev1.EventTypeWarning, "WebhookNotReady", msg)
	}
	r.eventAt, r.eventMsg = now, msg
}

// check returns the first problem found and the object to report it on.
func (r *ReadinessCheck) check(ctx context.Context) (runtime.Object, error) {
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	mwc.SetGroupVersionKind(admissionregistrationv1.SchemeGroupVersion.WithKind("MutatingWebhookConfiguration"))
	mwc.Name = r.ConfigName
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	vwc.SetGroupVersionKind(admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingWebhookConfiguration"))
	vwc.Name = r.ConfigName

	leaf, intermediates, err := r.loadServingCert()
	if err != nil {
		return vwc, err
	}
	return r.verifyConfigs(ctx, mwc, vwc, leaf, intermediates)
}

// VerifyServingCert runs the caBundle checks against a serving certificate
// chain given as PEM, for callers that read it from the Secret rather than
// from a mounted directory (the check command).
func (r *ReadinessCheck) VerifyServingCert(ctx context.Context, chainPEM []byte) error {
	var leaf *x509.Certificate
	intermediates := x509.NewCertPool()
	for rest := chainPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return fmt.Errorf("webhook serving certificate: %w", err)
		}
		if leaf == nil {
			leaf = c
		} else {
			intermediates.AddCert(c)
		}
	}
	if leaf == nil {
		return fmt.Errorf("webhook serving certificate: no PEM certificate found")
	}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	mwc.SetGroupVersionKind(admissionregistrationv1.SchemeGroupVersion.WithKind("MutatingWebhookConfiguration"))
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	vwc.SetGroupVersionKind(admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingWebhookConfiguration"))
	_, err := r.verifyConfigs(ctx, mwc, vwc, leaf, intermediates)
	return err
}

func (r *ReadinessCheck) verifyConfigs(ctx context.Context, mwc, vwc client.Object, leaf *x509.Certificate, intermediates *x509.CertPool) (runtime.Object, error) {
	// Both configurations, so one message can name every broken one.
	var errs []error
	var target runtime.Object
	for _, obj := range []client.Object{mwc, vwc} {
		if err := r.checkConfig(ctx, obj, leaf, intermediates); err != nil {
			errs = append(errs, err)
			if target == nil {
				target = obj
			}
		}
	}
	if len(errs) > 0 {
		return target, errors.Join(errs...)
	}
	return vwc, nil
}

func (r *ReadinessCheck) loadServingCert() (*x509.Certificate, *x509.CertPool, error) {
	certFile, keyFile := filepath.Join(r.CertDir, "tls.crt"), filepath.Join(r.CertDir, "tls.key")
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("webhook serving certificate: cannot load %s and %s (%w); check that the cert-manager Certificate's Secret is mounted at --webhook-cert-dir", certFile, keyFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("webhook serving certificate %s: %w", certFile, err)
	}
	intermediates := x509.NewCertPool()
	for _, der := range pair.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			intermediates.AddCert(c)
		}
	}
	return leaf, intermediates, nil
}

func (r *ReadinessCheck) checkConfig(ctx context.Context, obj client.Object, leaf *x509.Certificate, intermediates *x509.CertPool) error {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	what := fmt.Sprintf("%s %s", kind, r.ConfigName)
	if err := r.Reader.Get(ctx, client.ObjectKey{Name: r.ConfigName}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%s does not exist; apply the webhook configuration from the install manifest (or set --webhook-configurations)", what)
		}
		return fmt.Errorf("reading %s: %w", what, err)
	}
	var bundles []namedBundle
	switch c := obj.(type) {
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		for _, w := range c.Webhooks {
			bundles = append(bundles, namedBundle{w.Name, w.ClientConfig.CABundle})
		}
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		for _, w := range c.Webhooks {
			bundles = append(bundles, namedBundle{w.Name, w.ClientConfig.CABundle})
		}
	}
	// The Get replaced TypeMeta with what the server sent (maybe nothing);
	// the event recorder needs the kind to build a reference.
	obj.GetObjectKind().SetGroupVersionKind(admissionregistrationv1.SchemeGroupVersion.WithKind(kind))
	if len(bundles) == 0 {
		return fmt.Errorf("%s has no webhooks", what)
	}
	for _, b := range bundles {
		var problem string
		switch roots, n := parseBundle(b.ca); {
		case len(b.ca) == 0:
			problem = "caBundle is empty: cert-manager's cainjector has not injected the CA; check the " + AnnInjectCAFrom + " annotation and that cainjector runs"
		case n == 0:
			problem = "caBundle contains no PEM certificate; check the " + AnnInjectCAFrom + " annotation and that cainjector runs"
		default:
			_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: r.Now()})
			if err == nil {
				continue
			}
			var invalid x509.CertificateInvalidError
			if errors.As(err, &invalid) && invalid.Reason == x509.Expired {
				// Not a CA problem: cert-manager did not renew, or the
				// renewed Secret has not reached the pod's volume yet.
				problem = fmt.Sprintf("the serving certificate or its CA is outside its validity period (%v); serving certificate valid from %s to %s: check the cert-manager Certificate's renewal",
					err, leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
				break
			}
			problem = fmt.Sprintf("caBundle does not verify the serving certificate (CA mismatch: %v); the API server will refuse to call the webhook. "+
				"Serving certificate: subject %q, issuer %q, expires %s; the caBundle must hold the CA that issued it (see %s)",
				err, leaf.Subject.String(), leaf.Issuer.String(), leaf.NotAfter.UTC().Format(time.RFC3339), AnnInjectCAFrom)
		}
		return fmt.Errorf("%s, webhook %s: %s%s", what, b.name, problem, r.certificateStatus(ctx, obj.GetAnnotations()[AnnInjectCAFrom]))
	}
	return nil
}

// certificateStatus adds the state of the cert-manager Certificate the CA
// is injected from, because a Certificate that is not Ready is usually the
// root cause, and its Ready condition says why.
func (r *ReadinessCheck) certificateStatus(ctx context.Context, ref string) string {
	if ref == "" {
		return "; the configuration has no " + AnnInjectCAFrom + " annotation, so cainjector will not fill it"
	}
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" {
		return fmt.Sprintf("; %s=%q is not <namespace>/<certificate>", AnnInjectCAFrom, ref)
	}
	cond, err := CertificateReady(ctx, r.Reader, ns, name)
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Sprintf("; Certificate %s (from %s) does not exist", ref, AnnInjectCAFrom)
	case err != nil:
		return fmt.Sprintf("; cannot read Certificate %s: %v", ref, err)
	case cond == nil:
	case cond.Status == "True":
		return fmt.Sprintf("; Certificate %s is Ready", ref)
	default:
		return fmt.Sprintf("; Certificate %s is not Ready: %s: %s", ref, cond.Reason, cond.Message)
	}
	return fmt.Sprintf("; Certificate %s has no Ready condition yet (is cert-manager running?)", ref)
}

// certificateGVK is cert-manager's Certificate, the source of the CA bundle.
var certificateGVK = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}

// Condition is the part of a cert-manager condition we report.
type Condition struct {
	Status, Reason, Message string
}

// CertificateReady reads the Ready condition of a cert-manager Certificate;
// it is nil when there is none yet. The Certificate is read as
// unstructured: linking cert-manager's typed API into the process costs
// megabytes of idle memory for one condition.
func CertificateReady(ctx context.Context, reader client.Reader, namespace, name string) (*Condition, error) {
	cert := &unstructured.Unstructured{}
	cert.SetGroupVersionKind(certificateGVK)
	if err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cert); err != nil {
		return nil, err
	}
	conds, _, _ := unstructured.NestedSlice(cert.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != "Ready" {
			continue
		}
		str := func(k string) string { v, _ := m[k].(string); return v }
		return &Condition{Status: str("status"), Reason: str("reason"), Message: str("message")}, nil
	}
	return nil, nil
}

type namedBundle struct {
	name string
	ca   []byte
}

func parseBundle(data []byte) (*x509.CertPool, int) {
	pool := x509.NewCertPool()
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return pool, n
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			pool.AddCert(c)
			n++
		}
	}
}
