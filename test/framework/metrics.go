package framework

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// MetricsReaderRole is the ClusterRole that admins bind to their scraper
// (config/rbac/metrics_reader_role.yaml).
const MetricsReaderRole = "hostpath-provisioner-metrics-reader"

// metricsScraper is the ServiceAccount whose token Scrape sends; it is bound
// to MetricsReaderRole and to nothing else.
const metricsScraper = "hpp-e2e-metrics-scraper"

// MetricsEndpoint is a /metrics served over HTTPS, as the provisioner serves
// it: where, and how its certificate is verified.
type MetricsEndpoint struct {
	Addr       string         // host:port
	ServerName string         // the name the certificate must carry; empty: the host of Addr
	RootCAs    *x509.CertPool // the CA that issued it
}

// Get requests /metrics with token as its bearer token ("" sends none) and
// returns the status code and the body.
func (e MetricsEndpoint) Get(t testing.TB, token string) (int, string) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.RootCAs, ServerName: e.ServerName, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+e.Addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("scraping https://%s/metrics: %v", e.Addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading https://%s/metrics: %v", e.Addr, err)
	}
	return resp.StatusCode, string(body)
}

// Scrape reads one metric from /metrics, as a scraper bound to
// MetricsReaderRole (MetricsReaderToken), and sums its samples by the value
// of label ("" for samples without it).
func Scrape(t testing.TB, e MetricsEndpoint, metric, label string) map[string]float64 {
	t.Helper()
	code, body := e.Get(t, MetricsReaderToken(t))
	if code != http.StatusOK {
		t.Fatalf("scraping https://%s/metrics as %s: HTTP %d: %s", e.Addr, metricsScraper, code, strings.TrimSpace(body))
	}
	return ParseMetric(body, metric, label)
}

// ParseMetric sums the samples of metric in a Prometheus text exposition by
// the value of label ("" for samples without it).
func ParseMetric(body, metric, label string) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		key := ""
		if i := strings.Index(line, label+`="`); label != "" && i >= 0 {
			rest := line[i+len(label)+2:]
			key = rest[:strings.IndexByte(rest, '"')]
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		out[key] += v
	}
	return out
}

// MetricsReaderToken is a token of ServiceAccount kube-system/
// hpp-e2e-metrics-scraper, bound by a ClusterRoleBinding to
// MetricsReaderRole (EnsureMetricsReaderRole).
func MetricsReaderToken(t testing.TB) string {
	t.Helper()
	ctx := t.Context()
	rbac := Clientset().RbacV1()
	created := EnsureMetricsReaderRole(t)
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: metricsScraper},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: MetricsReaderRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: metav1.NamespaceSystem, Name: metricsScraper}},
	}
	switch _, err := rbac.ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); {
	case err == nil:
		created = true
	case !apierrors.IsAlreadyExists(err):
		t.Fatalf("creating ClusterRoleBinding %s: %v", binding.Name, err)
	}
	if created {
		WaitMetricsAllowed(t, metav1.NamespaceSystem, metricsScraper)
	}
	scraperToken.mu.Lock()
	defer scraperToken.mu.Unlock()
	if scraperToken.token == "" || time.Until(scraperToken.expires) < 10*time.Minute {
		scraperToken.token, scraperToken.expires = serviceAccountToken(t, metav1.NamespaceSystem, metricsScraper)
	}
	return scraperToken.token
}

var scraperToken struct {
	mu      sync.Mutex
	token   string
	expires time.Time
}

// EnsureMetricsReaderRole creates ClusterRole MetricsReaderRole as
// config/rbac ships it, unless it exists: processes started by
// StartProvisioner run without the installation, and deleting the
// installation deletes the role. A role it created is deleted when the test
// ends, so that a later install (helm refuses to adopt an object it did not
// create) finds the cluster as a user's. It reports whether it created the
// role.
func EnsureMetricsReaderRole(t testing.TB) bool {
	t.Helper()
	role, err := ShippedMetricsReaderRole()
	if err != nil {
		t.Fatal(err)
	}
	roles := Clientset().RbacV1().ClusterRoles()
	_, err = roles.Create(t.Context(), role, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating ClusterRole %s: %v", role.Name, err)
	}
	if err != nil {
		return false
	}
	t.Cleanup(func() {
		if err := roles.Delete(context.Background(), role.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting ClusterRole %s that the test created: %v", role.Name, err)
		}
	})
	return true
}

// WaitMetricsAllowed waits until the API server's authorizer lets
// ServiceAccount namespace/name GET /metrics. RBAC changes reach it a moment
// after they are written, and the provisioner caches a denial for 30 s, so
// a scrape right after a new binding could be refused for that long.
func WaitMetricsAllowed(t testing.TB, namespace, name string) {
	t.Helper()
	user := "system:serviceaccount:" + namespace + ":" + name
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:                  user,
		Groups:                []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
	}}
	WaitFor(t, 30*time.Second, func() (bool, error) {
		got, err := Clientset().AuthorizationV1().SubjectAccessReviews().Create(t.Context(), review, metav1.CreateOptions{})
		if err != nil {
			return false, fmt.Errorf("asking whether %s may GET /metrics: %w", user, err)
		}
		return got.Status.Allowed, nil
	})
}

// ShippedMetricsReaderRole is config/rbac/metrics_reader_role.yaml, decoded.
func ShippedMetricsReaderRole() (*rbacv1.ClusterRole, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(root, "config", "rbac", "metrics_reader_role.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(raw, role); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	if role.Name != MetricsReaderRole {
		return nil, fmt.Errorf("%s defines ClusterRole %q, want %q", path, role.Name, MetricsReaderRole)
	}
	return role, nil
}

// ServiceAccountToken creates ServiceAccount namespace/name when missing and
// returns a token for it from the TokenRequest API, as a pod would get one.
func ServiceAccountToken(t testing.TB, namespace, name string) string {
	t.Helper()
	token, _ := serviceAccountToken(t, namespace, name)
	return token
}

func serviceAccountToken(t testing.TB, namespace, name string) (string, time.Time) {
	t.Helper()
	ctx := t.Context()
	sas := Clientset().CoreV1().ServiceAccounts(namespace)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if _, err := sas.Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating ServiceAccount %s/%s: %v", namespace, name, err)
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	got, err := sas.CreateToken(ctx, name, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a token for ServiceAccount %s/%s: %v", namespace, name, err)
	}
	return got.Status.Token, got.Status.ExpirationTimestamp.Time
}
