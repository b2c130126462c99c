package app

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// metricsServerOptions configures /metrics. The volume metrics name the
// namespace, claim and PV of every volume on the node, so by default they are
// served over HTTPS, and only to a request with a bearer token that the API
// server authenticates (TokenReview) and authorizes for GET on the
// non-resource URL /metrics (SubjectAccessReview); the ClusterRole
// hostpath-provisioner-metrics-reader grants that, bound by a
// ClusterRoleBinding to the scraper's ServiceAccount.
//
// The certificate is the one in --metrics-cert-dir (the cert-manager Secret
// of the installation, reloaded when it is renewed), else a self-signed one
// generated in memory at start. A --metrics-cert-dir without tls.crt and
// tls.key is an error here: controller-runtime would fall back to a
// self-signed certificate without a word, and scrapers that verify would
// fail far from the cause.
func metricsServerOptions(logger logr.Logger, o *Options, tlsOpts ...func(*tls.Config)) (metricsserver.Options, error) {
	opts := metricsserver.Options{BindAddress: o.MetricsAddr}
	if o.MetricsAddr == "0" {
		return opts, nil
	}
	if !o.MetricsSecure {
		logger.Info("Serving /metrics over plain HTTP without authentication (--metrics-secure=false): anyone who reaches the address can list every volume on this node", "address", o.MetricsAddr)
		return opts, nil
	}
	opts.SecureServing = true
	opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	opts.TLSOpts = tlsOpts
	if o.MetricsCertDir == "" {
		logger.V(1).Info("Serving /metrics with a self-signed certificate generated at start (no --metrics-cert-dir)", "address", o.MetricsAddr)
		return opts, nil
	}
	for _, name := range []string{"tls.crt", "tls.key"} {
		if _, err := os.Stat(filepath.Join(o.MetricsCertDir, name)); err != nil {
			return opts, fmt.Errorf("--metrics-cert-dir=%s: %w (it must hold tls.crt and tls.key; leave the flag empty for a self-signed certificate)", o.MetricsCertDir, err)
		}
	}
	opts.CertDir = o.MetricsCertDir
	return opts, nil
}
