package framework

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Versions of the cluster binaries, as pinned by the tools modules under
// test/tools and built by hack/build-cluster-bins.sh.
const (
	KubernetesVersion  = "v1.37.2"
	EtcdVersion        = "v3.7.3"
	CertManagerVersion = "v1.11.5"
)

const modulePath = "github.com/mazdermind/hostpath-provisioner"

// DefaultStateDir is where the cluster keeps its files unless
// CLUSTER_STATE_DIR says otherwise (the Makefile sets the same default).
const DefaultStateDir = "/var/tmp/hostpath-provisioner-e2e"

// StateDirFromEnv returns CLUSTER_STATE_DIR or DefaultStateDir.
func StateDirFromEnv() string {
	if d := os.Getenv("CLUSTER_STATE_DIR"); d != "" {
		return d
	}
	return DefaultStateDir
}

// RepoRoot finds the repository by walking up from the working directory to
// the go.mod that declares this module, so tests and `go run` work from any
// package directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("getting working directory: %w", err)
	}
	for {
		if isThisModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod for module " + modulePath + " above the working directory")
		}
		dir = parent
	}
}

func isThisModule(goMod string) bool {
	f, err := os.Open(goMod)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if strings.HasPrefix(line, "module ") {
			return strings.TrimSpace(strings.TrimPrefix(line, "module ")) == modulePath
		}
	}
	return false
}

// binaries holds absolute paths of every executable the cluster runs.
type binaries struct {
	etcd, apiserver, controllerManager, scheduler, kubelet, kubectl string
	certManagerController, certManagerCAInjector                    string
	containerd, ctr, runc                                           string
}

// findBinaries checks that every binary exists before anything is started,
// so a missing build fails in a second with the command that fixes it.
func findBinaries(repo string) (binaries, error) {
	dir := filepath.Join(repo, "bin", "cluster")
	b := binaries{
		etcd:                  filepath.Join(dir, EtcdVersion, "etcd"),
		apiserver:             filepath.Join(dir, KubernetesVersion, "kube-apiserver"),
		controllerManager:     filepath.Join(dir, KubernetesVersion, "kube-controller-manager"),
		scheduler:             filepath.Join(dir, KubernetesVersion, "kube-scheduler"),
		kubelet:               filepath.Join(dir, KubernetesVersion, "kubelet"),
		kubectl:               filepath.Join(dir, KubernetesVersion, "kubectl"),
		certManagerController: filepath.Join(dir, CertManagerVersion, "cert-manager-controller"),
		certManagerCAInjector: filepath.Join(dir, CertManagerVersion, "cert-manager-cainjector"),
	}
	var missing []string
	for _, p := range []string{b.etcd, b.apiserver, b.controllerManager, b.scheduler, b.kubelet, b.kubectl, b.certManagerController, b.certManagerCAInjector} {
		if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return b, fmt.Errorf("cluster binaries missing (%s): run `make cluster-bins` (about 28 minutes cold, seconds with a warm Go build cache)", strings.Join(missing, ", "))
	}
	var err error
	// containerd, ctr and runc come from Debian (make apt-deps).
	for _, t := range []struct {
		dst  *string
		name string
	}{{&b.containerd, "containerd"}, {&b.ctr, "ctr"}, {&b.runc, "runc"}} {
		if *t.dst, err = lookPath(t.name); err != nil {
			return b, fmt.Errorf("%s not found: run `make apt-deps`: %w", t.name, err)
		}
	}
	return b, nil
}

// lookPath also searches the sbin directories, which a non-login root shell
// may not have on PATH (runc lives in /usr/sbin on Debian).
func lookPath(name string) (string, error) {
	for _, dir := range append(filepath.SplitList(os.Getenv("PATH")), "/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin") {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not in PATH or the sbin directories", name)
}

// VolumeDirs lists the entries of a base path that are volumes or their
// parents: everything but the provisioner's own names, which start with
// "." (its registry .hostpath-provisioner, clone temporaries, the
// readiness probe). A missing base path lists nothing.
func VolumeDirs(base string) ([]string, error) {
	entries, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names, err
}
