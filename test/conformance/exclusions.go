package conformance

import (
	"os"
	"path/filepath"
	"strings"
)

// exclusion is a spec of the suites that is not run against us, and why.
// Each reason is a fact about the spec or about a capability we do not
// claim, never that the spec is hard to pass. CONFORMANCE.md lists the same
// entries; TestExclusionsAreDocumented fails when the two differ.
type exclusion struct {
	// Spec matches the spec's full text (a regular expression).
	Spec   string
	Reason string
}

var exclusions = []exclusion{
	{
		Spec:   `provisioning should provision storage with pvc data source`,
		Reason: "CSI-only assumption: after cloning, the spec computes a CSI VolumeAttachment name from pv.Spec.CSI, which a hostPath or local PV does not have; clones are proven by our e2e (TestClone*)",
	},
	{
		Spec:   `read-write-once-pod should block a second pod from using an in-use ReadWriteOncePod volume on the same node`,
		Reason: "the second pod bypasses the scheduler (spec.nodeName), and only the kubelet's CSI volume manager refuses a second mount; for hostPath and local PVs ReadWriteOncePod is enforced by the scheduler alone (README, Access modes)",
	},
	{
		Spec:   `volumeMode should not mount / map unused volumes in a pod`,
		Reason: "a harness limit, not a product one: the spec looks at /var/lib/kubelet/pods/<uid>/volumes by entering the node's mount namespace from a host-exec pod (nsenter --mount=/proc/1/ns/mnt); the loopback node is a process tree inside a sandbox whose PID 1 is the machine's and refuses that (Permission denied), and its kubelet keeps its pods under its own --root-dir",
	},
	{
		Spec:   `volumeMode should fail in binding dynamic provisioned PV to PVC \[LinuxOnly\] \[Slow\]`,
		Reason: "the spec expects a Block claim to be accepted and left unbound with an event; our webhook refuses it at admission, naming spec.volumeMode and the allowed value (Filesystem), which is the better answer",
	},
}

// skipPattern is every exclusion as one regular expression for ginkgo's
// --skip (ORed with the subset's own skips).
func skipPattern() string {
	parts := make([]string, len(exclusions))
	for i, e := range exclusions {
		parts[i] = "(" + e.Spec + ")"
	}
	return strings.Join(parts, "|")
}

// checkDocumented fails when CONFORMANCE.md does not list an exclusion
// with its reason word for word, so the document cannot drift from what
// runs.
func checkDocumented(t interface{ Errorf(string, ...any) }, repo string) {
	doc, err := os.ReadFile(filepath.Join(repo, "CONFORMANCE.md"))
	if err != nil {
		t.Errorf("reading CONFORMANCE.md: %v", err)
		return
	}
	for _, e := range exclusions {
		if !strings.Contains(string(doc), e.Reason) {
			t.Errorf("CONFORMANCE.md does not give the reason for excluding %q; it must say, word for word: %s", e.Spec, e.Reason)
		}
	}
}
