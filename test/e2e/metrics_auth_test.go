package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

const capacityMetric = "hostpath_provisioner_volume_capacity_bytes"

// /metrics names every volume on the node with its namespace, claim and PV,
// so it answers only a bearer token that the API server authenticates and
// authorizes for GET /metrics: no token gets 401, an unknown token no
// metrics either (see below), a
// ServiceAccount without the reader role gets 403 (also when a tenant binds
// the role in its own namespace: a RoleBinding grants no non-resource URL),
// and one bound to hostpath-provisioner-metrics-reader gets the volume
// metrics. Plain HTTP gets nothing; without --metrics-cert-dir the process
// serves a self-signed certificate, with the same rules.
func TestMetricsAnswerOnlyAuthorizedTokens(t *testing.T) {
	ns := framework.NewNamespace(t)
	proc := startProvisioner(t, baseDir(t), "--usage-interval=1s")
	sc := storageClass(t, ns, immediate, deletePol, nil)
	claim := newClaim(ns, "private", "1Mi", &sc.Name, nil)
	create(t, claim)
	_, pv := waitBound(t, claim, time.Minute)

	framework.EnsureMetricsReaderRole(t)
	roleRef := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: framework.MetricsReaderRole}
	reader := framework.ServiceAccountToken(t, ns, "reader")
	createClusterScoped(t, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ns + "-reader"}, RoleRef: roleRef,
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "reader"}}})
	framework.WaitMetricsAllowed(t, ns, "reader")
	tenant := framework.ServiceAccountToken(t, ns, "tenant")
	create(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tenant-reads-metrics"}, RoleRef: roleRef,
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "tenant"}}})
	stranger := framework.ServiceAccountToken(t, ns, "stranger")

	// The reader first: it waits for the usage walk to have measured the
	// volume, so the refusals below are refusals of a /metrics that does
	// list it.
	var body string
	framework.WaitFor(t, time.Minute, func() (bool, error) {
		var code int
		code, body = proc.Metrics().Get(t, reader)
		if code != http.StatusOK {
			return false, fmt.Errorf("a ServiceAccount bound to %s: HTTP %d, want 200: %s", framework.MetricsReaderRole, code, body)
		}
		return framework.ParseMetric(body, capacityMetric, "persistentvolumeclaim")[claim.Name] == 1<<20, nil
	})
	if !strings.Contains(body, `persistentvolume="`+pv.Name+`"`) || !strings.Contains(body, `namespace="`+ns+`"`) {
		t.Errorf("the reader's /metrics does not name volume %s of namespace %s:\n%s", pv.Name, ns, grepLines(body, capacityMetric))
	}

	for _, tc := range []struct {
		name, token string
		want        []int
	}{
		{"no token", "", []int{http.StatusUnauthorized}},
		// The API server's TokenReview answers an unknown token with an
		// error, which controller-runtime's filter (v0.25) turns into
		// 500 "Authentication failed" rather than 401.
		{"a token the API server does not know", "not-a-token", []int{http.StatusUnauthorized, http.StatusInternalServerError}},
		{"a ServiceAccount without the role", stranger, []int{http.StatusForbidden}},
		{"a ServiceAccount with the role bound in its own namespace", tenant, []int{http.StatusForbidden}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := proc.Metrics().Get(t, tc.token)
			if !slices.Contains(tc.want, code) {
				t.Errorf("HTTP %d, want %v: %s", code, tc.want, body)
			}
			if strings.Contains(body, pv.Name) || strings.Contains(body, capacityMetric) {
				t.Errorf("a refused scrape names the volume:\n%s", body)
			}
		})
	}

	t.Run("plain HTTP", func(t *testing.T) {
		resp, err := http.Get("http://" + proc.MetricsAddr() + "/metrics")
		if err != nil {
			return // refused outright: no metrics either
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(b), pv.Name) {
			t.Errorf("plain HTTP got HTTP %d, want 400 from the TLS listener: %s", resp.StatusCode, b)
		}
	})

	t.Run("self-signed without a cert dir", func(t *testing.T) {
		proc.RestartWithArgs("--metrics-cert-dir=")
		// controller-runtime makes a CA of its own and a leaf for localhost
		// and 127.0.0.1; the chain ends in that CA.
		chain := servedChain(t, proc.MetricsAddr())
		root := chain[len(chain)-1]
		if root.Subject.String() != root.Issuer.String() || !strings.HasPrefix(root.Subject.CommonName, "localhost-ca@") {
			t.Fatalf("certificate chain ends in %q issued by %q, want controller-runtime's self-signed localhost CA", root.Subject, root.Issuer)
		}
		selfSigned := proc.Metrics()
		selfSigned.RootCAs = x509.NewCertPool()
		selfSigned.RootCAs.AddCert(root)
		if code, body := selfSigned.Get(t, ""); code != http.StatusUnauthorized {
			t.Errorf("no token: HTTP %d, want 401: %s", code, body)
		}
		if code, body := selfSigned.Get(t, reader); code != http.StatusOK || !strings.Contains(body, capacityMetric) {
			t.Errorf("the reader: HTTP %d, want 200 with %s", code, capacityMetric)
		}
	})
}

// installedMetricsNeedAToken scrapes the installed DaemonSet's /metrics as
// a user's Prometheus would: over HTTPS, verifying the cert-manager
// certificate against its CA with the metrics Service's name, with a token
// bound to the shipped reader role. A scrape without a token is refused.
// This proves the installed ServiceAccount may create the TokenReviews and
// SubjectAccessReviews that authorizing a scrape takes (otherwise: 500).
func installedMetricsNeedAToken(t *testing.T) {
	t.Helper()
	ep := framework.InstalledMetrics(t)
	if code, body := ep.Get(t, ""); code != http.StatusUnauthorized {
		t.Errorf("installed /metrics without a token: HTTP %d, want 401: %s", code, body)
	}
	provisioned := framework.Scrape(t, ep, "hostpath_provisioner_persistentvolumeclaim_provision_total", "class")
	if provisioned["hostpath"] < 1 {
		t.Errorf("installed /metrics: provisioned claims by class %v, want the quick start's claim of class hostpath", provisioned)
	}
}

// servedChain is the certificate chain a TLS server at addr presents.
func servedChain(t *testing.T, addr string) []*x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // only to read the certificate
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates
}

// grepLines returns the lines of body that contain s, for messages.
func grepLines(body, s string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
