package framework

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/mazdermind/hostpath-provisioner/hack/image/ociimage"
)

// ProjectImage is the repository of the published image; dist/install.yaml
// names ProjectImage:<VERSION> (ProjectImageRef).
const ProjectImage = ociimage.Repository

// ProjectImageRef is the image the install manifest names:
// ProjectImage:<VERSION>.
func ProjectImageRef() (string, error) {
	version, err := projectVersion()
	return ProjectImage + ":" + version, err
}

func projectVersion() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return ociimage.ReadVersion(root)
}

// BuildProjectImage writes an OCI archive of the project's image for this
// machine's platform, holding binary, into dir and returns its path, named
// ProjectImageRef: LoadImage makes it available to the node as if pulled
// (the way to install on a node without registry access). It is `make
// image`'s image (hack/image/ociimage) for one platform and a given binary;
// PushProjectImage is the way a user's node gets it.
func BuildProjectImage(dir, binary string) (string, error) {
	version, err := projectVersion()
	if err != nil {
		return "", err
	}
	base, err := ociimage.BaseLayer("/")
	if err != nil {
		return "", err
	}
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	img, err := ociimage.Image(base, binary, p, version)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	archive := filepath.Join(dir, "hostpath-provisioner.oci.tar")
	idx := ociimage.Index(version, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	if err := ociimage.WriteArchive(archive, idx, ProjectImage+":"+version); err != nil {
		return "", err
	}
	return archive, nil
}

// LoopbackManifest adapts an install manifest to this cluster, changing one
// thing: the API server listens on 127.0.0.1 only and there is no
// kube-proxy, so the DaemonSet uses the host network and reaches the API
// server at 127.0.0.1:6443 (and, as two pods on one host network cannot
// share ports, rolls out by replacing its pod rather than surging). Everything else (RBAC, probes, certificates,
// webhook Service routing) stays as users apply it.
func LoopbackManifest(manifest []byte) ([]byte, error) {
	return editDaemonSets(manifest, func(ds *appsv1.DaemonSet) error {
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
		return nil
	})
}

// ManifestWithImage points every container of the manifest's DaemonSets
// that runs the project's image (ProjectImage with any tag or digest) at
// image instead: the copy in the e2e registry (PushProjectImage), as a user
// points the manifest at a mirror. Nothing else changes, imagePullPolicy
// included. It fails when no container runs the project's image, so a
// renamed image cannot slip past the tests.
func ManifestWithImage(manifest []byte, image string) ([]byte, error) {
	replaced := 0
	out, err := editDaemonSets(manifest, func(ds *appsv1.DaemonSet) error {
		for i := range ds.Spec.Template.Spec.Containers {
			c := &ds.Spec.Template.Spec.Containers[i]
			if imageRepository(c.Image) == ProjectImage {
				c.Image = image
				replaced++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if replaced == 0 {
		return nil, fmt.Errorf("no DaemonSet container runs %s", ProjectImage)
	}
	return out, nil
}

// imageRepository is an image reference without its tag and digest.
func imageRepository(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// editDaemonSets applies edit to every DaemonSet of a multi-document
// manifest and leaves the other documents as they are.
func editDaemonSets(manifest []byte, edit func(*appsv1.DaemonSet) error) ([]byte, error) {
	var out bytes.Buffer
	for _, doc := range strings.Split(string(manifest), "\n---\n") {
		if strings.Contains(doc, "\nkind: DaemonSet\n") {
			var ds appsv1.DaemonSet
			if err := yaml.UnmarshalStrict([]byte(doc), &ds); err != nil {
				return nil, fmt.Errorf("decoding the DaemonSet: %w", err)
			}
			if err := edit(&ds); err != nil {
				return nil, err
			}
			ds.APIVersion, ds.Kind = "apps/v1", "DaemonSet"
			b, err := yaml.Marshal(&ds)
			if err != nil {
				return nil, err
			}
			doc = string(b)
		}
		out.WriteString(doc + "\n---\n")
	}
	return out.Bytes(), nil
}
