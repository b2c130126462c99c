package framework

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// ProjectImage is the image name dist/install.yaml uses
// (hostpath-provisioner:latest), as containerd normalises it.
const ProjectImage = "docker.io/library/hostpath-provisioner"

// BuildProjectImage writes an image archive of the hostpath-provisioner
// binary on an empty base (the shape of the Dockerfile's distroless image)
// into dir and returns its path; LoadImage makes it available to the node.
func BuildProjectImage(dir, binary string) (string, error) {
	return BuildImage(dir, ProjectImage, "latest", map[string]FileSpec{
		"/hostpath-provisioner": {Mode: 0o755, Source: binary},
		"/tmp":                  {Mode: fs.ModeDir | 0o1777},
	}, []string{"/hostpath-provisioner"})
}

// LoopbackManifest adapts an install manifest to this cluster, changing one
// thing: the API server listens on 127.0.0.1 only and there is no
// kube-proxy, so the DaemonSet uses the host network and reaches the API
// server at 127.0.0.1:6443 (and, as two pods on one host network cannot
// share ports, rolls out by replacing its pod rather than surging). Everything else (RBAC, probes, certificates,
// webhook Service routing) stays as users apply it.
func LoopbackManifest(manifest []byte) ([]byte, error) {
	var out bytes.Buffer
	for _, doc := range strings.Split(string(manifest), "\n---\n") {
		if strings.Contains(doc, "\nkind: DaemonSet\n") {
			var ds appsv1.DaemonSet
			if err := yaml.UnmarshalStrict([]byte(doc), &ds); err != nil {
				return nil, fmt.Errorf("decoding the DaemonSet: %w", err)
			}
			spec := &ds.Spec.Template.Spec
			spec.HostNetwork = true
			// On the host network a second pod cannot bind the same ports, so
			// a rollout here replaces the pod instead of surging.
			if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil {
				zero, one := intstr.FromInt32(0), intstr.FromInt32(1)
				ru.MaxSurge, ru.MaxUnavailable = &zero, &one
			}
			spec.DNSPolicy = corev1.DNSClusterFirstWithHostNet
			for i := range spec.Containers {
				spec.Containers[i].Env = append(spec.Containers[i].Env,
					corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: "127.0.0.1"},
					corev1.EnvVar{Name: "KUBERNETES_SERVICE_PORT", Value: "6443"})
			}
			b, err := yaml.Marshal(&ds)
			if err != nil {
				return nil, err
			}
			doc = "apiVersion: apps/v1\nkind: DaemonSet\n" + string(b)
		}
		out.WriteString(doc + "\n---\n")
	}
	return out.Bytes(), nil
}
