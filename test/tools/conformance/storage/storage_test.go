// Package storage compiles the storage e2e suites of the pinned Kubernetes
// release into one test binary, e2e.test, for `make conformance`. Only the
// External Storage driver is linked in: the suites in
// test/e2e/storage/testsuites run against whatever StorageClass the driver
// definition (-storage.testdriver) names, which is how a provisioner that
// is not part of Kubernetes proves itself with the project's own tests.
//
// The runner here is ours; the specs are Kubernetes'. It parses the e2e
// framework's flags, checks the cluster has schedulable nodes once before
// any spec runs, and hands over to ginkgo.
package storage

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"testing"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"k8s.io/component-base/logs"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/test/e2e/framework"
	"k8s.io/kubernetes/test/e2e/framework/config"
	e2enode "k8s.io/kubernetes/test/e2e/framework/node"
	"k8s.io/kubernetes/test/e2e/framework/testfiles"
	e2etestingmanifests "k8s.io/kubernetes/test/e2e/testing-manifests"
	imageutils "k8s.io/kubernetes/test/utils/image"

	// The External Storage driver: -storage.testdriver=<file> defines the
	// suites for one driver definition.
	_ "k8s.io/kubernetes/test/e2e/storage/external"

	// Dump namespaces of failed specs and check node health the way the
	// full e2e binary does.
	_ "k8s.io/kubernetes/test/e2e/framework/debug/init"
	_ "k8s.io/kubernetes/test/e2e/framework/node/init"
)

// packedImages are the images of the suites that test/conformance packs,
// by the names it knows them by.
var packedImages = map[string]imageutils.ImageID{
	"busybox":           imageutils.BusyBox,
	"agnhost":           imageutils.Agnhost,
	"nginx":             imageutils.Nginx,
	"glibc-dns-testing": imageutils.GlibcDnsTesting,
	"pause":             imageutils.Pause,
}

func TestMain(m *testing.M) {
	printImages := flag.Bool("print-images", false, "print the image references the suites use, one `name reference` per line, and exit")
	config.CopyFlags(config.Flags, flag.CommandLine)
	framework.RegisterCommonFlags(flag.CommandLine)
	framework.RegisterClusterFlags(flag.CommandLine)
	flag.Parse()
	if *printImages {
		// The tags come from this release's test/utils/image, so the
		// images packed for the node are always the ones asked for.
		for _, name := range slices.Sorted(maps.Keys(packedImages)) {
			fmt.Println(name, imageutils.GetE2EImage(packedImages[name]))
		}
		os.Exit(0)
	}

	// The specs read their manifests (the any-volume-datasource populator,
	// for one) from the embedded testing-manifests; the driver definition
	// is read from the path given, absolute or below --repo-root.
	testfiles.AddFileSource(e2etestingmanifests.GetE2ETestingManifestsFS())
	framework.AfterReadingAllFlags(&framework.TestContext)
	if root := framework.TestContext.RepoRoot; root != "" {
		testfiles.AddFileSource(testfiles.RootFileSource{Root: root})
	}
	os.Exit(m.Run())
}

// Every ginkgo process waits for the cluster's nodes once: a spec that
// counts nodes (multiVolume, topology) must see them all.
var _ = ginkgo.SynchronizedBeforeSuite(func(ctx context.Context) []byte {
	c, err := framework.LoadClientset()
	framework.ExpectNoError(err, "loading a client from the kubeconfig")
	framework.ExpectNoError(e2enode.WaitForAllNodesSchedulable(ctx, c, framework.NewTimeoutContext().NodeSchedulable))
	return nil
}, func(ctx context.Context, _ []byte) {
	if framework.TestContext.CloudConfig.NumNodes == framework.DefaultNumNodes {
		c, err := framework.LoadClientset()
		framework.ExpectNoError(err, "loading a client from the kubeconfig")
		nodes, err := e2enode.GetReadySchedulableNodes(ctx, c)
		framework.ExpectNoError(err)
		framework.TestContext.CloudConfig.NumNodes = len(nodes.Items)
	}
})

func TestStorage(t *testing.T) {
	// InitLogs turns contextual logging off; the framework's own logs are
	// contextual, so it goes back on.
	logs.InitLogs()
	defer logs.FlushLogs()
	klog.EnableContextualLogging(true)

	gomega.RegisterFailHandler(framework.Fail)
	suite, reporter := framework.CreateGinkgoConfig()
	ginkgo.RunSpecs(t, "Kubernetes storage suites against hostpath-provisioner", suite, reporter)
}
