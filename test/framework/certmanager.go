package framework

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// certManagerCRDs are the CRDs of the pinned cert-manager release.
var certManagerCRDs = []string{
	"certificaterequests.cert-manager.io", "certificates.cert-manager.io", "challenges.acme.cert-manager.io",
	"clusterissuers.cert-manager.io", "issuers.cert-manager.io", "orders.acme.cert-manager.io",
}

// startCertManager applies the CRDs and runs the controller and the
// cainjector out of cluster with the admin kubeconfig. The cert-manager
// webhook is not needed: these CRDs have no conversion webhook.
func (c *Cluster) startCertManager(ctx context.Context) error {
	dir, err := c.writeCertManagerCRDs(ctx)
	if err != nil {
		return err
	}
	if _, err := c.kubectl(ctx, "apply", "--server-side", "--force-conflicts", "-f", dir); err != nil {
		return fmt.Errorf("applying cert-manager CRDs: %w", err)
	}
	args := []string{"wait", "--for=condition=Established", "--timeout=60s"}
	for _, crd := range certManagerCRDs {
		args = append(args, "crd/"+crd)
	}
	if _, err := c.kubectl(ctx, args...); err != nil {
		return fmt.Errorf("waiting for cert-manager CRDs: %w", err)
	}
	if _, err := c.kubectl(ctx, "create", "namespace", "cert-manager"); err != nil {
		return fmt.Errorf("creating the cert-manager namespace: %w", err)
	}
	kubeconfig := c.layout.kubeconfig()
	return parallel(func() {},
		func() error {
			return c.run(ctx, "cert-manager-controller", c.bins.certManagerController, []string{
				"--kubeconfig=" + kubeconfig,
				"--leader-elect=false",
				"--leader-election-namespace=cert-manager",
				"--cluster-resource-namespace=cert-manager",
				"--metrics-listen-address=127.0.0.1:" + certManagerMetrics,
			}, func(ctx context.Context) bool { return httpOK(ctx, "http://127.0.0.1:"+certManagerMetrics+"/metrics") })
		},
		func() error {
			logPath := filepath.Join(c.layout.logs(), "cert-manager-cainjector.log")
			return c.run(ctx, "cert-manager-cainjector", c.bins.certManagerCAInjector, []string{
				"--kubeconfig=" + kubeconfig,
				"--leader-elect=false",
				"--leader-election-namespace=cert-manager",
			}, func(context.Context) bool {
				// No health endpoint: its controllers log when their workers run.
				b, _ := os.ReadFile(logPath)
				return bytes.Contains(b, []byte("Starting workers"))
			})
		},
	)
}

// writeCertManagerCRDs copies the release's CRDs without their helm
// template lines (labels only), which kubectl cannot parse.
func (c *Cluster) writeCertManagerCRDs(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/cert-manager/cert-manager")
	cmd.Dir = filepath.Join(c.opts.RepoRoot, "test", "tools", "certmanager")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating the cert-manager %s module (run `make go-deps`): %w", CertManagerVersion, err)
	}
	src := filepath.Join(strings.TrimSpace(string(out)), "deploy", "crds")
	files, err := filepath.Glob(filepath.Join(src, "crd-*.yaml"))
	if err != nil {
		return "", fmt.Errorf("no CRDs in %s: %w", src, err)
	}
	if len(files) == 0 {
		return "", fmt.Errorf("no CRDs in %s", src)
	}
	dst := c.layout.path("crds")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", fmt.Errorf("creating CRD dir: %w", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("reading CRD: %w", err)
		}
		var kept []string
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, "{{") {
				kept = append(kept, line)
			}
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), []byte(strings.Join(kept, "\n")), 0o644); err != nil {
			return "", fmt.Errorf("writing CRD: %w", err)
		}
	}
	return dst, nil
}

// kubectl runs the cluster's kubectl with the admin kubeconfig.
func (c *Cluster) kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.bins.kubectl, append([]string{"--kubeconfig=" + c.layout.kubeconfig()}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// runQuiet runs a command for its exit status only.
func runQuiet(ctx context.Context, bin string, args ...string) error {
	return exec.CommandContext(ctx, bin, args...).Run()
}
