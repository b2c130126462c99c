package framework

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/mazdermind/hostpath-provisioner/hack/image/ociimage"
)

// The e2e registry: go-containerregistry's registry served by the test
// process on the node's address, so the kubelet pulls the image under test
// the way a user's kubelet pulls ours: by name, over the network, through
// containerd's registry configuration (writeRegistryHosts says it is plain
// HTTP).

// registryPort is fixed because containerd's certs.d names host:port; only
// one cluster runs on a machine.
const registryPort = "5000"

// RegistryHost is host:port of the e2e registry.
const RegistryHost = nodeIP + ":" + registryPort

// Registry is a running e2e registry. It keeps images in memory and
// records every manifest request, so a test can tell that the node pulled.
type Registry struct {
	srv  *http.Server
	done chan error

	mu       sync.Mutex
	requests []ManifestRequest
}

// ManifestRequest is one request for a manifest: what a pull starts with.
type ManifestRequest struct {
	Method, Repository, Reference string
}

// StartRegistry serves an empty registry at RegistryHost, logging requests
// to logPath, until Close.
func StartRegistry(logPath string) (*Registry, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the registry log: %w", err)
	}
	ln, err := net.Listen("tcp", RegistryHost)
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("the e2e registry cannot listen on %s (is the cluster up, and nothing else on the port?): %w", RegistryHost, err)
	}
	r := &Registry{done: make(chan error, 1)}
	h := registry.New(registry.Logger(log.New(logFile, "", log.LstdFlags|log.Lmicroseconds)))
	r.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			r.record(req)
			h.ServeHTTP(w, req)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		err := r.srv.Serve(ln)
		logFile.Close()
		r.done <- err
	}()
	return r, nil
}

// record notes GET and HEAD /v2/<repository>/manifests/<reference>.
func (r *Registry) record(req *http.Request) {
	rest, ok := strings.CutPrefix(req.URL.Path, "/v2/")
	if !ok || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		return
	}
	i := strings.LastIndex(rest, "/manifests/")
	if i < 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, ManifestRequest{Method: req.Method, Repository: rest[:i], Reference: rest[i+len("/manifests/"):]})
}

// Close stops the registry.
func (r *Registry) Close(ctx context.Context) error {
	err := r.srv.Shutdown(ctx)
	if serveErr := <-r.done; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}

// PushedImage is the project's image in the e2e registry.
type PushedImage struct {
	// Ref is the image as a manifest names it: RegistryHost, the
	// published repository's path and the VERSION tag.
	Ref string
	// Repository is the path in the registry
	// (mazdermind/hostpath-provisioner), Tag the version.
	Repository, Tag string
	// Digest is the index's digest: pulled, it makes a container's imageID
	// Ref's repository@Digest.
	Digest   string
	Registry *Registry
	// pushRequests is how many requests the registry had seen when the
	// push ended (the pusher's own HEADs).
	pushRequests int
}

// Pulls returns the manifest requests for the image made after its push:
// a node pulling it (containerd resolves the tag, then GETs the index and
// its platform's manifest by digest).
func (p *PushedImage) Pulls() []ManifestRequest {
	p.Registry.mu.Lock()
	after := append([]ManifestRequest(nil), p.Registry.requests[p.pushRequests:]...)
	p.Registry.mu.Unlock()
	var out []ManifestRequest
	for _, m := range after {
		if m.Repository == p.Repository {
			out = append(out, m)
		}
	}
	return out
}

// Pulled reports whether a pull fetched the index since the push.
func (p *PushedImage) Pulled() bool {
	for _, m := range p.Pulls() {
		if m.Method == http.MethodGet && (m.Reference == p.Digest || m.Reference == p.Tag) {
			return true
		}
	}
	return false
}

// ImageID is what a pod's container status reports as imageID when the
// kubelet pulled this image from the registry.
func (p *PushedImage) ImageID() string {
	return RegistryHost + "/" + p.Repository + "@" + p.Digest
}

var pushed struct {
	once sync.Once
	img  *PushedImage
	err  error
}

// PushProjectImage builds the project's image index from the current
// source with the code of `make image` (hack/image/ociimage: all published
// platforms, though the node runs only its own) and pushes it to the e2e
// registry, started for it. Both happen once per test binary; the registry
// lives until the process ends.
func PushProjectImage(t testing.TB) *PushedImage {
	t.Helper()
	pushed.once.Do(func() { pushed.img, pushed.err = pushProjectImage(context.Background()) })
	if pushed.err != nil {
		t.Fatalf("pushing the project image to the e2e registry: %v", pushed.err)
	}
	return pushed.img
}

func pushProjectImage(ctx context.Context) (*PushedImage, error) {
	c := mustCluster()
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	work := c.layout.path("images", "project")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	t0 := time.Now()
	idx, version, err := ociimage.Build(ctx, ociimage.Options{RepoRoot: root, WorkDir: work})
	if err != nil {
		return nil, err
	}
	built := time.Since(t0)
	reg, err := StartRegistry(filepath.Join(c.LogDir(), "registry.log"))
	if err != nil {
		return nil, err
	}
	_, path, _ := strings.Cut(ociimage.Repository, "/") // the path below ghcr.io
	img := &PushedImage{Ref: RegistryHost + "/" + path + ":" + version, Repository: path, Tag: version, Registry: reg}
	if err := ociimage.Push(ctx, idx, img.Ref, false); err != nil {
		reg.Close(ctx)
		return nil, err
	}
	d, err := idx.Digest()
	if err != nil {
		reg.Close(ctx)
		return nil, err
	}
	img.Digest = d.String()
	reg.mu.Lock()
	img.pushRequests = len(reg.requests)
	reg.mu.Unlock()
	c.logf("%-24s built in %.1fs, pushed in %.1fs: %s@%s", "project image", built.Seconds(), (time.Since(t0) - built).Seconds(), img.Ref, img.Digest)
	return img, nil
}

// RemoveImage removes the image named ref from the node's containerd (if
// it is there), so that the next pod naming it pulls it even with
// imagePullPolicy IfNotPresent: a test then runs the image it pushed, not
// one a previous run left on a reused cluster.
func (c *Cluster) RemoveImage(ctx context.Context, ref string) error {
	if _, err := os.Stat(c.layout.containerdSocket()); err != nil {
		return fmt.Errorf("no containerd socket for this cluster: %w", err)
	}
	out, err := exec.CommandContext(ctx, c.bins.ctr, "--namespace", "k8s.io", "--address", c.layout.containerdSocket(), "images", "rm", ref).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "not found") {
		return fmt.Errorf("ctr images rm %s: %w: %s", ref, err, out)
	}
	return nil
}

// RemoveImage removes ref from the test cluster's node (Cluster.RemoveImage).
func RemoveImage(ctx context.Context, ref string) error {
	return mustCluster().RemoveImage(ctx, ref)
}
