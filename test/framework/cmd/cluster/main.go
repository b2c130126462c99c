// Command cluster starts, stops and inspects the loopback e2e cluster for
// manual use: `up` leaves it running, `down` stops it and cleans the host,
// `status` tells whether its processes run. The state dir is
// CLUSTER_STATE_DIR (default /var/tmp/hostpath-provisioner-e2e).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

func main() {
	if len(os.Args) != 2 {
		usage()
	}
	// Ctrl-C during `up` stops the half-started cluster cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "up":
		_, err = up(ctx)
	case "demo":
		err = demo(ctx)
	case "down":
		err = framework.Down(ctx, framework.StateDirFromEnv(), nil)
	case "status":
		var out string
		out, err = framework.Status(framework.StateDirFromEnv())
		fmt.Print(out)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cluster %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// up starts a cluster and leaves it running after this process exits.
func up(ctx context.Context) (*framework.Cluster, error) {
	c, err := framework.Start(ctx, framework.Options{})
	if err != nil {
		return nil, err
	}
	fmt.Printf("export KUBECONFIG=%s\n", c.KubeconfigPath())
	return c, nil
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: cluster up|demo|down|status")
	os.Exit(2)
}
