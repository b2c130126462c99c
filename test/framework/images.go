package framework

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Images every cluster has; nothing is ever pulled.
const (
	PauseImage   = "registry.k8s.io/pause:3.10"
	BusyboxImage = "docker.io/library/busybox:1.36"
)

// busyboxApplets are linked into the busybox image; tests may use any of them.
var busyboxApplets = []string{
	"sh", "ash", "ls", "cat", "echo", "sleep", "mkdir", "ln", "rm", "rmdir", "dd", "sync", "test", "[", "touch",
	"stat", "id", "cp", "mv", "chmod", "chown", "find", "grep", "head", "tail", "wc", "df", "du", "env",
	"printf", "true", "false", "date", "hostname", "mount", "readlink", "sha256sum", "tee", "whoami", "seq", "xargs", "wget",
}

// buildPauseImage compiles test/images/pause statically and packs it; the
// kubelet's sandbox containers run it.
func buildPauseImage(ctx context.Context, repo, dir string) (string, error) {
	return BuildPauseImageAs(ctx, repo, dir, "registry.k8s.io/pause", "3.10")
}

// BuildPauseImageAs is the pause image under another name: the Kubernetes
// storage suites name their own tag of it.
func BuildPauseImageAs(ctx context.Context, repo, dir, name, tag string) (string, error) {
	return BuildGoImageAs(ctx, repo, dir, "./test/images/pause", name, tag)
}

// BuildGoImageAs compiles one of the repository's commands statically (pkg,
// relative to repo) and packs it alone as an image whose entrypoint it is.
func BuildGoImageAs(ctx context.Context, repo, dir, pkg, name, tag string) (string, error) {
	base := filepath.Base(pkg)
	bin := filepath.Join(dir, base)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, pkg)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w: %s", pkg, err, out)
	}
	return BuildImage(dir, name, tag, map[string]FileSpec{
		base: {Mode: 0o755, Source: bin},
	}, []string{"/" + base})
}

// buildBusyboxImage packs Debian's static busybox with its applet links.
func buildBusyboxImage(dir string) (string, error) {
	return BuildBusyboxImageAs(dir, "docker.io/library/busybox", "1.36", nil)
}

// BuildBusyboxImageAs is the busybox image under another name, with extra
// files (a binary, say) added to its layer.
func BuildBusyboxImageAs(dir, name, tag string, extra map[string]FileSpec, cfg ...ImageConfig) (string, error) {
	const busybox = "/bin/busybox"
	if _, err := os.Stat(busybox); err != nil {
		return "", fmt.Errorf("%s missing: run `make apt-deps` (package busybox-static): %w", busybox, err)
	}
	files := map[string]FileSpec{
		"bin/busybox": {Mode: 0o755, Source: busybox},
		"tmp":         {Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		"etc/passwd":  {Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		"etc/group":   {Data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		"root":        {Mode: fs.ModeDir | 0o700},
	}
	for _, a := range busyboxApplets {
		files["bin/"+a] = FileSpec{Mode: fs.ModeSymlink, LinkTarget: "busybox"}
	}
	maps.Copy(files, extra)
	// Like the real busybox image: no entrypoint, so a pod's args (or
	// command) run as given.
	config := ImageConfig{Cmd: []string{"sh"}}
	if len(cfg) > 0 {
		config = cfg[0]
	}
	return BuildImageWithConfig(dir, name, tag, files, config)
}

// AllBusyboxApplets links every applet the host's static busybox has, for
// images whose users run more than busyboxApplets (the Kubernetes suites'
// scripts use awk, sed, nsenter and more).
func AllBusyboxApplets() (map[string]FileSpec, error) {
	out, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("listing the applets of /bin/busybox: %w", err)
	}
	files := map[string]FileSpec{}
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			files["bin/"+a] = FileSpec{Mode: fs.ModeSymlink, LinkTarget: "busybox"}
		}
	}
	return files, nil
}
