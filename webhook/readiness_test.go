package webhook

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// writeServingCert writes tls.crt and tls.key issued by ca into a new dir.
func writeServingCert(t *testing.T, ca *testCA) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "hostpath-provisioner-webhook"},
		DNSNames:  []string{"hostpath-provisioner-webhook.hostpath-provisioner.svc"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, blocks ...*pem.Block) {
		var b []byte
		for _, bl := range blocks {
			b = append(b, pem.EncodeToMemory(bl)...)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("tls.crt", &pem.Block{Type: "CERTIFICATE", Bytes: der})
	write("tls.key", &pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	return dir
}

func webhookConfigs(caBundle []byte, annotations map[string]string) []client.Object {
	cc := admissionregistrationv1.WebhookClientConfig{CABundle: caBundle}
	return []client.Object{
		&admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "hostpath-provisioner", Annotations: annotations},
			Webhooks:   []admissionregistrationv1.MutatingWebhook{{Name: "mpvc.hostpath.dev", ClientConfig: cc}},
		},
		&admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "hostpath-provisioner", Annotations: annotations},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{
				{Name: "vpvc.hostpath.dev", ClientConfig: cc}, {Name: "vsc.hostpath.dev", ClientConfig: cc},
			},
		},
	}
}

func TestReadinessCheck(t *testing.T) {
	ca, otherCA := newCA(t, "hostpath-ca"), newCA(t, "someone-else")
	inject := map[string]string{AnnInjectCAFrom: "hostpath-provisioner/hostpath-provisioner-webhook"}
	notReady := &cmv1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: "hostpath-provisioner", Name: "hostpath-provisioner-webhook"},
		Status: cmv1.CertificateStatus{Conditions: []cmv1.CertificateCondition{{
			Type: cmv1.CertificateConditionReady, Status: cmmeta.ConditionFalse, Reason: "DoesNotExist", Message: "Issuer hostpath-ca not found",
		}}},
	}
	tests := []struct {
		name    string
		certDir string
		objs    []client.Object
		now     time.Time
		want    []string // "" entries never; empty slice means ready
	}{
		{name: "a serving certificate that the caBundle verifies is ready",
			certDir: writeServingCert(t, ca), objs: webhookConfigs(ca.pem, inject)},
		{name: "a bundle holding several CAs including ours is ready",
			certDir: writeServingCert(t, ca), objs: webhookConfigs(append(append([]byte{}, otherCA.pem...), ca.pem...), inject)},
		{name: "missing certificate files are not ready and name the cert dir",
			certDir: t.TempDir(), objs: webhookConfigs(ca.pem, inject), want: []string{"tls.crt", "--webhook-cert-dir"}},
		{name: "an empty caBundle blames the cainjector",
			certDir: writeServingCert(t, ca), objs: webhookConfigs(nil, inject),
			want: []string{"MutatingWebhookConfiguration hostpath-provisioner", "caBundle is empty", "cainjector", AnnInjectCAFrom}},
		{name: "an empty caBundle with a failing Certificate shows the Certificate's Ready condition",
			certDir: writeServingCert(t, ca), objs: append(webhookConfigs(nil, inject), notReady),
			want: []string{"caBundle is empty", "is not Ready: DoesNotExist: Issuer hostpath-ca not found"}},
		{name: "an empty caBundle without the inject annotation says the annotation is missing",
			certDir: writeServingCert(t, ca), objs: webhookConfigs(nil, nil), want: []string{"has no " + AnnInjectCAFrom + " annotation"}},
		{name: "a caBundle of another CA is a CA mismatch",
			certDir: writeServingCert(t, ca), objs: webhookConfigs(otherCA.pem, inject),
			want: []string{"caBundle does not verify the serving certificate (CA mismatch", `issuer "CN=hostpath-ca"`, "ValidatingWebhookConfiguration"}},
		{name: "an expired serving certificate is reported as expired, not as a CA mismatch",
			certDir: writeServingCert(t, ca), objs: webhookConfigs(ca.pem, inject), now: time.Now().Add(2 * time.Hour),
			want: []string{"outside its validity period", "renewal"}},
		{name: "missing webhook configurations are not ready",
			certDir: writeServingCert(t, ca), want: []string{"MutatingWebhookConfiguration hostpath-provisioner does not exist", "ValidatingWebhookConfiguration hostpath-provisioner does not exist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(tt.objs...).Build()
			check := NewReadinessCheck(c, tt.certDir, "hostpath-provisioner", record.NewFakeRecorder(10))
			if !tt.now.IsZero() {
				check.Now = func() time.Time { return tt.now }
			}
			err := check.Check(nil)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("not ready: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("ready, want an error")
			}
			containsAll(t, "error", err.Error(), tt.want)
		})
	}
}

func TestReadinessCheckCachesAndEmitsOneEventPerProblem(t *testing.T) {
	ca := newCA(t, "hostpath-ca")
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(webhookConfigs(nil, nil)...).Build()
	rec := record.NewFakeRecorder(10)
	now := time.Now()
	check := NewReadinessCheck(c, writeServingCert(t, ca), "hostpath-provisioner", rec)
	check.Now = func() time.Time { return now }
	events := func() []string {
		var out []string
		for {
			select {
			case e := <-rec.Events:
				out = append(out, e)
			default:
				return out
			}
		}
	}

	if err := check.Check(nil); err == nil {
		t.Fatal("ready with an empty caBundle")
	}
	if e := events(); len(e) != 0 {
		t.Errorf("events before EventDelay: %v", e)
	}
	// Fix the configuration: the cached result hides it until the TTL ends.
	setBundle(t, c, ca.pem)
	now = now.Add(time.Second)
	if err := check.Check(nil); err == nil {
		t.Error("result was not cached")
	}
	now = now.Add(check.TTL)
	if err := check.Check(nil); err != nil {
		t.Fatalf("not ready after the fix: %v", err)
	}

	// Break it again, for longer than EventDelay: one Warning, not one per probe.
	setBundle(t, c, nil)
	for range 20 {
		now = now.Add(check.TTL)
		_ = check.Check(nil)
	}
	e := events()
	if len(e) != 1 || !strings.HasPrefix(e[0], "Warning WebhookNotReady") || !strings.Contains(e[0], "caBundle is empty") {
		t.Fatalf("want exactly one WebhookNotReady warning, got %v", e)
	}
	// Recovery after a warning is announced once.
	setBundle(t, c, ca.pem)
	now = now.Add(check.TTL)
	if err := check.Check(nil); err != nil {
		t.Fatal(err)
	}
	if e := events(); len(e) != 1 || !strings.HasPrefix(e[0], "Normal WebhookReady") {
		t.Errorf("want one WebhookReady event, got %v", e)
	}
}

// setBundle puts caBundle into every webhook of both configurations, as
// cainjector does.
func setBundle(t *testing.T, c client.Client, caBundle []byte) {
	t.Helper()
	key := client.ObjectKey{Name: "hostpath-provisioner"}
	var m admissionregistrationv1.MutatingWebhookConfiguration
	if err := c.Get(t.Context(), key, &m); err != nil {
		t.Fatal(err)
	}
	for i := range m.Webhooks {
		m.Webhooks[i].ClientConfig.CABundle = caBundle
	}
	if err := c.Update(t.Context(), &m); err != nil {
		t.Fatal(err)
	}
	var v admissionregistrationv1.ValidatingWebhookConfiguration
	if err := c.Get(t.Context(), key, &v); err != nil {
		t.Fatal(err)
	}
	for i := range v.Webhooks {
		v.Webhooks[i].ClientConfig.CABundle = caBundle
	}
	if err := c.Update(t.Context(), &v); err != nil {
		t.Fatal(err)
	}
}
