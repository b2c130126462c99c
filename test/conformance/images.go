package conformance

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// suiteImages asks the e2e binary which image references its specs use
// (its -print-images flag, from the release's own test/utils/image), so the
// images packed for the node always carry the tags the specs ask for.
func suiteImages(e2eTest string) (map[string]string, error) {
	out, err := exec.Command(e2eTest, "-print-images").Output()
	if err != nil {
		return nil, fmt.Errorf("%s -print-images: %w", e2eTest, err)
	}
	refs := map[string]string{}
	for line := range strings.Lines(string(out)) {
		if name, ref, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			refs[name] = ref
		}
	}
	for _, name := range []string{"busybox", "agnhost", "nginx", "glibc-dns-testing", "pause"} {
		if refs[name] == "" {
			return nil, fmt.Errorf("%s -print-images names no %s image:\n%s", e2eTest, name, out)
		}
	}
	return refs, nil
}

// packImages builds every image the selected specs use and loads it into
// the node, so that nothing is pulled:
//
//   - busybox: Debian's static busybox with all its applets, as the
//     suites' busybox image has.
//   - agnhost: the agnhost binary built from the pinned Kubernetes module
//     (bin/conformance/<version>/agnhost) on that busybox: the suites run
//     its `pause` and `mounttest` commands and shell scripts through it,
//     and their host-exec pods use its nsenter.
//   - nginx and glibc-dns-testing: the busybox image under their names. The
//     storage suites use them only as a shell to run a command in (the
//     volumes suite's exec spec, the multiVolume suite's pods), never their
//     servers or their libc.
//   - pause: test/images/pause under the suites' tag.
//   - hello-populator: test/images/hello-populator under the tag of the
//     "any volume data source" spec's manifest (populatorImage).
func packImages(ctx context.Context, repo, binDir, dir string) error {
	refs, err := suiteImages(filepath.Join(binDir, "e2e.test"))
	if err != nil {
		return err
	}
	applets, err := framework.AllBusyboxApplets()
	if err != nil {
		return err
	}
	agnhost := maps.Clone(applets)
	agnhost["agnhost"] = framework.FileSpec{Mode: 0o755, Source: filepath.Join(binDir, "agnhost")}

	build := map[string]func(name, tag string) (string, error){
		"agnhost": func(name, tag string) (string, error) {
			return framework.BuildBusyboxImageAs(dir, name, tag, agnhost,
				framework.ImageConfig{Entrypoint: []string{"/agnhost"}, Cmd: []string{"pause"}})
		},
		"pause": func(name, tag string) (string, error) {
			return framework.BuildPauseImageAs(ctx, repo, dir, name, tag)
		},
	}
	populator, err := populatorImage(repo)
	if err != nil {
		return err
	}
	refs["hello-populator"] = populator
	build["hello-populator"] = func(name, tag string) (string, error) {
		return framework.BuildGoImageAs(ctx, repo, dir, "./test/images/hello-populator", name, tag)
	}
	for name, ref := range refs {
		i := strings.LastIndex(ref, ":")
		if i < 0 {
			return fmt.Errorf("image %s: reference %q has no tag", name, ref)
		}
		repoName, tag := ref[:i], ref[i+1:]
		b := build[name]
		if b == nil {
			b = func(name, tag string) (string, error) { return framework.BuildBusyboxImageAs(dir, name, tag, applets) }
		}
		archive, err := b(repoName, tag)
		if err != nil {
			return fmt.Errorf("building %s: %w", ref, err)
		}
		if err := framework.LoadImage(ctx, archive); err != nil {
			return fmt.Errorf("loading %s: %w", ref, err)
		}
	}
	return nil
}

// populatorManifest is the "any volume data source" spec's populator
// Deployment, in the Kubernetes module's source tree. -print-images does
// not list its image: the manifest names it.
const populatorManifest = "test/e2e/testing-manifests/storage-csi/any-volume-datasource/hello-populator-deploy.yaml"

// populatorImage is the image reference the spec's populator Deployment
// runs, read from the manifest of the pinned Kubernetes module (the one
// test/tools/conformance builds the e2e binary from), so the packed image
// carries the tag the spec asks for.
func populatorImage(repo string) (string, error) {
	list := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/kubernetes")
	list.Dir = filepath.Join(repo, "test", "tools", "conformance")
	out, err := list.Output()
	if err != nil {
		return "", fmt.Errorf("finding the Kubernetes module (go list -m k8s.io/kubernetes in %s): %w", list.Dir, err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), populatorManifest)
	manifest, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(manifest)) {
		if ref, ok := strings.CutPrefix(strings.TrimSpace(line), "image:"); ok {
			return strings.TrimSpace(ref), nil
		}
	}
	return "", fmt.Errorf("%s names no image", path)
}
