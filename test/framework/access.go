package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Attach returns the running cluster recorded in stateDir (started by
// another process, for instance `cluster up`). Its Stop stops that cluster.
func Attach(stateDir string) (*Cluster, error) {
	opts := Options{StateDir: stateDir}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	l := layout{dir: opts.StateDir}
	st, found, err := readState(l)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("no cluster in %s (start one with `go run ./test/framework/cmd/cluster up`)", l.dir)
	}
	bins, err := findBinaries(opts.RepoRoot)
	if err != nil {
		return nil, err
	}
	opts.NodeName = st.NodeName
	c := &Cluster{opts: opts, layout: l, bins: bins, t0: st.StartedAt, state: st}
	if err := c.loadClients(l.kubeconfig()); err != nil {
		return nil, err
	}
	return c, nil
}

// Status describes the cluster in stateDir: each process and whether it
// runs. It fails when a recorded process has died.
func Status(stateDir string) (string, error) {
	l := layout{dir: stateDir}
	st, found, err := readState(l)
	if err != nil {
		return "", err
	}
	if !found {
		return fmt.Sprintf("no cluster in %s\n", stateDir), nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cluster in %s, node %s, started %s\n", stateDir, st.NodeName, st.StartedAt.Format("2006-01-02 15:04:05"))
	var dead []string
	for _, p := range st.Processes {
		state := "running"
		if !p.alive() {
			state = "NOT RUNNING"
			dead = append(dead, p.Name)
		}
		fmt.Fprintf(&b, "  %-24s pid %-7d %s  (log %s)\n", p.Name, p.PID, state, filepath.Join(l.logs(), p.Name+".log"))
	}
	fmt.Fprintf(&b, "export KUBECONFIG=%s\n", l.kubeconfig())
	if len(dead) > 0 {
		return b.String(), fmt.Errorf("not running: %s", strings.Join(dead, ", "))
	}
	return b.String(), nil
}

// RESTConfig is the admin (system:masters) client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.restConfig) }

// Clientset is an admin clientset.
func (c *Cluster) Clientset() kubernetes.Interface { return c.clientset }

// KubeconfigPath is the admin kubeconfig, <state>/kubeconfig.
func (c *Cluster) KubeconfigPath() string { return c.layout.kubeconfig() }

// NodeName is the name of the only node.
func (c *Cluster) NodeName() string { return c.opts.NodeName }

// StateDir holds all files of the cluster.
func (c *Cluster) StateDir() string { return c.layout.dir }

// LogDir holds <component>.log for every process of the cluster.
func (c *Cluster) LogDir() string { return c.layout.logs() }

// Kubectl runs the cluster's kubectl with the admin kubeconfig and returns
// its standard output; the error carries its standard error.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	return c.kubectl(ctx, args...)
}

// LoadImage imports an archive made by BuildImage into the node's
// containerd, where the kubelet finds it without pulling.
func (c *Cluster) LoadImage(ctx context.Context, archive string) error {
	if _, err := os.Stat(c.layout.containerdSocket()); err != nil {
		return fmt.Errorf("no containerd socket for this cluster: %w", err)
	}
	return importImage(ctx, c.bins.ctr, c.layout.containerdSocket(), archive)
}

// ImageDir is where images built for this cluster are best written.
func (c *Cluster) ImageDir() string { return c.layout.path("images") }
