package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// demo brings the cluster up, installs hostpath-provisioner from
// dist/install.yaml exactly as a user would (after cert-manager, which the
// cluster already runs), and walks the original quick start, printing each
// command and its output. Everything stays running for the user.
func demo(ctx context.Context) error {
	root, err := framework.RepoRoot()
	if err != nil {
		return err
	}
	binary := filepath.Join(root, "bin", "hostpath-provisioner")
	if _, err := os.Stat(binary); err != nil {
		return fmt.Errorf("%s missing: run `make build` (make demo does)", binary)
	}
	c, err := up(ctx)
	if err != nil {
		return err
	}
	step := func(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }
	run := func(args ...string) (string, error) {
		fmt.Printf("$ kubectl %s\n", strings.Join(args, " "))
		out, err := c.Kubectl(ctx, args...)
		fmt.Print(out)
		if err != nil {
			return out, fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
		}
		return out, nil
	}
	shell := func(cmd string) {
		fmt.Printf("$ %s\n", cmd)
		out, _ := exec.CommandContext(ctx, "sh", "-c", cmd).CombinedOutput()
		fmt.Print(string(out))
	}

	step("Loading the hostpath-provisioner image into the node's containerd")
	archive, err := framework.BuildProjectImage(c.ImageDir(), binary)
	if err != nil {
		return err
	}
	if err := c.LoadImage(ctx, archive); err != nil {
		return err
	}

	step("Installing dist/install.yaml (adapted to reach the loopback API server)")
	raw, err := os.ReadFile(filepath.Join(root, "dist", "install.yaml"))
	if err != nil {
		return err
	}
	adapted, err := framework.LoopbackManifest(raw)
	if err != nil {
		return err
	}
	manifest := filepath.Join(c.StateDir(), "install.yaml")
	if err := os.WriteFile(manifest, adapted, 0o644); err != nil {
		return err
	}
	if _, err := run("apply", "--server-side", "-f", manifest); err != nil {
		return err
	}
	step("Waiting for the provisioner to be Ready (certificate issued, CA injected)")
	if _, err := run("-n", "hostpath-provisioner", "rollout", "status", "daemonset/hostpath-provisioner", "--timeout=3m"); err != nil {
		return err
	}

	step("Quick start: a claim without storageClassName, and a pod that writes a file")
	if _, err := run("create", "-f", filepath.Join(root, "config/samples/test-claim.yaml")); err != nil {
		return err
	}
	if _, err := run("create", "-f", filepath.Join(root, "config/samples/test-pod.yaml")); err != nil {
		return err
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		out, err := c.Kubectl(ctx, "get", "pod", "hostpath-test-pod", "-o", "jsonpath={.status.phase}")
		return err == nil && out == "Succeeded", nil
	})
	if err != nil {
		return fmt.Errorf("waiting for hostpath-test-pod: %w", err)
	}
	if _, err := run("get", "pvc", "hostpath-test-claim"); err != nil {
		return err
	}
	shell("ls -la /var/kubernetes/default-hostpath-test-claim-pvc-*/ && cat /var/kubernetes/default-hostpath-test-claim-pvc-*/SUCCESS")

	step("Deleting pod and claim: the directory goes away")
	if _, err := run("delete", "pod", "hostpath-test-pod"); err != nil {
		return err
	}
	if _, err := run("delete", "pvc", "hostpath-test-claim"); err != nil {
		return err
	}
	_ = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(context.Context) (bool, error) {
		m, _ := filepath.Glob("/var/kubernetes/default-hostpath-test-claim-pvc-*")
		return len(m) == 0, nil
	})
	shell("ls -la /var/kubernetes/")

	step("Done. The cluster and the provisioner keep running:")
	fmt.Printf("  export KUBECONFIG=%s\n  kubectl get storageclass,pods -A\n  hostpath-provisioner check:  %s check --kubeconfig=%s --base-path=/var/kubernetes\n  stop everything:  make cluster-down\n",
		c.KubeconfigPath(), binary, c.KubeconfigPath())
	return nil
}
