package framework

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// ReuseKubeconfigEnv names a kubeconfig of a running cluster that Main uses
// instead of starting one (and then leaves running): with `cluster up` in
// another terminal, test runs skip the start.
const ReuseKubeconfigEnv = "HPP_E2E_KUBECONFIG"

var (
	current  *Cluster
	crClient client.Client
	scheme   = newScheme()
)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	// core, storage, admissionregistration, apps and the rest of client-go's.
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := cmv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Main runs the tests of a package against one cluster: started before the
// tests and stopped after them, or the one named by HPP_E2E_KUBECONFIG. Call
// it from TestMain.
func Main(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// The tests' controller-runtime clients log API warnings through this;
	// unset, controller-runtime prints a stack trace instead.
	ctrllog.SetLogger(klog.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if _, ok := <-sigs; ok {
			cancel() // interrupts Start, which then cleans up
		}
	}()

	owned := false
	if kc := os.Getenv(ReuseKubeconfigEnv); kc != "" {
		c, err := attachKubeconfig(ctx, kc)
		if err != nil {
			fmt.Fprintf(os.Stderr, "using %s=%s: %v\n", ReuseKubeconfigEnv, kc, err)
			return 1
		}
		current = c
	} else {
		c, err := Start(ctx, Options{})
		if err != nil {
			fmt.Fprintf(os.Stderr, "starting the e2e cluster: %v\n", err)
			return 1
		}
		current, owned = c, true
	}
	var err error
	if crClient, err = client.New(current.RESTConfig(), client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintf(os.Stderr, "creating the controller-runtime client: %v\n", err)
		return 1
	}
	if owned {
		// A Ctrl-C while tests run: stop the cluster before dying, so the
		// host is clean even when the tests never finish.
		signal.Stop(sigs)
		interrupted := make(chan os.Signal, 1)
		signal.Notify(interrupted, os.Interrupt, syscall.SIGTERM)
		go func() {
			<-interrupted
			fmt.Fprintln(os.Stderr, "interrupted: stopping the e2e cluster")
			if err := current.Stop(context.Background()); err != nil {
				fmt.Fprintf(os.Stderr, "stopping the e2e cluster: %v\n", err)
			}
			os.Exit(130)
		}()
	}
	code := m.Run()
	if owned {
		if err := current.Stop(context.Background()); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the e2e cluster: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// attachKubeconfig uses a running cluster: one of ours (its state dir holds
// the kubeconfig) with everything, any other with clients only.
func attachKubeconfig(ctx context.Context, kubeconfig string) (*Cluster, error) {
	dir := filepath.Dir(kubeconfig)
	if _, err := os.Stat(layout{dir: dir}.stateFile()); err == nil {
		return Attach(dir)
	}
	opts := Options{StateDir: dir}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, layout: layout{dir: dir}}
	c.bins, _ = findBinaries(opts.RepoRoot) // kubectl, if built
	if err := c.loadClients(kubeconfig); err != nil {
		return nil, err
	}
	nodes, err := c.clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	if len(nodes.Items) > 0 {
		c.opts.NodeName = nodes.Items[0].Name
	}
	return c, nil
}

func mustCluster() *Cluster {
	if current == nil {
		panic("framework: no cluster; call framework.Main(m) from TestMain")
	}
	return current
}

// Current is the cluster of this test binary.
func Current() *Cluster { return mustCluster() }

// RESTConfig is the admin client configuration of the test cluster.
func RESTConfig() *rest.Config { return mustCluster().RESTConfig() }

// Clientset is an admin clientset for the test cluster.
func Clientset() kubernetes.Interface { return mustCluster().Clientset() }

// Client is an admin controller-runtime client whose scheme knows the
// client-go types and cert-manager's v1 types.
func Client() client.Client {
	mustCluster()
	return crClient
}

// Scheme is the scheme of Client.
func Scheme() *runtime.Scheme { return scheme }

// KubeconfigPath is the admin kubeconfig of the test cluster.
func KubeconfigPath() string { return mustCluster().KubeconfigPath() }

// NodeName is the name of the test cluster's node.
func NodeName() string { return mustCluster().NodeName() }

// StateDir is the test cluster's state dir.
func StateDir() string { return mustCluster().StateDir() }

// LoadImage imports an image archive made by BuildImage into the test
// cluster's node.
func LoadImage(ctx context.Context, archive string) error {
	return mustCluster().LoadImage(ctx, archive)
}

// KubectlBinary is the path of the cluster's kubectl, for tools that run it
// themselves (the Kubernetes e2e framework).
func KubectlBinary() string { return mustCluster().bins.kubectl }
