// Command loopback-postrender is a Helm post-renderer for the e2e loopback
// cluster: it reads the rendered chart on stdin and writes it to stdout
// adapted exactly as the install test adapts dist/install.yaml:
// framework.LoopbackManifest (host network, the API server at
// 127.0.0.1:6443, rollouts that replace the pod) and, with -image,
// framework.ManifestWithImage (the project's image from the e2e registry,
// as a user points a manifest at a mirror). So `helm install` and
// `helm upgrade` install the chart with its values untouched, on a cluster
// without kube-proxy:
//
//	helm install ... --post-renderer <this binary> --post-renderer-args -image=<ref>
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

func main() {
	image := flag.String("image", "", "image the DaemonSet runs instead of the project's published one (empty: unchanged)")
	flag.Parse()
	if err := run(*image, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "loopback-postrender: %v\n", err)
		os.Exit(1)
	}
}

func run(image string, in io.Reader, out io.Writer) error {
	rendered, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("reading the rendered chart: %w", err)
	}
	adapted, err := framework.LoopbackManifest(rendered)
	if err != nil {
		return err
	}
	if image != "" {
		if adapted, err = framework.ManifestWithImage(adapted, image); err != nil {
			return err
		}
	}
	_, err = out.Write(adapted)
	return err
}
