package framework

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

// Provisioner is our binary running on the host as the cluster's
// node would run it: same kubeconfig, same node name, its own base path.
type Provisioner struct {
	t       testing.TB
	args    []string
	env     []string
	logPath string
	probe   string
	metrics MetricsEndpoint
	cmd     *exec.Cmd
	exited  chan struct{}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// ProvisionerBinary builds the binary under test once per run, so the tests
// always exercise the current source (the Go build cache makes it cheap).
func ProvisionerBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(StateDir(), "bin", "hostpath-provisioner")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/hostpath-provisioner")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building hostpath-provisioner: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// StartProvisioner runs the provisioner for the cluster's node on base,
// with the webhook and the lease off unless args turn them on, and waits
// until it reports ready. It is stopped when the test ends. /metrics is
// served as installed: HTTPS to authorized bearer tokens only, with a
// certificate for 127.0.0.1 from --metrics-cert-dir (Metrics says how to
// verify it).
func StartProvisioner(t testing.TB, base string, args ...string) *Provisioner {
	t.Helper()
	certDir := t.TempDir()
	ca, err := LoopbackServingCert(certDir)
	if err != nil {
		t.Fatalf("making the /metrics certificate: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	p := &Provisioner{t: t, probe: FreeAddr(t), metrics: MetricsEndpoint{Addr: FreeAddr(t), RootCAs: roots}}
	p.args = append([]string{
		"--kubeconfig=" + KubeconfigPath(),
		"--node-name=" + NodeName(),
		"--base-path=" + base,
		"--enable-webhook=false",
		"--leader-elect=false",
		"--metrics-bind-address=" + p.metrics.Addr,
		"--metrics-cert-dir=" + certDir,
		"--health-probe-bind-address=" + p.probe,
		"--namespace=kube-system",
		"-v=2",
	}, args...)
	logName := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	p.logPath = filepath.Join(StateDir(), "logs", "hostpath-provisioner-"+logName+".log")
	p.start()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("hostpath-provisioner log (%s):\n%s", p.logPath, tailLines(p.logPath, 60))
		}
		forgetVolumes(t, base)
	})
	return p
}

func (p *Provisioner) start() {
	p.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	p.cmd = exec.Command(ProvisionerBinary(p.t), p.args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.Env = append(os.Environ(), p.env...)
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("starting hostpath-provisioner: %v", err)
	}
	p.exited = make(chan struct{})
	go func() {
		_ = p.cmd.Wait() // how it ended is read from p.cmd.ProcessState
		logf.Close()
		close(p.exited)
	}()
	p.waitReady()
}

func (p *Provisioner) waitReady() {
	p.t.Helper()
	WaitFor(p.t, 60*time.Second, func() (bool, error) {
		select {
		case <-p.exited:
			return false, fmt.Errorf("hostpath-provisioner exited during start:\n%s", tailLines(p.logPath, 30))
		default:
		}
		resp, err := http.Get("http://" + p.probe + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && p.metricsListening(), nil
	})
}

// metricsListening reports whether /metrics accepts connections: the
// manager starts its metrics server next to, not before, the probes.
func (p *Provisioner) metricsListening() bool {
	addr := p.metrics.Addr
	for _, a := range p.args {
		if v, ok := strings.CutPrefix(a, "--metrics-bind-address="); ok {
			addr = v
		}
	}
	if addr == "0" {
		return true
	}
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// Stop ends the process gracefully, as a rolling update would.
func (p *Provisioner) Stop() { p.signal(syscall.SIGTERM) }

// Kill ends the process at once, as a crash or OOM kill would.
func (p *Provisioner) Kill() { p.signal(syscall.SIGKILL) }

func (p *Provisioner) signal(sig syscall.Signal) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// Restart starts the process again with the same arguments.
func (p *Provisioner) Restart() {
	p.t.Helper()
	p.Stop()
	p.start()
}

func tailLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// RestartWithArgs starts the process again with extra arguments (later
// flags win), keeping the environment.
func (p *Provisioner) RestartWithArgs(args ...string) {
	p.t.Helper()
	p.Stop()
	p.args = append(p.args, args...)
	p.start()
}

// ProbeAddr is the /healthz, /readyz address.
func (p *Provisioner) ProbeAddr() string { return p.probe }

// MetricsAddr is the /metrics address (host:port).
func (p *Provisioner) MetricsAddr() string { return p.metrics.Addr }

// Metrics is the /metrics endpoint, for Scrape.
func (p *Provisioner) Metrics() MetricsEndpoint { return p.metrics }

// PID is the running process's id.
func (p *Provisioner) PID() int { return p.cmd.Process.Pid }

// WaitCrashed waits for the process to die on its own (at a failpoint).
func (p *Provisioner) WaitCrashed(timeout time.Duration) {
	p.t.Helper()
	select {
	case <-p.exited:
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			p.t.Fatalf("provisioner exited with %v, want death by SIGKILL at the failpoint:\n%s", p.cmd.ProcessState, tailLines(p.logPath, 30))
		}
	case <-time.After(timeout):
		p.t.Fatalf("provisioner did not reach its failpoint within %s:\n%s", timeout, tailLines(p.logPath, 30))
	}
}

// RestartWith starts the process again with a different environment.
func (p *Provisioner) RestartWith(env ...string) {
	p.t.Helper()
	p.Stop()
	p.env = env
	p.start()
}

// ForgetVolumes deletes the PV objects of another base path a test's
// provisioner served (--base-path-config), as its cleanup does for
// --base-path.
func ForgetVolumes(t testing.TB, base string) { t.Cleanup(func() { forgetVolumes(t, base) }) }

// forgetVolumes deletes the PV objects of a test's base path once its
// provisioner is gone, so Released volumes of one test do not linger for
// the rest of the run (and the base path itself is a temporary directory).
func forgetVolumes(t testing.TB, base string) {
	ctx := context.Background()
	pvs, err := Clientset().CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("listing PVs for cleanup: %v", err)
		return
	}
	for _, pv := range pvs.Items {
		if pv.Annotations[policy.AnnBasePath] != base {
			continue
		}
		patch := []byte(`{"metadata":{"finalizers":null}}`)
		_, _ = Clientset().CoreV1().PersistentVolumes().Patch(ctx, pv.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		_ = Clientset().CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
	}
}
