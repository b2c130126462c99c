package app

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
)

func TestMetricsServerOptions(t *testing.T) {
	certs := t.TempDir()
	for _, f := range []string{"tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(certs, f), []byte("pem"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	onlyCert := t.TempDir()
	if err := os.WriteFile(filepath.Join(onlyCert, "tls.crt"), []byte("pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		o        Options
		secure   bool
		certDir  string
		errorHas string
	}{
		{name: "secure by default serves a self-signed certificate to authorized tokens",
			o: Options{MetricsAddr: ":8443", MetricsSecure: true}, secure: true},
		{name: "secure with a cert dir serves its certificate",
			o: Options{MetricsAddr: ":8443", MetricsSecure: true, MetricsCertDir: certs}, secure: true, certDir: certs},
		{name: "a cert dir without the key is refused rather than silently replaced by a self-signed certificate",
			o: Options{MetricsAddr: ":8443", MetricsSecure: true, MetricsCertDir: onlyCert}, errorHas: "--metrics-cert-dir=" + onlyCert},
		{name: "a missing cert dir is refused",
			o: Options{MetricsAddr: ":8443", MetricsSecure: true, MetricsCertDir: filepath.Join(certs, "absent")}, errorHas: "tls.crt"},
		{name: "insecure serves plain HTTP without a filter",
			o: Options{MetricsAddr: ":8080"}},
		{name: "disabled checks nothing",
			o: Options{MetricsAddr: "0", MetricsSecure: true, MetricsCertDir: onlyCert}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			got, err := metricsServerOptions(logr.Discard(), &tt.o, func(*tls.Config) { called = true })
			if tt.errorHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errorHas) {
					t.Fatalf("err = %v, want one naming %q", err, tt.errorHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.BindAddress != tt.o.MetricsAddr {
				t.Errorf("bind address %q, want %q", got.BindAddress, tt.o.MetricsAddr)
			}
			if got.SecureServing != tt.secure || (got.FilterProvider != nil) != tt.secure {
				t.Errorf("secure serving %v, authentication filter %v; want both %v", got.SecureServing, got.FilterProvider != nil, tt.secure)
			}
			if got.CertDir != tt.certDir {
				t.Errorf("cert dir %q, want %q", got.CertDir, tt.certDir)
			}
			for _, opt := range got.TLSOpts {
				opt(&tls.Config{})
			}
			if called != tt.secure {
				t.Errorf("TLS options applied %v, want %v (HTTP/2 stays off on every TLS server)", called, tt.secure)
			}
		})
	}
}
