// Package ociimage builds the hostpath-provisioner image without a Docker
// daemon: a multi-architecture OCI image index whose images are the static
// binary, cross-compiled by the Go toolchain, on a base layer made from
// Debian's files (the Dockerfile's distroless idea). Timestamps are fixed and
// entries sorted, so the same source, Go toolchain and Debian files give the
// same digests.
//
// `make image` and `make push` (hack/image) and the e2e tests
// (test/framework) call it, so the image the tests pull is the image shipped.
package ociimage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// Repository is where the image is published; dist/install.yaml names
	// Repository:<VERSION>.
	Repository = "ghcr.io/mazdermind/hostpath-provisioner"
	// Entrypoint is the binary's path in the image.
	Entrypoint = "/hostpath-provisioner"
	// Package is the binary's main package.
	Package = "./cmd/hostpath-provisioner"
	// VersionFile, at the repository root, holds the project's version: the
	// image tag and the org.opencontainers.image.version label.
	VersionFile = "VERSION"
)

// Epoch is the time of every layer entry, config and history record.
var Epoch = time.Unix(0, 0).UTC()

// Platforms are the platforms of the published index: PCs and servers,
// 64-bit ARM (Raspberry Pi 3/4/5 with a 64-bit OS) and 32-bit ARMv7
// (Raspberry Pi 2/3/4 with a 32-bit OS).
var Platforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64"},
	{OS: "linux", Architecture: "arm", Variant: "v7"},
}

// Labels are the image's org.opencontainers.image labels, the Dockerfile's
// (which sets the same), also given to the index as annotations.
func Labels(version string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "hostpath-provisioner",
		"org.opencontainers.image.description": "Kubernetes hostPath dynamic provisioner with an admission webhook",
		"org.opencontainers.image.source":      "https://github.com/mazdermind/hostpath-provisioner",
		"org.opencontainers.image.version":     version,
	}
}

var versionPattern = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)

// ReadVersion reads VERSION at the repository root, a semantic version with
// a leading v (v1.2.3, v1.2.3-rc.1): a valid image tag.
func ReadVersion(repoRoot string) (string, error) {
	b, err := os.ReadFile(filepath.Join(repoRoot, VersionFile))
	if err != nil {
		return "", fmt.Errorf("reading the project version: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if !versionPattern.MatchString(v) {
		return "", fmt.Errorf("%s holds %q, want a version like v1.2.3", VersionFile, v)
	}
	return v, nil
}

// PlatformString is p as os/arch[/variant], the form of --platform flags.
func PlatformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// BuildBinary cross-compiles the static binary for p into dir and returns
// its path: CGO_ENABLED=0 GOOS GOARCH [GOARM] go build -trimpath
// -buildvcs=false -ldflags="-s -w", the Dockerfile's build (whose context
// has no .git, hence no VCS stamp here either).
func BuildBinary(ctx context.Context, repoRoot, dir string, p v1.Platform) (string, error) {
	env := []string{"CGO_ENABLED=0", "GOOS=" + p.OS, "GOARCH=" + p.Architecture}
	switch {
	case p.Architecture == "arm" && strings.HasPrefix(p.Variant, "v"):
		env = append(env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	case p.Variant != "":
		return "", fmt.Errorf("platform %s: only arm has variants here", PlatformString(p))
	}
	out := filepath.Join(dir, strings.ReplaceAll(PlatformString(p), "/", "-"), "hostpath-provisioner")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, Package)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s for %s: %w\n%s", Package, PlatformString(p), err, b)
	}
	return out, nil
}

// Image is one platform's image: the base layer, then a layer holding only
// the binary at Entrypoint. It runs as 0:0 (see the Dockerfile for why).
func Image(base v1.Layer, binary string, p v1.Platform, version string) (v1.Image, error) {
	data, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("reading the binary: %w", err)
	}
	bin, err := newLayer([]entry{file(strings.TrimPrefix(Entrypoint, "/"), 0o755, data)})
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: p.Architecture,
		OS:           p.OS,
		Variant:      p.Variant,
		Created:      v1.Time{Time: Epoch},
		Config: v1.Config{
			Entrypoint: []string{Entrypoint},
			User:       "0:0",
			WorkingDir: "/",
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"SSL_CERT_FILE=/" + DebianFiles.CACertificates,
			},
			Labels: Labels(version),
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{
			Created:   v1.Time{Time: Epoch},
			CreatedBy: "hostpath-provisioner base: CA certificates, tzdata, /etc/passwd, /tmp (hack/image)",
		}},
		mutate.Addendum{Layer: bin, History: v1.History{
			Created:   v1.Time{Time: Epoch},
			CreatedBy: "COPY hostpath-provisioner " + Entrypoint + " (" + PlatformString(p) + ", hack/image)",
		}},
	)
}

// Options configure Build.
type Options struct {
	// RepoRoot is the module root: the source and VERSION.
	RepoRoot string
	// WorkDir receives the binaries.
	WorkDir string
	// Platforms default to Platforms.
	Platforms []v1.Platform
	// DebianRoot is where the base's files come from; default "/".
	DebianRoot string
	// Logf, when set, hears what is being built.
	Logf func(format string, args ...any)
}

// Build compiles the binary for every platform and returns the index (one
// image a platform, in the order given) and the version it carries.
func Build(ctx context.Context, o Options) (v1.ImageIndex, string, error) {
	if o.Platforms == nil {
		o.Platforms = Platforms
	}
	if o.DebianRoot == "" {
		o.DebianRoot = "/"
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	version, err := ReadVersion(o.RepoRoot)
	if err != nil {
		return nil, "", err
	}
	base, err := BaseLayer(o.DebianRoot)
	if err != nil {
		return nil, "", fmt.Errorf("building the base layer: %w", err)
	}
	var adds []mutate.IndexAddendum
	for _, p := range o.Platforms {
		t := time.Now()
		binary, err := BuildBinary(ctx, o.RepoRoot, o.WorkDir, p)
		if err != nil {
			return nil, "", err
		}
		img, err := Image(base, binary, p, version)
		if err != nil {
			return nil, "", fmt.Errorf("image for %s: %w", PlatformString(p), err)
		}
		logf("built %s in %.1fs", PlatformString(p), time.Since(t).Seconds())
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return Index(version, adds...), version, nil
}

// Index puts images into an OCI image index annotated like the images.
func Index(version string, images ...mutate.IndexAddendum) v1.ImageIndex {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	idx = mutate.AppendManifests(idx, images...)
	return mutate.Annotations(idx, Labels(version)).(v1.ImageIndex)
}
