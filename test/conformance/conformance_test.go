package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// SubsetEnv chooses which specs run: "ci" (the default, what `make test`
// runs) or "full" (`make conformance`).
const SubsetEnv = "HPP_CONFORMANCE"

// FocusEnv, when set, is the only ginkgo focus (a regular expression of
// spec texts), in place of the subset's: for running one spec while working
// on it. The subset's skips and the exclusions still apply.
const FocusEnv = "HPP_CONFORMANCE_FOCUS"

// subsets are the ginkgo focus and skip expressions of each subset, on top
// of the exclusions. Both leave out [Disruptive] specs (they restart the
// kubelet over SSH, which a loopback node does not offer; none is defined
// for an External driver without that) and [Feature:...] specs, which
// test optional features of CSI drivers that we do not claim. "ci" also
// leaves out [Slow] and [Serial] specs to stay within CI's time.
var subsets = map[string]struct {
	focus []string
	skip  []string
}{
	"ci": {
		focus: []string{`External.Storage \[Driver: hostpath\.dev\]`},
		skip:  []string{`\[Disruptive\]`, `\[Feature:`, `\[Slow\]`, `\[Serial\]`},
	},
	"full": {
		focus: []string{`External.Storage \[Driver: hostpath\.dev\]`, `External.Storage \[Driver: hostpath\.dev-immediate\].*performance`},
		skip:  []string{`\[Disruptive\]`, `\[Feature:`},
	},
}

// TestKubernetesStorageSuites installs the product from dist/install.yaml,
// as a user would, and runs the Kubernetes storage suites against it with
// the driver definitions in this directory. Every spec that runs must pass.
func TestKubernetesStorageSuites(t *testing.T) {
	subsetName := os.Getenv(SubsetEnv)
	if subsetName == "" {
		subsetName = "ci"
	}
	subset, ok := subsets[subsetName]
	if !ok {
		t.Fatalf("%s=%q: want ci or full", SubsetEnv, subsetName)
	}
	repo, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	binDir := filepath.Join(repo, "bin", "conformance", framework.KubernetesVersion)
	for _, b := range []string{"e2e.test", "ginkgo", "agnhost"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			t.Fatalf("%s missing: run `make conformance-bins` (hack/build-conformance-bins.sh): %v", filepath.Join(binDir, b), err)
		}
	}
	// The installed DaemonSet writes to the real default base path; data
	// already there is never mixed with.
	if dirs, _ := framework.VolumeDirs(policy.DefaultBasePath); len(dirs) > 0 {
		t.Skipf("skipping: %s holds data on this machine; the installed provisioner writes there and must not mix with it", policy.DefaultBasePath)
	}
	checkDocumented(t, repo)
	ctx := context.Background()
	if err := packImages(ctx, repo, binDir, t.TempDir()); err != nil {
		t.Fatalf("packing the suites' images: %v", err)
	}
	// The product as users install it: dist/install.yaml, its image
	// pulled from a registry.
	framework.UseDefaultBasePath(t)
	framework.Install(t, framework.InstallManifestFile(t))

	out := t.TempDir()
	args := []string{
		"--procs=3", "--timeout=85m", "--no-color", "--silence-skips",
		"--json-report=report.json", "--output-dir=" + out,
	}
	focus := subset.focus
	if f := os.Getenv(FocusEnv); f != "" {
		focus = []string{f}
	}
	for _, f := range focus {
		args = append(args, "--focus="+f)
	}
	for _, s := range append(subset.skip, skipPattern()) {
		args = append(args, "--skip="+s)
	}
	args = append(args, filepath.Join(binDir, "e2e.test"), "--",
		"--kubeconfig="+framework.KubeconfigPath(),
		"--kubectl-path="+framework.KubectlBinary(),
		"--repo-root="+repo,
		"--storage.testdriver="+filepath.Join(repo, "test/conformance/driver.yaml"),
		"--storage.testdriver="+filepath.Join(repo, "test/conformance/driver-immediate.yaml"),
	)
	logPath := filepath.Join(repo, "bin", "conformance", "ginkgo-"+subsetName+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "ginkgo"), args...)
	// ginkgo's log opens with a version mismatch warning (CLI 2.32.0, "2.27.4
	// used by e2e"): it asks the module around the binary's directory,
	// bin/ in ours, whose test dependencies pull an older ginkgo in, not the
	// tools module both binaries were built from. It is only a warning.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	t.Logf("running the %s subset: ginkgo %s (log: %s)", subsetName, strings.Join(args, " "), logPath)
	start := time.Now()
	runErr := cmd.Run()
	elapsed := time.Since(start).Round(time.Second)

	s, err := readReport(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatalf("ginkgo ran for %s (%v) and left no readable report: %v; see %s", elapsed, runErr, err, logPath)
	}
	t.Logf("Kubernetes %s storage suites, %s subset, %s: %s", framework.KubernetesVersion, subsetName, elapsed, s)
	for _, p := range s.passed {
		t.Logf("passed (%s): %s %s", p.RunTime.Round(time.Second), p.name(), p.performance())
	}
	for _, sk := range s.skipped {
		t.Logf("skipped by the spec: %s: %s", sk.name(), sk.Failure.Message)
	}
	for _, f := range s.failed {
		msg := ""
		if f.Failure != nil {
			msg = f.Failure.Message
		}
		// One line: `make test` keeps only the lines that start with a
		// file:line, so a message on lines of its own would not reach CI's log.
		t.Errorf("%s: %s: %s", f.State, f.name(), strings.Join(strings.Fields(msg), " "))
	}
	if s.counts["passed"] == 0 {
		t.Errorf("no spec passed: the focus %q selected nothing that ran", focus)
	}
	var exit *exec.ExitError
	if runErr != nil && (!errors.As(runErr, &exit) || len(s.failed) == 0) {
		t.Errorf("ginkgo: %v (see %s)", runErr, logPath)
	}
	writeSummary(t, repo, subsetName, elapsed, s)
}

// writeSummary keeps the counts and the passed specs of the last run under
// bin/conformance, the figures CONFORMANCE.md is updated from.
func writeSummary(t *testing.T, repo, subset string, elapsed time.Duration, s summary) {
	var b strings.Builder
	fmt.Fprintf(&b, "Kubernetes %s storage suites, %s subset, %s, %s\n%s\n", framework.KubernetesVersion, subset, time.Now().UTC().Format(time.RFC3339), elapsed, s)
	for _, p := range s.passed {
		fmt.Fprintf(&b, "passed %6s %s %s\n", p.RunTime.Round(time.Second), p.name(), p.performance())
	}
	for _, sk := range s.skipped {
		fmt.Fprintf(&b, "skipped %s: %s\n", sk.name(), strings.TrimSpace(sk.Failure.Message))
	}
	path := filepath.Join(repo, "bin", "conformance", "last-"+subset+".txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Errorf("writing %s: %v", path, err)
	}
}
