package framework

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultNodeName is the name of the cluster's only node.
const DefaultNodeName = "hpp-node-1"

// Options configure Start. The zero value is usable.
type Options struct {
	// StateDir holds everything of the cluster; default StateDirFromEnv().
	StateDir string
	// NodeName of the kubelet; default DefaultNodeName.
	NodeName string
	// RepoRoot is where bin/cluster and test/images are; default RepoRoot().
	RepoRoot string
	// Logf receives progress lines; default: stderr with a "[cluster]" prefix.
	Logf func(format string, args ...any)
	// ReadyTimeout bounds the wait for each component; default 2 minutes.
	ReadyTimeout time.Duration
}

func (o *Options) setDefaults() error {
	if o.StateDir == "" {
		o.StateDir = StateDirFromEnv()
	}
	if o.NodeName == "" {
		o.NodeName = DefaultNodeName
	}
	if o.RepoRoot == "" {
		r, err := RepoRoot()
		if err != nil {
			return err
		}
		o.RepoRoot = r
	}
	if o.Logf == nil {
		o.Logf = stderrLogf
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 2 * time.Minute
	}
	return nil
}

func stderrLogf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[cluster] "+format+"\n", args...)
}

// Cluster is a running single-node cluster, started by Start or found by
// Attach.
type Cluster struct {
	opts   Options
	layout layout
	bins   binaries
	pki    pki
	t0     time.Time

	mu    sync.Mutex
	state stateFile

	restConfig *rest.Config
	clientset  kubernetes.Interface

	stopOnce sync.Once
	stopErr  error
}

// Start cleans up whatever a previous cluster in the same state dir left
// behind, then starts a new one and returns once the node is Ready, the
// `default` ServiceAccount exists and cert-manager runs. On failure it
// cleans up what it started; the logs stay in <state>/logs.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	bins, err := findBinaries(opts.RepoRoot)
	if err != nil {
		return nil, err
	}
	l := layout{dir: opts.StateDir}
	if err := Down(ctx, l.dir, opts.Logf); err != nil {
		return nil, fmt.Errorf("cleaning up the previous cluster in %s: %w", l.dir, err)
	}
	if err := checkPortsFree(); err != nil {
		return nil, err
	}
	if err := resetStateDir(l); err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, layout: l, bins: bins, t0: time.Now()}
	snap, err := takeSnapshot()
	if err != nil {
		return nil, err
	}
	c.state = stateFile{NodeName: opts.NodeName, StartedAt: c.t0, Host: snap}
	if err := writeState(l, c.state); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.logf("start failed, cleaning up (logs stay in %s)", l.logs())
			if derr := c.Stop(context.WithoutCancel(ctx)); derr != nil {
				err = errors.Join(err, fmt.Errorf("cleaning up after the failed start: %w", derr))
			}
		}
	}()
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	c.logf("cluster ready in %.1fs: export KUBECONFIG=%s", time.Since(c.t0).Seconds(), l.kubeconfig())
	return c, nil
}

func resetStateDir(l layout) error {
	// Down unmounted everything; refuse to delete through a mount anyway.
	if m := mountsUnder(l.dir); len(m) > 0 {
		return fmt.Errorf("state dir %s still has mounts: %v", l.dir, m)
	}
	if err := os.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("clearing state dir: %w", err)
	}
	for _, d := range []string{l.logs(), l.path("kubeconfigs"), l.path("images"), l.path("kubelet"), l.path("pod-logs"), l.path("kubelet-plugins"), l.path("runc")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	return nil
}

// checkPortsFree fails fast, with the port, when another cluster (or
// anything else) holds one of our loopback ports.
func checkPortsFree() error {
	for _, port := range clusterPorts {
		ln, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			return fmt.Errorf("port 127.0.0.1:%s is taken (another cluster running? try `go run ./test/framework/cmd/cluster down`): %w", port, err)
		}
		ln.Close()
	}
	return nil
}

func (c *Cluster) logf(format string, args ...any) { c.opts.Logf(format, args...) }

func (c *Cluster) start(ctx context.Context) error {
	added, err := addNodeIP()
	c.state.Host.AddedNodeIP = added
	if werr := writeState(c.layout, c.state); werr != nil {
		return errors.Join(err, werr)
	}
	if err != nil {
		return err
	}
	if err := routeServiceIP(); err != nil {
		return err
	}
	if c.pki, err = generatePKI(c.layout.pki(), c.opts.NodeName, net.ParseIP(nodeIP)); err != nil {
		return err
	}
	server := "https://127.0.0.1:" + apiServerPort
	for _, k := range []struct{ cert, dest string }{
		{"admin", c.layout.kubeconfig()},
		{"controller-manager", c.layout.componentKubeconfig("controller-manager")},
		{"scheduler", c.layout.componentKubeconfig("scheduler")},
		{"kubelet-client", c.layout.componentKubeconfig("kubelet")},
	} {
		if err := writeKubeconfig(c.pki, server, k.cert, k.dest); err != nil {
			return err
		}
	}
	if err := c.loadClients(c.layout.kubeconfig()); err != nil {
		return err
	}

	// The control plane and the node start side by side; the kubelet is the
	// only piece of the node that needs the apiserver.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	apiReady := make(chan struct{})
	err = parallel(cancel,
		func() error {
			if err := c.startControlPlane(ctx); err != nil {
				return err
			}
			close(apiReady)
			return parallel(cancel,
				func() error { return c.startControllers(ctx) },
				func() error { return c.startCertManager(ctx) },
			)
		},
		func() error { return c.startNode(ctx, apiReady) },
	)
	if err != nil {
		return err
	}
	// Pods cannot be created before their namespace's ServiceAccount exists.
	return c.waitFor(ctx, "default ServiceAccount", func(ctx context.Context) (bool, error) {
		_, err := c.clientset.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

// parallel runs fns concurrently and returns all their errors; the first
// error cancels the others' context through cancel.
func parallel(cancel context.CancelFunc, fns ...func() error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(fns))
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = fn(); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Cluster) loadClients(kubeconfig string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
	}
	// Tests create objects in bursts; the default 5 QPS makes them wait.
	cfg.QPS, cfg.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("creating clientset: %w", err)
	}
	c.restConfig, c.clientset = cfg, cs
	return nil
}

// run starts a component and waits until ready says so, failing early (with
// the end of its log) when the process exits.
func (c *Cluster) run(ctx context.Context, name, bin string, args []string, ready func(context.Context) bool) error {
	p, rec, err := startProcess(c.layout.logs(), name, bin, args, nil)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.state.Processes = append(c.state.Processes, rec)
	err = writeState(c.layout, c.state)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, c.opts.ReadyTimeout, true, func(ctx context.Context) (bool, error) {
		if p.exited() {
			if p.waitErr == nil {
				return false, fmt.Errorf("%s exited (status 0)", name)
			}
			return false, fmt.Errorf("%s exited (%w)", name, p.waitErr)
		}
		return ready(ctx), nil
	})
	if err != nil {
		return fmt.Errorf("%s not ready: %w; end of %s:\n%s", name, err, p.logPath, tailFile(p.logPath, 25))
	}
	c.logf("%-24s ready after %4.1fs (%4.1fs since start, pid %d)", name, time.Since(p.started).Seconds(), time.Since(c.t0).Seconds(), rec.PID)
	return nil
}

// waitFor polls a cluster-wide condition and prints when it holds.
func (c *Cluster) waitFor(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	t := time.Now()
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, c.opts.ReadyTimeout, true, cond); err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	c.logf("%-24s ready after %4.1fs (%4.1fs since start)", what, time.Since(t).Seconds(), time.Since(c.t0).Seconds())
	return nil
}

var healthClient = &http.Client{
	Timeout: 2 * time.Second,
	// Health endpoints on loopback with the components' self-signed
	// serving certificates: there is nothing to verify them against.
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // loopback health checks
}

func httpOK(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := healthClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (c *Cluster) startControlPlane(ctx context.Context) error {
	if err := c.run(ctx, "etcd", c.bins.etcd, etcdArgs(c.layout.path("etcd")), func(ctx context.Context) bool {
		return httpOK(ctx, "http://127.0.0.1:"+etcdClientPort+"/health")
	}); err != nil {
		return err
	}
	return c.run(ctx, "kube-apiserver", c.bins.apiserver, apiServerArgs(c.pki), func(ctx context.Context) bool {
		_, err := c.clientset.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil
	})
}

func (c *Cluster) startControllers(ctx context.Context) error {
	return parallel(func() {},
		func() error {
			return c.run(ctx, "kube-controller-manager", c.bins.controllerManager,
				controllerManagerArgs(c.pki, c.layout.componentKubeconfig("controller-manager")),
				func(ctx context.Context) bool {
					return httpOK(ctx, "https://127.0.0.1:"+controllerManagerPort+"/healthz")
				})
		},
		func() error {
			return c.run(ctx, "kube-scheduler", c.bins.scheduler, schedulerArgs(c.layout.componentKubeconfig("scheduler")),
				func(ctx context.Context) bool { return httpOK(ctx, "https://127.0.0.1:"+schedulerPort+"/healthz") })
		},
	)
}

func (c *Cluster) startNode(ctx context.Context, apiReady <-chan struct{}) error {
	containerdConfig, err := writeContainerdConfig(c.layout)
	if err != nil {
		return err
	}
	if err := writeCNIConfig(c.layout); err != nil {
		return err
	}
	kubeletConfig, err := writeKubeletConfig(c.layout, c.pki)
	if err != nil {
		return err
	}
	// Build the images while containerd starts.
	var archives []string
	imagesBuilt := make(chan error, 1)
	go func() {
		pause, err := buildPauseImage(ctx, c.opts.RepoRoot, c.layout.path("images"))
		if err != nil {
			imagesBuilt <- err
			return
		}
		busybox, err := buildBusyboxImage(c.layout.path("images"))
		archives = []string{pause, busybox}
		imagesBuilt <- err
	}()
	if err := c.run(ctx, "containerd", c.bins.containerd, []string{"--config", containerdConfig}, func(ctx context.Context) bool {
		return runQuiet(ctx, c.bins.ctr, "--address", c.layout.containerdSocket(), "version") == nil
	}); err != nil {
		return err
	}
	select {
	case err := <-imagesBuilt:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	t := time.Now()
	for _, a := range archives {
		if err := importImage(ctx, c.bins.ctr, c.layout.containerdSocket(), a); err != nil {
			return err
		}
	}
	c.logf("%-24s ready after %4.1fs (%4.1fs since start)", "images", time.Since(t).Seconds(), time.Since(c.t0).Seconds())
	select {
	case <-apiReady:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := c.run(ctx, "kubelet", c.bins.kubelet,
		kubeletArgs(c.layout, kubeletConfig, c.layout.componentKubeconfig("kubelet"), c.opts.NodeName),
		func(ctx context.Context) bool { return httpOK(ctx, "http://127.0.0.1:"+kubeletHealthzPort+"/healthz") }); err != nil {
		return err
	}
	return c.waitFor(ctx, "node "+c.opts.NodeName, func(ctx context.Context) (bool, error) {
		n, err := c.clientset.CoreV1().Nodes().Get(ctx, c.opts.NodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || err != nil {
			return false, nil
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
}

// Stop stops the cluster and undoes every change to the host. Calls after
// the first (an interrupt racing the end of the tests) wait for it and
// return its result.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() { c.stopErr = Down(ctx, c.layout.dir, c.opts.Logf) })
	return c.stopErr
}
