package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

const (
	wffc      = storagev1.VolumeBindingWaitForFirstConsumer
	immediate = storagev1.VolumeBindingImmediate
	deletePol = corev1.PersistentVolumeReclaimDelete
	retainPol = corev1.PersistentVolumeReclaimRetain
)

// The original hostpath-provisioner's quick start, told as its README tells
// it: a default class "hostpath", a claim without a class in namespace
// default, a pod writes a file, the file is on the host under
// <base>/default-hostpath-test-claim-pvc-<uid>/, and deleting pod and claim
// removes the directory.
func TestQuickStartOfTheOriginal(t *testing.T) {
	base := baseDir(t)
	startProvisioner(t, base)
	sc := storageClass(t, "hostpath", wffc, deletePol, nil)
	// Without the webhook (tested elsewhere), the cluster default is how a
	// class-less claim finds its class, as in the original's quick start.
	sc.Annotations = map[string]string{policy.AnnIsDefaultClass: "true"}
	if err := framework.Client().Update(ctxT(t), sc); err != nil {
		t.Fatal(err)
	}

	const ns = "default"
	claim := newClaim(ns, "hostpath-test-claim", "1Mi", nil, nil)
	create(t, claim)
	t.Cleanup(func() {
		if t.Failed() {
			framework.DumpNamespace(t, ns)
		}
		// t.Context() is already cancelled when cleanups run.
		for _, obj := range []client.Object{&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hostpath-test-pod"}}, claim} {
			if err := client.IgnoreNotFound(framework.Client().Delete(context.Background(), obj)); err != nil {
				t.Logf("deleting %T %s at cleanup: %v", obj, obj.GetName(), err)
			}
		}
	})

	// WaitForFirstConsumer: nothing happens before a pod wants the claim.
	if entries, _ := framework.VolumeDirs(base); len(entries) != 0 {
		t.Fatalf("a directory exists before any pod uses the claim: %v", entries)
	}

	framework.RunPod(t, writerPod(ns, "hostpath-test-pod", claim.Name, "echo hello > /data/SUCCESS && sync"))
	framework.WaitPodSucceeded(t, ns, "hostpath-test-pod", 2*time.Minute)
	claim, pv := waitBound(t, claim, 30*time.Second)
	if *claim.Spec.StorageClassName != "hostpath" {
		t.Errorf("claim class = %q", *claim.Spec.StorageClassName)
	}
	dir := filepath.Join(base, "default-hostpath-test-claim-pvc-"+string(claim.UID))
	if got := readFile(t, filepath.Join(dir, "SUCCESS")); got != "hello\n" {
		t.Errorf("file content = %q", got)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o777 {
		t.Errorf("directory mode = %v (%v), want 0777 like the original", fi.Mode(), err)
	}
	if pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != dir || claim.Annotations[policy.AnnSelectedNode] != framework.NodeName() {
		t.Errorf("PV source %+v, selected node %q", pv.Spec.PersistentVolumeSource, claim.Annotations[policy.AnnSelectedNode])
	}

	deleteObj(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hostpath-test-pod"}})
	deleteObj(t, claim)
	waitGone(t, dir, time.Minute)
	waitPVGone(t, pv.Name, time.Minute)
}

// Retained data outlives its claim: the PV stays Released and the file is
// still on the host, whether the class, the claim or the operator's
// PV_RECLAIM_POLICY asked for it.
func TestRetainKeepsDirectoryAndReleasedPV(t *testing.T) {
	ns := framework.NewNamespace(t)
	base := baseDir(t)
	proc := startProvisioner(t, base)
	retainClass := storageClass(t, ns+"-retain", immediate, retainPol, nil)
	deleteClass := storageClass(t, ns+"-delete", immediate, deletePol, nil)

	cases := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
	}{
		{"by class reclaimPolicy", newClaim(ns, "by-class", "1Mi", &retainClass.Name, nil)},
		{"by claim annotation", newClaim(ns, "by-annotation", "1Mi", &deleteClass.Name, map[string]string{policy.AnnOnDelete: "retain"})},
	}
	check := func(t *testing.T, claim *corev1.PersistentVolumeClaim) {
		create(t, claim)
		claim, pv := waitBound(t, claim, time.Minute)
		runWriter(t, ns, "writer-"+claim.Name, claim.Name, "keep", "precious")
		if pv.Spec.PersistentVolumeReclaimPolicy != retainPol || pv.Annotations[policy.AnnOnDelete] != "retain" {
			t.Errorf("PV reclaim %s, on-delete %q", pv.Spec.PersistentVolumeReclaimPolicy, pv.Annotations[policy.AnnOnDelete])
		}
		deleteObj(t, claim)
		framework.WaitFor(t, time.Minute, func() (bool, error) {
			err := framework.Client().Get(ctxT(t), client.ObjectKeyFromObject(pv), pv)
			return pv.Status.Phase == corev1.VolumeReleased, err
		})
		if got := readFile(t, filepath.Join(base, pv.Annotations[policy.AnnPath], "keep")); got != "precious" {
			t.Errorf("retained file = %q", got)
		}
		deleteObj(t, pv) // the admin's decision, after the test
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, c.claim) })
	}
	t.Run("by PV_RECLAIM_POLICY", func(t *testing.T) {
		proc.RestartWith("PV_RECLAIM_POLICY=Retain")
		check(t, newClaim(ns, "by-env", "1Mi", &deleteClass.Name, nil))
	})
}

// archive renames the directory inside the base path; a pattern of
// namespace and name makes nested directories, pruned when empty.
func TestArchiveRenamesNestedPatternDirectory(t *testing.T) {
	ns := framework.NewNamespace(t)
	base := baseDir(t)
	startProvisioner(t, base)
	sc := storageClass(t, ns, immediate, deletePol, map[string]string{
		"onDelete": "archive", "pathPattern": "{{ .PVC.Namespace }}/{{ .PVC.Name }}", "mode": "0770",
	})
	claim := newClaim(ns, "data", "1Mi", &sc.Name, nil)
	create(t, claim)
	claim, pv := waitBound(t, claim, time.Minute)
	dir := filepath.Join(base, ns, "data")
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o770 {
		t.Fatalf("directory %s: %v %v", dir, fi, err)
	}
	runWriter(t, ns, "writer", claim.Name, "f", "archived content")
	deleteObj(t, claim)
	waitPVGone(t, pv.Name, time.Minute)
	matches, _ := filepath.Glob(filepath.Join(base, "archived-"+ns+"-data-*"))
	if len(matches) != 1 {
		t.Fatalf("archives: %v", matches)
	}
	if got := readFile(t, filepath.Join(matches[0], "f")); got != "archived content" {
		t.Errorf("archived file = %q", got)
	}
	if _, err := os.Stat(filepath.Join(base, ns)); !os.IsNotExist(err) {
		t.Errorf("empty namespace directory left behind: %v", err)
	}
	waitEvent(t, "default", pv.Name, "VolumeArchived", "archived-"+ns+"-data-", 30*time.Second)
}

// volumeType local makes a local PV that the kubelet mounts, with fsGroup.
func TestLocalVolumeTypeWithFSGroup(t *testing.T) {
	ns := framework.NewNamespace(t)
	base := baseDir(t)
	startProvisioner(t, base)
	sc := storageClass(t, ns, wffc, deletePol, map[string]string{"volumeType": "local", "mode": "0770", "gid": "2000"})
	claim := newClaim(ns, "local", "1Mi", &sc.Name, nil)
	create(t, claim)
	pod := writerPod(ns, "writer", claim.Name, "id -G > /data/groups && sync")
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), FSGroup: ptr.To[int64](2000)}
	framework.RunPod(t, pod)
	framework.WaitPodSucceeded(t, ns, "writer", 2*time.Minute)
	_, pv := waitBound(t, claim, 30*time.Second)
	if pv.Spec.Local == nil || pv.Spec.HostPath != nil {
		t.Fatalf("PV source = %+v", pv.Spec.PersistentVolumeSource)
	}
	if got := readFile(t, filepath.Join(pv.Spec.Local.Path, "groups")); !strings.Contains(got, "2000") {
		t.Errorf("a non-root pod with fsGroup 2000 wrote groups %q", got)
	}
}

// A fresh volume whose directory already holds data is refused with an
// event; the data stays untouched and the claim stays Pending.
func TestCollisionIsRefusedWithAnEvent(t *testing.T) {
	ns := framework.NewNamespace(t)
	base := baseDir(t)
	startProvisioner(t, base)
	sc := storageClass(t, ns, immediate, deletePol, map[string]string{"pathPattern": "{{ .PVC.Namespace }}/{{ .PVC.Name }}"})
	squatted := filepath.Join(base, ns, "taken")
	if err := os.MkdirAll(squatted, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(squatted, "other-tenant"), []byte("not yours"), 0o600); err != nil {
		t.Fatal(err)
	}

	claim := newClaim(ns, "taken", "1Mi", &sc.Name, nil)
	create(t, claim)
	msg := waitEvent(t, ns, "taken", "ProvisioningFailed", "already exists and is not empty", time.Minute)
	if !strings.Contains(msg, squatted) {
		t.Errorf("event %q does not say where", msg)
	}
	if err := framework.Client().Get(ctxT(t), client.ObjectKeyFromObject(claim), claim); err != nil {
		t.Fatal(err)
	}
	if claim.Status.Phase != corev1.ClaimPending {
		t.Errorf("claim phase %s", claim.Status.Phase)
	}
	if got := readFile(t, filepath.Join(squatted, "other-tenant")); got != "not yours" {
		t.Errorf("squatted data changed: %q", got)
	}
	fi, _ := os.Stat(squatted)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("squatted directory mode changed to %v", fi.Mode())
	}
}

// A claim larger than the node's free space is refused with an event, for
// Immediate claims (retried with backoff) and for claims waiting for a pod
// (the scheduler is asked to pick again); nothing is created.
func TestTooLargeClaimIsRefused(t *testing.T) {
	ns := framework.NewNamespace(t)
	base := baseDir(t)
	startProvisioner(t, base)
	imm := storageClass(t, ns+"-imm", immediate, deletePol, nil)
	late := storageClass(t, ns+"-wffc", wffc, deletePol, nil)

	create(t, newClaim(ns, "huge", "1Ei", &imm.Name, nil))
	waitEvent(t, ns, "huge", "ProvisioningFailed", "not enough space on node "+framework.NodeName(), time.Minute)

	create(t, newClaim(ns, "huge-late", "1Ei", &late.Name, nil))
	framework.RunPod(t, writerPod(ns, "wants-huge", "huge-late", "true"))
	waitEvent(t, ns, "huge-late", "ProvisioningFailed", "not enough space", time.Minute)
	if entries, _ := framework.VolumeDirs(base); len(entries) != 0 {
		t.Errorf("refused claims created %v", entries)
	}
}

// The provisioner re-checks what admission would have refused (fail
// closed): an invalid claim gets a Warning naming field, value and what is
// allowed, and no directory.
func TestInvalidClaimIsRefusedByTheProvisioner(t *testing.T) {
	ns := framework.NewNamespace(t)
	base := baseDir(t)
	startProvisioner(t, base)
	sc := storageClass(t, ns, immediate, deletePol, map[string]string{"maxSize": "10Mi"})
	create(t, newClaim(ns, "typo", "1Mi", &sc.Name, map[string]string{"hostpath.dev/ondelete": "retain"}))
	create(t, newClaim(ns, "big", "20Mi", &sc.Name, nil))
	waitEvent(t, ns, "typo", "ProvisioningFailed", `metadata.annotations[hostpath.dev/ondelete]: Invalid value: "retain": unknown annotation, did you mean "hostpath.dev/on-delete"?`, time.Minute)
	waitEvent(t, ns, "big", "ProvisioningFailed", `spec.resources.requests[storage]: Invalid value: "20Mi": must be at most 10Mi (StorageClass parameter maxSize)`, time.Minute)
	if entries, _ := framework.VolumeDirs(base); len(entries) != 0 {
		t.Errorf("refused claims created %v", entries)
	}
}

// Volumes made by the original hostpath-provisioner (provisioner name
// "hostpath", identity annotation, absolute hostPath) are deleted correctly.
func TestVolumeOfTheOriginalIsDeleted(t *testing.T) {
	ns := framework.NewNamespace(t)
	base := baseDir(t)
	startProvisioner(t, base)
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: ns}, Provisioner: policy.LegacyProvisionerName, ReclaimPolicy: ptr.To(deletePol)}
	createClusterScoped(t, sc)

	// The original's volume exists before this provisioner ever runs, and
	// its claim is bound to it: create both pre-bound, PV first, so that no
	// provisioner (we serve the name "hostpath" too) makes a new volume.
	claim := newClaim(ns, "old-claim", "1Mi", &sc.Name, nil)
	pvName := "pvc-legacy-" + ns[len(ns)-6:]
	dir := filepath.Join(base, ns+"-old-claim-"+pvName)
	if err := os.MkdirAll(filepath.Join(dir, "deep", "tree"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "deep", "tree", "f"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName, Annotations: map[string]string{
			policy.AnnLegacyIdentity: framework.NodeName(), "pv.kubernetes.io/provisioned-by": policy.LegacyProvisionerName,
		}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      claim.Spec.Resources.Requests,
			AccessModes:                   claim.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: deletePol,
			StorageClassName:              sc.Name,
			ClaimRef:                      &corev1.ObjectReference{Namespace: ns, Name: claim.Name},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}},
		},
	}
	create(t, pv)
	claim.Spec.VolumeName = pvName
	create(t, claim)
	waitBound(t, claim, time.Minute)
	deleteObj(t, claim)
	waitGone(t, dir, time.Minute)
	waitPVGone(t, pvName, time.Minute)
}
