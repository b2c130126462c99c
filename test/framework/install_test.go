package framework

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

const twoDocs = `apiVersion: v1
kind: Namespace
metadata:
  name: hostpath-provisioner
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: hostpath-provisioner
spec:
  selector:
    matchLabels: {app: x}
  template:
    metadata:
      labels: {app: x}
    spec:
      containers:
        - name: hostpath-provisioner
          image: ghcr.io/mazdermind/hostpath-provisioner:v0.1.0
          imagePullPolicy: IfNotPresent
        - name: sidecar
          image: example.com/sidecar:v1
`

func TestManifestWithImageRepointsOnlyTheProjectsContainers(t *testing.T) {
	out, err := ManifestWithImage([]byte(twoDocs), RegistryHost+"/mazdermind/hostpath-provisioner:v0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(out), "\n---\n")
	if !strings.Contains(docs[0], "kind: Namespace") {
		t.Errorf("the Namespace changed:\n%s", docs[0])
	}
	var ds appsv1.DaemonSet
	if err := yaml.Unmarshal([]byte(docs[1]), &ds); err != nil {
		t.Fatal(err)
	}
	c := ds.Spec.Template.Spec.Containers
	if c[0].Image != RegistryHost+"/mazdermind/hostpath-provisioner:v0.1.0" || c[0].ImagePullPolicy != "IfNotPresent" {
		t.Errorf("provisioner container: image %s policy %s", c[0].Image, c[0].ImagePullPolicy)
	}
	if c[1].Image != "example.com/sidecar:v1" {
		t.Errorf("the sidecar's image changed to %s", c[1].Image)
	}
}

func TestManifestWithImageFailsWhenNoContainerRunsTheProjectsImage(t *testing.T) {
	renamed := strings.ReplaceAll(twoDocs, "ghcr.io/mazdermind/hostpath-provisioner", "hostpath-provisioner")
	if _, err := ManifestWithImage([]byte(renamed), "x"); err == nil {
		t.Fatal("a manifest without the project's image was accepted")
	}
}

func TestImageRepositoryDropsTagAndDigest(t *testing.T) {
	for ref, want := range map[string]string{
		"ghcr.io/mazdermind/hostpath-provisioner":                "ghcr.io/mazdermind/hostpath-provisioner",
		"ghcr.io/mazdermind/hostpath-provisioner:v1":             "ghcr.io/mazdermind/hostpath-provisioner",
		"ghcr.io/mazdermind/hostpath-provisioner@sha256:abc":     "ghcr.io/mazdermind/hostpath-provisioner",
		"ghcr.io/mazdermind/hostpath-provisioner:v1@sha256:abc":  "ghcr.io/mazdermind/hostpath-provisioner",
		"10.200.0.1:5000/mazdermind/hostpath-provisioner":        "10.200.0.1:5000/mazdermind/hostpath-provisioner",
		"10.200.0.1:5000/mazdermind/hostpath-provisioner:v0.1.0": "10.200.0.1:5000/mazdermind/hostpath-provisioner",
	} {
		if got := imageRepository(ref); got != want {
			t.Errorf("imageRepository(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestLoopbackManifestAndManifestWithImageCompose(t *testing.T) {
	loop, err := LoopbackManifest([]byte(twoDocs))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ManifestWithImage(loop, "example.com/mirror/hostpath-provisioner:v0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict([]byte(strings.Split(string(out), "\n---\n")[1]), &ds); err != nil {
		t.Fatal(err)
	}
	if !ds.Spec.Template.Spec.HostNetwork || ds.Spec.Template.Spec.Containers[0].Image != "example.com/mirror/hostpath-provisioner:v0.1.0" || ds.Kind != "DaemonSet" {
		t.Errorf("hostNetwork %v image %s kind %s", ds.Spec.Template.Spec.HostNetwork, ds.Spec.Template.Spec.Containers[0].Image, ds.Kind)
	}
}
