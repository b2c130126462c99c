package manifests_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/mazdermind/hostpath-provisioner/hack/image/ociimage"
)

// The manifest names the image `make image` builds and `make push`
// publishes, at the project version: one fact (VERSION) for the tag.
func TestInstallManifestNamesThePublishedImageAtTheProjectVersion(t *testing.T) {
	version, err := ociimage.ReadVersion(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	ds := one[*appsv1.DaemonSet](t, loadInstall(t), "hostpath-provisioner")
	want := ociimage.Repository + ":" + version
	if got := ds.Spec.Template.Spec.Containers[0].Image; got != want {
		t.Errorf("%s names image %s, want %s (config/default/kustomization.yaml images: newTag is VERSION)", installPath, got, want)
	}
}
