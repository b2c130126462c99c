package app

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/mazdermind/hostpath-provisioner/pkg/basepath"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/volume"
)

func envOf(m map[string]string) getenv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestTheOriginalsEnvironmentVariablesStillWork(t *testing.T) {
	o, err := Parse(nil, envOf(map[string]string{"PV_DIR": "/srv/volumes", "NODE_NAME": "n1", "PV_RECLAIM_POLICY": "Retain"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.BasePath != "/srv/volumes" || o.NodeName != "n1" || o.ReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
		t.Errorf("options = %+v", o)
	}
}

func TestFlagsWinOverEnvironment(t *testing.T) {
	o, err := Parse([]string{"--base-path=/data", "--node-name=n2"}, envOf(map[string]string{"PV_DIR": "/srv", "NODE_NAME": "n1"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.BasePath != "/data" || o.NodeName != "n2" {
		t.Errorf("options = %+v", o)
	}
}

func TestDefaultsNeverThrottleTheProvisioner(t *testing.T) {
	o, err := Parse([]string{"--node-name=n"}, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.BasePath != "/var/kubernetes" || o.KubeAPIQPS < 50 || o.KubeAPIBurst < 100 || o.Workers < 4 || !o.LeaderElect || !o.EnableWebhook {
		t.Errorf("defaults = %+v", o)
	}
}

func TestMetricsNeedATokenByDefault(t *testing.T) {
	o, err := Parse([]string{"--node-name=n"}, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !o.MetricsSecure || o.MetricsAddr != ":8443" || o.MetricsCertDir != "" {
		t.Errorf("metrics defaults: secure %v, address %q, cert dir %q; want HTTPS with authentication on :8443 and a self-signed certificate",
			o.MetricsSecure, o.MetricsAddr, o.MetricsCertDir)
	}
}

func TestInvalidOptionsNameFlagAndValue(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "--node-name=\"\": required"},
		{[]string{"--node-name=n", "--base-path=relative"}, `--base-path="relative": must be an absolute path`},
		{[]string{"--node-name=n", "--base-path=/"}, `--base-path="/"`},
		{[]string{"--node-name=n", "--reclaim-policy=Recycle"}, "--reclaim-policy=Recycle: must be Retain or Delete"},
		{[]string{"--node-name=n", "--workers=0"}, "--workers=0: must be at least 1"},
		{[]string{"--node-name=n", "--kube-api-qps=0"}, "--kube-api-qps=0: must be positive"},
		{[]string{"--node-name=n", "--webhook-port=70000"}, "--webhook-port=70000"},
		{[]string{"--node-name=n", "--lease-duration=1s"}, "--lease-duration=1s: must exceed --renew-deadline"},
		{[]string{"--node-name=n", "--metrics-secure=false", "--metrics-cert-dir=/certs"}, `--metrics-cert-dir="/certs": is only used with --metrics-secure=true`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := Parse(tt.args, envOf(nil), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestMainExitCodes(t *testing.T) {
	ran := false
	run := func(_ context.Context, o *Options) error { ran = true; return nil }
	var stderr bytes.Buffer
	if code := Main(context.Background(), []string{"--node-name=n"}, envOf(nil), &stderr, run); code != 0 || !ran {
		t.Errorf("valid: code %d ran %v", code, ran)
	}
	ran = false
	if code := Main(context.Background(), []string{"--workers=-1"}, envOf(nil), &stderr, run); code != 2 || ran {
		t.Errorf("invalid: code %d ran %v", code, ran)
	}
	if !strings.Contains(stderr.String(), "invalid configuration") {
		t.Errorf("stderr = %q", stderr.String())
	}
}

func TestBasePathCheckReportsOnceWhenItStartsAndStopsFailing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: making the base path read-only needs a bind mount (root)")
	}
	// A filesystem of its own, remounted read-only under the open base
	// path, as a failing disk or an admin would.
	dir := t.TempDir()
	run := func(args ...string) {
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			t.Fatalf("mount %v: %v %s", args, err, out)
		}
	}
	run("-t", "tmpfs", "-o", "size=1m", "tmpfs", dir)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v %s", dir, err, out)
		}
	})
	store, err := volume.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	events := record.NewFakeRecorder(10)
	c := &basePathCheck{stores: basepath.Single(policy.DefaultBasePathName, store), name: policy.DefaultBasePathName, recorder: events, node: &corev1.ObjectReference{Kind: "Node", Name: "n"}}
	if err := c.Check(nil); err != nil {
		t.Fatal(err)
	}
	run("-o", "remount,ro", dir)
	for range 2 {
		if err := c.Check(nil); err == nil {
			t.Fatal("a read-only base path must fail readiness")
		}
	}
	if n := len(events.Events); n != 1 {
		t.Fatalf("%d events for one failure, want 1", n)
	}
	if ev := <-events.Events; !strings.Contains(ev, "BasePathUnavailable") {
		t.Errorf("event = %q", ev)
	}
	run("-o", "remount,rw", dir)
	if err := c.Check(nil); err != nil {
		t.Fatalf("writable again: %v", err)
	}
	if ev := <-events.Events; !strings.Contains(ev, "BasePathAvailable") {
		t.Errorf("event = %q", ev)
	}
}

func TestABasePathConfigAddsNamedBasePathsToTheDefault(t *testing.T) {
	file := filepath.Join(t.TempDir(), "base-paths.yaml")
	if err := os.WriteFile(file, []byte("basePaths:\n- name: bulk\n  path: /mnt/bulk\n  mustBeMountpoint: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := Parse([]string{"--node-name=n", "--base-path-config=" + file}, envOf(map[string]string{"PV_DIR": "/srv"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(o.BasePaths.Names(), ","); got != "default,bulk" || o.BasePaths.BasePaths[0].Path != "/srv" || !o.BasePaths.BasePaths[1].MustBeMountpoint {
		t.Errorf("base paths = %+v", o.BasePaths)
	}
}

func TestABadBasePathConfigIsReportedWithTheOtherOptions(t *testing.T) {
	file := filepath.Join(t.TempDir(), "base-paths.yaml")
	if err := os.WriteFile(file, []byte("basePaths:\n- name: bulk\n  path: mnt\n- name: Fast\n  path: /mnt/fast\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Parse([]string{"--workers=0", "--base-path-config=" + file}, envOf(nil), &bytes.Buffer{})
	for _, want := range []string{"--node-name", "--workers=0", `basePaths[0].path="mnt"`, `basePaths[1].name="Fast"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
