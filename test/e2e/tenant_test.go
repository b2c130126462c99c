package e2e

// The hostile-tenant suite (issue 13): dist/install.yaml installed on the
// loopback cluster, two tenants in their own namespaces, and the boundary
// users rely on is the volume. Each scenario is something a tenant with
// `create pvc` in its namespace (or, where said, an admin mistake or an
// attacker who got hold of a directory on the host) can really do; after
// each, the other tenant's canary files are byte-identical on the host, its
// PVs keep reclaim policy, annotations and capacity, every Bound volume's
// directory is still there, and the refusal is visible where the user looks
// (an event on the object, or the admission message).

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

const (
	// webhookConfigName names both webhook configurations of the manifest.
	webhookConfigName = "hostpath-provisioner"
	reasonNotBound    = "VolumeNotBoundToClaim"
)

// tenantEnv is the product as users install it (dist/install.yaml: the
// DaemonSet with the shipped capabilities, the webhook behind its Service,
// cert-manager's certificates), with two tenants: victim and attacker.
type tenantEnv struct {
	base             string
	victim, attacker string
	namespaces       []string
}

// installForTenants installs the manifest for one test and removes it, its
// volumes and everything it wrote to the base path when the test ends.
func installForTenants(t *testing.T) *tenantEnv {
	t.Helper()
	e := &tenantEnv{base: framework.UseDefaultBasePath(t)}
	e.victim = e.namespace(t)
	e.attacker = e.namespace(t)
	// Claims go first, while the provisioner runs: it removes what it
	// made; then the manifest, and last what is left on the API server
	// and the disk.
	t.Cleanup(func() { e.clearLeftovers(t) })
	framework.Install(t, framework.InstallManifestFile(t), func() { e.deleteClaims(t) })
	e.waitValidation(t, true)
	return e
}

// namespace is a fresh namespace whose claims are deleted before the
// provisioner is uninstalled, so the provisioner removes what it made.
func (e *tenantEnv) namespace(t *testing.T) string {
	t.Helper()
	ns := framework.NewNamespace(t)
	e.namespaces = append(e.namespaces, ns)
	return ns
}

// deleteClaims deletes the tenants' pods and claims while the provisioner
// still runs, and waits for it to remove the volumes it made.
func (e *tenantEnv) deleteClaims(t *testing.T) {
	ctx := context.Background()
	cs := framework.Clientset()
	for _, ns := range e.namespaces {
		_ = cs.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
		_ = cs.CoreV1().PersistentVolumeClaims(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if len(e.pendingDeletes(ctx)) == 0 {
			break
		}
		time.Sleep(time.Second)
	}
	if left := e.pendingDeletes(ctx); len(left) > 0 {
		t.Logf("uninstalling with volumes still to be deleted: %v", left)
	}
}

// clearLeftovers, after the uninstall, deletes the PVs of this base path
// that nothing deletes any more, and removes retained and archived data and
// whatever the test swapped from the base path.
func (e *tenantEnv) clearLeftovers(t *testing.T) {
	ctx := context.Background()
	cs := framework.Clientset()
	pvs, _ := cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	for _, pv := range pvs.Items {
		if pv.Annotations[policy.AnnBasePath] != e.base {
			continue
		}
		_, _ = cs.CoreV1().PersistentVolumes().Patch(ctx, pv.Name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		_ = cs.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
	}
	entries, _ := os.ReadDir(e.base)
	for _, en := range entries {
		os.RemoveAll(filepath.Join(e.base, en.Name()))
	}
}

// pendingDeletes are the volumes of this base path that the provisioner
// still has to delete (Bound ones of deleted claims, Released ones with
// reclaim Delete).
func (e *tenantEnv) pendingDeletes(ctx context.Context) []string {
	pvs, err := framework.Clientset().CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return []string{err.Error()}
	}
	var left []string
	for _, pv := range pvs.Items {
		if pv.Annotations[policy.AnnBasePath] != e.base || pv.Spec.PersistentVolumeReclaimPolicy != deletePol || pv.Status.Phase == corev1.VolumeFailed {
			continue
		}
		if pv.Spec.ClaimRef != nil && !slices.Contains(e.namespaces, pv.Spec.ClaimRef.Namespace) {
			continue
		}
		left = append(left, pv.Name)
	}
	return left
}

// validating reports whether the claim webhook answers: a dry run of a
// claim it refuses is refused.
func (e *tenantEnv) validating(t *testing.T) bool {
	probe := newClaim(e.victim, "webhook-probe", "1Mi", ptr.To(policy.DefaultClassName), map[string]string{policy.Prefix + "on-delte": "retain"})
	_, err := framework.Clientset().CoreV1().PersistentVolumeClaims(e.victim).Create(ctxT(t), probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err != nil && strings.Contains(err.Error(), "unknown annotation")
}

func (e *tenantEnv) waitValidation(t *testing.T, on bool) {
	t.Helper()
	framework.WaitFor(t, 2*time.Minute, func() (bool, error) { return e.validating(t) == on, nil })
}

// withoutValidation runs fn with the ValidatingWebhookConfiguration gone,
// which is what admission amounts to while no webhook pod answers
// (failurePolicy Ignore): only the process stands between a claim or class
// and the disk. The configuration is put back, caBundle and all, however
// fn ends.
func (e *tenantEnv) withoutValidation(t *testing.T, fn func()) {
	t.Helper()
	c := framework.Client()
	saved := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Get(ctxT(t), client.ObjectKey{Name: webhookConfigName}, saved); err != nil {
		t.Fatalf("reading the ValidatingWebhookConfiguration: %v", err)
	}
	if err := c.Delete(ctxT(t), saved); err != nil {
		t.Fatalf("deleting the ValidatingWebhookConfiguration: %v", err)
	}
	defer func() {
		restored := saved.DeepCopy()
		restored.ObjectMeta = metav1.ObjectMeta{Name: saved.Name, Labels: saved.Labels, Annotations: saved.Annotations}
		if err := c.Create(context.Background(), restored); err != nil {
			t.Errorf("restoring the ValidatingWebhookConfiguration: %v", err)
			return
		}
		// No WaitFor: this may run while the test is already failing.
		deadline := time.Now().Add(2 * time.Minute)
		for !e.validating(t) {
			if time.Now().After(deadline) {
				t.Errorf("the claim webhook does not answer 2m after its configuration was restored")
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	e.waitValidation(t, false)
	fn()
}

// class creates one of our StorageClasses for the test (the webhook checks it).
func (e *tenantEnv) class(t *testing.T, name string, reclaim corev1.PersistentVolumeReclaimPolicy, expand bool, params map[string]string) *storagev1.StorageClass {
	t.Helper()
	sc := tenantClass(name, reclaim, expand, params)
	createClusterScoped(t, sc)
	return sc
}

func tenantClass(name string, reclaim corev1.PersistentVolumeReclaimPolicy, expand bool, params map[string]string) *storagev1.StorageClass {
	return &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: name},
		Provisioner:          policy.ProvisionerName,
		VolumeBindingMode:    ptr.To(immediate),
		ReclaimPolicy:        ptr.To(reclaim),
		AllowVolumeExpansion: ptr.To(expand),
		Parameters:           params,
	}
}

// bound creates claims and waits for each to be Bound.
func bound(t *testing.T, claims ...*corev1.PersistentVolumeClaim) []*corev1.PersistentVolumeClaim {
	t.Helper()
	for _, c := range claims {
		create(t, c)
	}
	for _, c := range claims {
		waitBound(t, c, 2*time.Minute)
	}
	return claims
}

// writeCanaries has one pod write, into each claim's volume, a tree the
// owner would miss: files of several modes, random bytes, a symlink.
func writeCanaries(t *testing.T, ns string, claims ...string) {
	t.Helper()
	pod := framework.BusyboxPod(ns, "canaries-"+strings.Join(claims, "-"), "")
	if len(pod.Name) > 63 {
		pod.Name = strings.TrimRight(pod.Name[:63], "-")
	}
	var script []string
	for i, c := range claims {
		d := fmt.Sprintf("/data/%d", i)
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: fmt.Sprintf("v%d", i), VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c},
		}})
		pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: fmt.Sprintf("v%d", i), MountPath: d})
		script = append(script, fmt.Sprintf(
			"printf '%%s' '%s/%s' > %s/CANARY && mkdir -p %s/canary/sub && head -c 65536 /dev/urandom > %s/canary/sub/blob && "+
				"printf secret > %s/canary/key && chmod 600 %s/canary/key && ln -s ../key %s/canary/sub/link",
			ns, c, d, d, d, d, d, d))
	}
	pod.Spec.Containers[0].Command = []string{"sh", "-c", strings.Join(script, " && ") + " && sync"}
	framework.RunPod(t, pod)
	framework.WaitPodSucceeded(t, ns, pod.Name, 2*time.Minute)
	deleteObj(t, pod)
}

// volumeState is what the owner of a volume must find unchanged after
// another tenant's attempt.
type volumeState struct {
	ns, claim, pv, dir, hash string
	reclaim                  corev1.PersistentVolumeReclaimPolicy
	annotations              map[string]string
	capacity                 resource.Quantity
}

func pvPath(pv *corev1.PersistentVolume) string {
	switch {
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path
	}
	return ""
}

func getPV(t *testing.T, name string) *corev1.PersistentVolume {
	t.Helper()
	pv := &corev1.PersistentVolume{}
	if err := framework.Client().Get(ctxT(t), client.ObjectKey{Name: name}, pv); err != nil {
		t.Fatalf("reading PV %s: %v", name, err)
	}
	return pv
}

func getClaim(t *testing.T, ns, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	c := &corev1.PersistentVolumeClaim{}
	if err := framework.Client().Get(ctxT(t), client.ObjectKey{Namespace: ns, Name: name}, c); err != nil {
		t.Fatalf("reading claim %s/%s: %v", ns, name, err)
	}
	return c
}

// record remembers a Bound claim's volume (or, with the claim gone, its PV).
func record(t *testing.T, ns, claim, pvName string) volumeState {
	t.Helper()
	if pvName == "" {
		pvName = getClaim(t, ns, claim).Spec.VolumeName
	}
	pv := getPV(t, pvName)
	dir := pvPath(pv)
	return volumeState{
		ns: ns, claim: claim, pv: pv.Name, dir: dir, hash: treeHash(t, dir),
		reclaim: pv.Spec.PersistentVolumeReclaimPolicy, annotations: maps.Clone(pv.Annotations), capacity: pv.Spec.Capacity.Storage().DeepCopy(),
	}
}

// unchanged checks that the volume's data and its PV are as recorded.
func (v volumeState) unchanged(t *testing.T) {
	t.Helper()
	pv := &corev1.PersistentVolume{}
	if err := framework.Client().Get(ctxT(t), client.ObjectKey{Name: v.pv}, pv); err != nil {
		t.Errorf("%s/%s: its PV %s: %v", v.ns, v.claim, v.pv, err)
		return
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != v.reclaim {
		t.Errorf("%s/%s: PV %s reclaim policy %s, was %s", v.ns, v.claim, v.pv, pv.Spec.PersistentVolumeReclaimPolicy, v.reclaim)
	}
	if !maps.Equal(pv.Annotations, v.annotations) {
		t.Errorf("%s/%s: PV %s annotations\n  now %v\n  was %v", v.ns, v.claim, v.pv, pv.Annotations, v.annotations)
	}
	if c := pv.Spec.Capacity.Storage(); c.Cmp(v.capacity) != 0 {
		t.Errorf("%s/%s: PV %s capacity %s, was %s", v.ns, v.claim, v.pv, c, &v.capacity)
	}
	if err := realDirectory(v.dir); err != nil {
		t.Errorf("%s/%s: %v", v.ns, v.claim, err)
		return
	}
	if got := treeHash(t, v.dir); got != v.hash {
		t.Errorf("%s/%s: the data in %s changed", v.ns, v.claim, v.dir)
	}
}

// realDirectory checks that dir and every directory above it are
// directories, not symlinks.
func realDirectory(dir string) error {
	for p := dir; p != "/" && p != "."; p = filepath.Dir(p) {
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s: %s is a %v, not a directory", dir, p, fi.Mode().Type())
		}
	}
	return nil
}

// boundDirectoriesExist checks that every Bound volume of the base path
// still has its directory.
func (e *tenantEnv) boundDirectoriesExist(t *testing.T) {
	t.Helper()
	pvs, err := framework.Clientset().CoreV1().PersistentVolumes().List(ctxT(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pv := range pvs.Items {
		if pv.Annotations[policy.AnnBasePath] != e.base || pv.Status.Phase != corev1.VolumeBound {
			continue
		}
		if err := realDirectory(pvPath(&pv)); err != nil {
			t.Errorf("Bound PV %s (claim %s/%s) lost its directory: %v", pv.Name, pv.Spec.ClaimRef.Namespace, pv.Spec.ClaimRef.Name, err)
		}
	}
}

// checkAll is the check after every scenario.
func (e *tenantEnv) checkAll(t *testing.T, victims ...volumeState) {
	t.Helper()
	for _, v := range victims {
		v.unchanged(t)
	}
	e.boundDirectoriesExist(t)
}

// createRefused creates obj and returns the admission error, failing the
// test if it was created.
func createRefused(t *testing.T, obj client.Object) string {
	t.Helper()
	err := framework.Client().Create(ctxT(t), obj)
	if err == nil {
		t.Errorf("%T %s/%s was admitted", obj, obj.GetNamespace(), obj.GetName())
		deleteObj(t, obj)
		return ""
	}
	t.Logf("refused at admission: %v", err)
	return err.Error()
}

// mustContain checks a refusal's message; an empty one (a refusal that
// did not happen) is reported where it was expected.
func mustContain(t *testing.T, what, msg string, wants ...string) {
	t.Helper()
	if msg == "" {
		return
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, msg)
		}
	}
}

// expectEvent waits, like waitEvent, for an event on object whose reason
// and message match. A missing event is an error, not the end of the test:
// the checks after it show what happened instead. stop, if not nil, ends
// the wait early when what the event should have prevented has happened.
func expectEvent(t *testing.T, ns, object, reason, contains string, timeout time.Duration, stop func() bool) string {
	t.Helper()
	return expectEvents(t, []eventWant{{ns, object, reason, contains, stop}}, timeout)[0]
}

type eventWant struct {
	ns, object, reason, contains string
	stop                         func() bool
}

// expectEvents waits for several events at once (one timeout for all) and
// returns their messages, "" for each that did not come.
func expectEvents(t *testing.T, wants []eventWant, timeout time.Duration) []string {
	t.Helper()
	msgs := make([]string, len(wants))
	seen := make([][]string, len(wants))
	stopped := make([]bool, len(wants))
	deadline := time.Now().Add(timeout)
	for {
		open := 0
		for i, w := range wants {
			if msgs[i] != "" || stopped[i] {
				continue
			}
			evs, err := framework.Clientset().CoreV1().Events(w.ns).List(ctxT(t), metav1.ListOptions{FieldSelector: "involvedObject.name=" + w.object})
			if err != nil {
				seen[i] = []string{"(listing events: " + err.Error() + ")"}
				open++
				continue
			}
			seen[i] = nil
			for _, e := range evs.Items {
				seen[i] = append(seen[i], fmt.Sprintf("%s %s: %s", e.Type, e.Reason, e.Message))
				if e.Reason == w.reason && strings.Contains(e.Message, w.contains) {
					t.Logf("%s %s: %s: %s", e.InvolvedObject.Kind, w.object, w.reason, e.Message)
					msgs[i] = e.Message
				}
			}
			if msgs[i] == "" {
				stopped[i] = w.stop != nil && w.stop()
				open++
			}
		}
		if open == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i, w := range wants {
		if msgs[i] != "" {
			continue
		}
		why := "within " + timeout.String()
		if stopped[i] {
			why = "before what it should have prevented happened"
		}
		t.Errorf("no %s event on %s/%s containing %q %s; its events:\n  %s", w.reason, w.ns, w.object, w.contains, why, strings.Join(seen[i], "\n  "))
	}
	return msgs
}

// pvGone and claimBound end an expectEvent early.
func pvGone(t *testing.T, name string) func() bool {
	return func() bool {
		return apierrors.IsNotFound(framework.Client().Get(ctxT(t), client.ObjectKey{Name: name}, &corev1.PersistentVolume{}))
	}
}

func claimBound(t *testing.T, ns, name string) func() bool {
	return func() bool {
		c := &corev1.PersistentVolumeClaim{}
		return framework.Client().Get(ctxT(t), client.ObjectKey{Namespace: ns, Name: name}, c) == nil && c.Status.Phase == corev1.ClaimBound
	}
}

func capacityChanged(t *testing.T, pv string, was resource.Quantity) func() bool {
	return func() bool {
		v := &corev1.PersistentVolume{}
		return framework.Client().Get(ctxT(t), client.ObjectKey{Name: pv}, v) == nil && v.Spec.Capacity.Storage().Cmp(was) != 0
	}
}

func patchClaim(t *testing.T, ns, name, patch string) error {
	_, err := framework.Clientset().CoreV1().PersistentVolumeClaims(ns).Patch(ctxT(t), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

func sizePatch(size string) string {
	return fmt.Sprintf(`{"spec":{"resources":{"requests":{"storage":%q}}}}`, size)
}

func waitPVPhase(t *testing.T, name string, phase corev1.PersistentVolumePhase) {
	t.Helper()
	framework.WaitFor(t, 2*time.Minute, func() (bool, error) {
		pv := &corev1.PersistentVolume{}
		err := framework.Client().Get(ctxT(t), client.ObjectKey{Name: name}, pv)
		return pv.Status.Phase == phase, err
	})
}

// 1. A claim that merely names a PV (spec.volumeName is the claim's word
// alone) decides nothing about it: whatever the naming claim says, the PV
// keeps its reclaim policy, annotations and capacity, the naming claim gets
// a Warning naming the PV, and the owner's "retain" still holds.
func TestTenantCannotChangeAnotherTenantsVolumeByNamingIt(t *testing.T) {
	e := installForTenants(t)
	victim, attacker := e.victim, e.attacker
	del := e.class(t, victim+"-delete", deletePol, true, nil)
	bound(t,
		newClaim(victim, "kept", "1Mi", &del.Name, map[string]string{policy.AnnOnDelete: "retain"}),
		newClaim(victim, "plain", "1Mi", &del.Name, nil),
		newClaim(victim, "released", "1Mi", &del.Name, map[string]string{policy.AnnOnDelete: "retain"}))
	writeCanaries(t, victim, "kept", "plain", "released")
	kept, plain := record(t, victim, "kept", ""), record(t, victim, "plain", "")
	if kept.reclaim != retainPol || kept.annotations[policy.AnnOnDelete] != "retain" || plain.reclaim != deletePol {
		t.Fatalf("setup: kept is %s/%q, plain is %s", kept.reclaim, kept.annotations[policy.AnnOnDelete], plain.reclaim)
	}
	// A volume whose claim is gone and whose data was retained.
	releasedPV := getClaim(t, victim, "released").Spec.VolumeName
	deleteObj(t, getClaim(t, victim, "released"))
	waitPVPhase(t, releasedPV, corev1.VolumeReleased)
	released := record(t, victim, "released", releasedPV)

	// naming makes a claim that names pv and waits for the refusal.
	naming := func(t *testing.T, c *corev1.PersistentVolumeClaim, pv string) {
		t.Helper()
		c.Spec.VolumeName = pv
		create(t, c)
		expectEvent(t, c.Namespace, c.Name, reasonNotBound, pv, time.Minute, nil)
		got := getClaim(t, c.Namespace, c.Name)
		if got.Status.Phase == corev1.ClaimBound || got.Spec.VolumeName != pv {
			t.Errorf("the naming claim is %s with volumeName %q", got.Status.Phase, got.Spec.VolumeName)
		}
	}

	t.Run("a claim without a class names a retained volume and says delete", func(t *testing.T) {
		naming(t, newClaim(attacker, "take-kept", "1Mi", ptr.To(""), map[string]string{policy.AnnOnDelete: "delete"}), kept.pv)
		if c := getClaim(t, attacker, "take-kept"); c.Status.Phase != corev1.ClaimPending {
			t.Errorf("the naming claim is %s, want Pending", c.Status.Phase)
		}
		e.checkAll(t, kept, plain, released)
	})

	t.Run("a claim names a volume of reclaim policy Delete and says archive", func(t *testing.T) {
		naming(t, newClaim(attacker, "archive-plain", "1Mi", ptr.To(""), map[string]string{policy.AnnOnDelete: "archive"}), plain.pv)
		e.checkAll(t, kept, plain, released)
	})

	t.Run("a claim asks for more than the volume it names has", func(t *testing.T) {
		naming(t, newClaim(attacker, "grow-plain", "50Gi", ptr.To(""), map[string]string{policy.AnnOnDelete: "retain"}), plain.pv)
		e.checkAll(t, kept, plain, released)
	})

	t.Run("a claim names a Released volume whose data was retained", func(t *testing.T) {
		naming(t, newClaim(attacker, "take-released", "1Mi", ptr.To(""), map[string]string{policy.AnnOnDelete: "delete"}), released.pv)
		if pv := getPV(t, released.pv); pv.Status.Phase != corev1.VolumeReleased {
			t.Errorf("PV %s is %s, want Released", pv.Name, pv.Status.Phase)
		}
		e.checkAll(t, kept, plain, released)
	})

	// The namespace was deleted and its name given to another team, which
	// re-creates the claim: namespace and name match the PV's claimRef, the
	// UID does not.
	t.Run("a new claim with the gone claim's namespace and name names its Released volume", func(t *testing.T) {
		naming(t, newClaim(victim, "released", "1Mi", ptr.To(""), map[string]string{policy.AnnOnDelete: "delete"}), released.pv)
		e.checkAll(t, kept, plain, released)
	})

	t.Run("a claim of the victim's own class names a retained volume", func(t *testing.T) {
		c := newClaim(attacker, "same-class", "1Mi", &del.Name, map[string]string{policy.AnnOnDelete: "delete"})
		c.Spec.VolumeName = kept.pv
		if err := framework.Client().Create(ctxT(t), c); err != nil {
			// Refusing at admission is as good, if it says why.
			t.Logf("refused at admission: %v", err)
			mustContain(t, "the admission message", err.Error(), "spec.volumeName", kept.pv)
		} else {
			expectEvent(t, attacker, c.Name, reasonNotBound, kept.pv, time.Minute, nil)
		}
		e.checkAll(t, kept, plain, released)
	})

	// The annotations a bound claim carries do not make a claim bound.
	t.Run("a claim that says it is bound already names a retained volume", func(t *testing.T) {
		naming(t, newClaim(attacker, "says-bound", "1Mi", ptr.To(""), map[string]string{
			policy.AnnOnDelete: "delete", "pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
		}), kept.pv)
		e.checkAll(t, kept, plain, released)
	})

	// spec.volumeName may be set once on a claim that has none: the way the
	// binder sets it, open to users too.
	t.Run("a claim sets spec.volumeName after its creation", func(t *testing.T) {
		c := newClaim(attacker, "later", "1Mi", ptr.To(""), map[string]string{policy.AnnOnDelete: "delete"})
		create(t, c)
		if err := patchClaim(t, attacker, c.Name, fmt.Sprintf(`{"spec":{"volumeName":%q}}`, kept.pv)); err != nil {
			t.Fatalf("setting spec.volumeName: %v", err)
		}
		expectEvent(t, attacker, c.Name, reasonNotBound, kept.pv, time.Minute, nil)
		e.checkAll(t, kept, plain, released)
	})

	// The refusals above are the reconciler's, not a reconciler that does
	// nothing: the claim a PV is bound to still decides.
	t.Run("the owner's own change still reaches its volume", func(t *testing.T) {
		if err := patchClaim(t, victim, "plain", fmt.Sprintf(`{"metadata":{"annotations":{%q:"retain"}}}`, policy.AnnOnDelete)); err != nil {
			t.Fatal(err)
		}
		framework.WaitFor(t, time.Minute, func() (bool, error) {
			pv := getPV(t, plain.pv)
			return pv.Spec.PersistentVolumeReclaimPolicy == retainPol && pv.Annotations[policy.AnnOnDelete] == "retain", nil
		})
		plain = record(t, victim, "plain", "")
		e.checkAll(t, kept, plain, released)
	})

	t.Run("the owner's retain still holds when it deletes its claim", func(t *testing.T) {
		deleteObj(t, getClaim(t, victim, "kept"))
		waitPVPhase(t, kept.pv, corev1.VolumeReleased)
		e.checkAll(t, kept, plain, released)
	})
}

// 2. Values that come from claims (annotations, labels) render into one
// path component: one that holds a "/", is "." or "..", is empty, or is
// the provisioner's own marker name is refused at admission naming the
// annotation and the value, and again at provisioning when admission is
// not in the way; no directory is made.
func TestTenantAnnotationsAndLabelsRenderIntoOnePathComponent(t *testing.T) {
	e := installForTenants(t)
	victim, attacker := e.victim, e.attacker
	byDir := e.class(t, victim+"-dir", deletePol, false, map[string]string{"pathPattern": `{{ .PVC.Namespace }}/{{ index .PVC.Annotations "dir" }}`})
	byLabel := e.class(t, victim+"-label", deletePol, false, map[string]string{"pathPattern": `{{ .PVC.Namespace }}/{{ index .PVC.Labels "app" }}`})
	bound(t, newClaim(victim, "a", "1Mi", &byDir.Name, map[string]string{"dir": "a"}))
	writeCanaries(t, victim, "a")
	a := record(t, victim, "a", "")
	if a.dir != filepath.Join(e.base, victim, "a") {
		t.Fatalf("setup: claim a lives at %s", a.dir)
	}
	baseBefore := listBase(t, e.base)
	victimDirBefore := treeHash(t, filepath.Join(e.base, victim))

	type bad struct {
		name, ns, value, field string
		ann, labels            map[string]string
		class                  string
		generate               bool
	}
	dir := func(name, ns, value string) bad {
		return bad{name: name, ns: ns, value: value, field: "metadata.annotations[dir]", ann: map[string]string{"dir": value}, class: byDir.Name}
	}
	cases := []bad{
		dir("b", victim, "a/l/data"),           // inside claim a's volume
		dir("up", attacker, "../"+victim+"/a"), // out of its namespace, into another tenant's volume
		dir("dotdot", victim, ".."),
		dir("dot", victim, "."), // the namespace directory, which holds claim a
		dir("marker", victim, ".hostpath-provisioner"),
		dir("trailing", victim, "a/"),
		dir("absolute", attacker, "/etc"),
		dir("empty", victim, ""),
		dir("long", attacker, strings.Repeat("x", 256)),
		{name: "missing", ns: victim, field: "metadata.annotations[dir]", class: byDir.Name},
		{name: "gen-", ns: victim, value: "a/gen", field: "metadata.annotations[dir]", ann: map[string]string{"dir": "a/gen"}, class: byDir.Name, generate: true},
		{name: "no-app", ns: victim, value: "", field: "metadata.labels[app]", labels: map[string]string{"app": ""}, class: byLabel.Name},
	}
	claimOf := func(c bad) *corev1.PersistentVolumeClaim {
		cl := newClaim(c.ns, c.name, "1Mi", &c.class, c.ann)
		cl.Labels = c.labels
		if c.generate {
			cl.Name, cl.GenerateName = "", c.name
		}
		return cl
	}
	quoted := func(c bad) string {
		if c.name == "missing" {
			return "" // no value to name
		}
		return fmt.Sprintf("%q", c.value)
	}

	for _, c := range cases {
		t.Run(fmt.Sprintf("refused at admission: %s=%q", c.field, c.value), func(t *testing.T) {
			msg := createRefused(t, claimOf(c))
			// A generated name is chosen before admission, so the
			// message names the claim by it.
			claim := fmt.Sprintf("%q", c.name)
			if c.generate {
				claim = `PersistentVolumeClaim "` + c.name
			}
			mustContain(t, "the admission message", msg, claim, c.field, quoted(c))
		})
	}
	t.Run("without the webhook, the provisioner refuses each and makes no directory", func(t *testing.T) {
		e.withoutValidation(t, func() {
			var names []bad
			for _, c := range cases {
				cl := claimOf(c)
				create(t, cl)
				c.name = cl.Name // a generated name
				names = append(names, c)
			}
			var wants []eventWant
			for _, c := range names {
				wants = append(wants, eventWant{c.ns, c.name, "ProvisioningFailed", c.field, claimBound(t, c.ns, c.name)})
			}
			msgs := expectEvents(t, wants, time.Minute)
			for i, c := range names {
				mustContain(t, "the ProvisioningFailed event of "+c.name, msgs[i], quoted(c))
				if cl := getClaim(t, c.ns, c.name); cl.Status.Phase != corev1.ClaimPending {
					t.Errorf("claim %s/%s is %s", c.ns, c.name, cl.Status.Phase)
				}
			}
		})
		if got := listBase(t, e.base); !slices.Equal(got, baseBefore) {
			t.Errorf("the base path holds %v, had %v", got, baseBefore)
		}
		if got := treeHash(t, filepath.Join(e.base, victim)); got != victimDirBefore {
			t.Errorf("the victim's namespace directory changed")
		}
		if _, err := os.Lstat(filepath.Join(e.base, attacker)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a directory for the attacker's refused claims: %v", err)
		}
		e.checkAll(t, a)
	})
}

// 3. No volume's directory is inside another's or holds one: the
// StorageClass webhook refuses a class that could nest with an existing one
// (in either order), and the provisioner refuses a claim whose directory
// would be inside a volume or hold one, also one whose PV is gone but whose
// data was retained; cleaning up after a delete keeps a directory that
// holds a volume.
func TestTenantVolumesNeverNest(t *testing.T) {
	e := installForTenants(t)
	victim, attacker := e.victim, e.attacker
	whole := tenantClass(victim+"-whole", deletePol, false, map[string]string{"pathPattern": "{{ .PVC.Namespace }}"})
	inner := tenantClass(victim+"-data", deletePol, false, map[string]string{"pathPattern": "{{ .PVC.Namespace }}/{{ .PVC.Name }}/data"})
	c := framework.Client()

	t.Run("a class whose volumes would hold another class's is refused, naming both", func(t *testing.T) {
		createClusterScoped(t, inner.DeepCopy())
		msg := createRefused(t, whole.DeepCopy())
		mustContain(t, "the admission message", msg, whole.Name, inner.Name)
		deleteObj(t, inner)
		framework.WaitFor(t, 30*time.Second, func() (bool, error) {
			return apierrors.IsNotFound(c.Get(ctxT(t), client.ObjectKey{Name: inner.Name}, &storagev1.StorageClass{})), nil
		})
	})
	createClusterScoped(t, whole.DeepCopy())
	t.Run("a class whose volumes would be inside another class's is refused, naming both", func(t *testing.T) {
		msg := createRefused(t, inner.DeepCopy())
		mustContain(t, "the admission message", msg, whole.Name, inner.Name)
	})

	e.withoutValidation(t, func() {
		createClusterScoped(t, inner.DeepCopy())
		third := e.namespace(t)

		// Volumes made before any nesting attempt: a whole namespace, a
		// nested one, and a nested one retained after its claim and PV
		// are gone (only the disk remembers it).
		bound(t, newClaim(victim, "whole", "1Mi", &whole.Name, nil),
			newClaim(attacker, "deep", "1Mi", &inner.Name, nil),
			newClaim(third, "kept", "1Mi", &inner.Name, map[string]string{policy.AnnOnDelete: "retain"}))
		writeCanaries(t, victim, "whole")
		writeCanaries(t, attacker, "deep")
		writeCanaries(t, third, "kept")
		wholeV, deepV := record(t, victim, "whole", ""), record(t, attacker, "deep", "")
		if wholeV.dir != filepath.Join(e.base, victim) || deepV.dir != filepath.Join(e.base, attacker, "deep", "data") {
			t.Fatalf("setup: volumes at %s and %s", wholeV.dir, deepV.dir)
		}
		keptPV := getClaim(t, third, "kept").Spec.VolumeName
		keptDir := filepath.Join(e.base, third, "kept", "data")
		keptHash := treeHash(t, keptDir)
		deleteObj(t, getClaim(t, third, "kept"))
		waitPVPhase(t, keptPV, corev1.VolumeReleased)
		deleteObj(t, getPV(t, keptPV)) // the admin forgets the volume, the data stays
		waitPVGone(t, keptPV, time.Minute)

		refused := func(t *testing.T, ns, name, class, contains string) string {
			t.Helper()
			create(t, newClaim(ns, name, "1Mi", &class, nil))
			msg := expectEvent(t, ns, name, "ProvisioningFailed", contains, time.Minute, claimBound(t, ns, name))
			if cl := getClaim(t, ns, name); cl.Status.Phase != corev1.ClaimPending {
				t.Errorf("claim %s/%s is %s", ns, name, cl.Status.Phase)
			}
			return msg
		}

		t.Run("a claim whose directory would be inside a volume is refused", func(t *testing.T) {
			refused(t, victim, "nested", inner.Name, "inside")
			if _, err := os.Lstat(filepath.Join(e.base, victim, "nested")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a directory was made inside the volume of claim whole: %v", err)
			}
			e.checkAll(t, wholeV, deepV)
		})
		t.Run("a claim whose directory would hold a volume is refused", func(t *testing.T) {
			refused(t, attacker, "outer", whole.Name, "")
			e.checkAll(t, wholeV, deepV)
		})
		t.Run("a claim whose directory would hold a retained volume whose PV is gone is refused", func(t *testing.T) {
			refused(t, third, "outer", whole.Name, "")
			if got := treeHash(t, keptDir); got != keptHash {
				t.Errorf("the retained data in %s changed", keptDir)
			}
			e.checkAll(t, wholeV, deepV)
		})
		// Another team gets the namespace's name later: the retained
		// directory is not handed to a claim that happens to map to it.
		t.Run("a claim named like a retained volume's directory is not given its data", func(t *testing.T) {
			refused(t, third, "kept", inner.Name, keptDir)
			if got := treeHash(t, keptDir); got != keptHash {
				t.Errorf("the retained data in %s changed", keptDir)
			}
			e.checkAll(t, wholeV, deepV)
		})
		t.Run("deleting a nested volume keeps the parent that holds another volume", func(t *testing.T) {
			brief := newClaim(attacker, "brief", "1Mi", &inner.Name, nil)
			bound(t, brief)
			pv := getClaim(t, attacker, "brief").Spec.VolumeName
			deleteObj(t, brief)
			waitPVGone(t, pv, 2*time.Minute)
			waitGone(t, filepath.Join(e.base, attacker, "brief"), time.Minute)
			e.checkAll(t, wholeV, deepV)
		})
	})
}

// namesComponent reports whether msg names the directory rel (relative to
// base, or absolute) itself, not only a path below it.
func namesComponent(msg, base, rel string) bool {
	re := regexp.MustCompile(`(^|[^\w./-])(` + regexp.QuoteMeta(base+"/") + `)?` + regexp.QuoteMeta(rel) + `($|[^\w/-])`)
	return re.MatchString(msg)
}

// swapForSymlink plays an attacker who got hold of a directory the
// provisioner made: dir is moved aside and a symlink to target (staying
// inside the base path) takes its place. The returned function puts the
// real directory back; it also runs at the end of the test.
func swapForSymlink(t *testing.T, dir, target string) func() {
	t.Helper()
	aside := dir + "-moved-aside"
	if err := os.Rename(dir, aside); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, dir); err != nil {
		t.Fatal(err)
	}
	done := false
	restore := func() {
		if done {
			return
		}
		done = true
		if fi, err := os.Lstat(dir); err == nil && fi.Mode().Type() == fs.ModeSymlink {
			os.Remove(dir)
		}
		if err := os.Rename(aside, dir); err != nil {
			t.Errorf("putting %s back: %v", dir, err)
		}
	}
	t.Cleanup(restore)
	return restore
}

// 4. No symlink below the base path is ever followed: with a parent
// directory of a tenant's volumes (or the volume directory itself) swapped
// for a symlink into another tenant's volumes, deleting, archiving, growing
// and cloning through it are refused with a Warning that names the
// component, the other tenant's data stays byte-identical, and once the
// real directory is back the deletion completes on the tenant's own data.
func TestTenantSymlinkSwappedForADirectoryIsNeverFollowed(t *testing.T) {
	e := installForTenants(t)
	victim, attacker := e.victim, e.attacker
	nested := e.class(t, victim+"-nested", deletePol, true, map[string]string{"pathPattern": "{{ .PVC.Namespace }}/{{ .PVC.Name }}"})
	names := []string{"gone", "archived", "grown", "cloned", "leaf"}
	var victims []volumeState
	for _, ns := range []string{victim, attacker} {
		var claims []*corev1.PersistentVolumeClaim
		for _, n := range names {
			var ann map[string]string
			if n == "archived" {
				ann = map[string]string{policy.AnnOnDelete: "archive"}
			}
			claims = append(claims, newClaim(ns, n, "1Mi", &nested.Name, ann))
		}
		bound(t, claims...)
		writeCanaries(t, ns, names...)
	}
	for _, n := range names {
		victims = append(victims, record(t, victim, n, ""))
	}
	own := map[string]volumeState{}
	for _, n := range names {
		own[n] = record(t, attacker, n, "")
		if want := filepath.Join(e.base, attacker, n); own[n].dir != want {
			t.Fatalf("setup: %s lives at %s, want %s", n, own[n].dir, want)
		}
	}

	t.Run("a parent directory swapped for a relative symlink into another namespace", func(t *testing.T) {
		nsDir := filepath.Join(e.base, attacker)
		aside := treeHash(t, nsDir)
		restore := swapForSymlink(t, nsDir, victim)

		deleteObj(t, getClaim(t, attacker, "gone"))
		deleteObj(t, getClaim(t, attacker, "archived"))
		if err := patchClaim(t, attacker, "grown", sizePatch("2Mi")); err != nil {
			t.Fatalf("growing: %v", err)
		}
		clone := newClaim(attacker, "clone", "1Mi", &nested.Name, nil)
		clone.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "cloned"}
		create(t, clone)

		for _, n := range []string{"gone", "archived"} {
			t.Run("deleting "+n, func(t *testing.T) {
				msg := expectEvent(t, "default", own[n].pv, "VolumeFailedDelete", "symlink", 2*time.Minute, pvGone(t, own[n].pv))
				if msg != "" && !namesComponent(msg, e.base, attacker) {
					t.Errorf("the event does not name the swapped component %s: %s", nsDir, msg)
				}
			})
		}
		t.Run("growing", func(t *testing.T) {
			was := own["grown"].capacity
			expectEvent(t, attacker, "grown", "VolumeResizeFailed", "symlink", time.Minute, capacityChanged(t, own["grown"].pv, was))
			if c := getPV(t, own["grown"].pv).Spec.Capacity.Storage(); c.Cmp(was) != 0 {
				t.Errorf("PV capacity %s, was %s", c, &was)
			}
		})
		t.Run("cloning", func(t *testing.T) {
			expectEvent(t, attacker, "clone", "ProvisioningFailed", "symlink", time.Minute, claimBound(t, attacker, "clone"))
			if c := getClaim(t, attacker, "clone"); c.Status.Phase != corev1.ClaimPending {
				t.Errorf("the clone is %s", c.Status.Phase)
			}
		})
		for _, n := range []string{"gone", "archived"} {
			if _, err := os.Lstat(filepath.Join(e.base, attacker+"-moved-aside", n)); err != nil {
				t.Errorf("the attacker's own %s: %v", n, err)
			}
			if pvGone(t, own[n].pv)() {
				t.Errorf("PV %s was deleted through the symlink", own[n].pv)
			}
		}
		if m, _ := filepath.Glob(filepath.Join(e.base, "archived-*")); len(m) != 0 {
			t.Errorf("something was archived through the symlink: %v", m)
		}
		for _, v := range victims {
			v.unchanged(t)
		}

		restore()
		if got := treeHash(t, nsDir); got != aside {
			t.Errorf("the real directory changed while it was moved aside")
		}
		t.Run("with the directory back, the deletion completes", func(t *testing.T) {
			waitPVGone(t, own["gone"].pv, 4*time.Minute)
			waitGone(t, own["gone"].dir, time.Minute)
			waitPVGone(t, own["archived"].pv, 4*time.Minute)
			waitGone(t, own["archived"].dir, time.Minute)
			m, _ := filepath.Glob(filepath.Join(e.base, "archived-"+attacker+"-archived-*"))
			if len(m) != 1 {
				t.Fatalf("archives: %v", m)
			}
			if got := readFile(t, filepath.Join(m[0], "CANARY")); got != attacker+"/archived" {
				t.Errorf("the archive holds %q", got)
			}
		})
		t.Run("with the directory back, the clone has its own source's data", func(t *testing.T) {
			_, pv := waitBound(t, getClaim(t, attacker, "clone"), 4*time.Minute)
			if got := readFile(t, filepath.Join(pvPath(pv), "CANARY")); got != attacker+"/cloned" {
				t.Errorf("the clone holds %q", got)
			}
		})
		e.checkAll(t, victims...)
	})

	t.Run("a volume directory swapped for an absolute symlink to another tenant's volume", func(t *testing.T) {
		leaf := own["leaf"]
		restore := swapForSymlink(t, leaf.dir, filepath.Join(e.base, victim, "leaf"))
		deleteObj(t, getClaim(t, attacker, "leaf"))
		msg := expectEvent(t, "default", leaf.pv, "VolumeFailedDelete", "symlink", 2*time.Minute, pvGone(t, leaf.pv))
		if msg != "" && !namesComponent(msg, e.base, attacker+"/leaf") {
			t.Errorf("the event does not name the swapped component %s: %s", leaf.dir, msg)
		}
		for _, v := range victims {
			v.unchanged(t)
		}
		restore()
		waitPVGone(t, leaf.pv, 4*time.Minute)
		waitGone(t, leaf.dir, time.Minute)
		e.checkAll(t, victims...)
	})
}

// 5. Growth passes the rules of a new claim: the class's maxSize and the
// namespace's max-size are enforced at admission and, with admission out of
// the way, by the resizer, which refuses with a Warning on the claim and
// leaves PV capacity and claim status as they were.
func TestTenantCannotGrowAVolumePastTheRules(t *testing.T) {
	e := installForTenants(t)
	victim, attacker := e.victim, e.attacker
	small := e.class(t, victim+"-small", deletePol, true, map[string]string{"maxSize": "2Mi"})
	open := e.class(t, victim+"-open", deletePol, true, nil)
	annotateNamespace(t, attacker, policy.AnnNamespaceMaxSize, "3Mi")
	bound(t, newClaim(victim, "canary", "1Mi", &small.Name, nil))
	writeCanaries(t, victim, "canary")
	canary := record(t, victim, "canary", "")
	bound(t,
		newClaim(attacker, "checked", "1Mi", &small.Name, nil),
		newClaim(attacker, "big", "1Mi", &small.Name, nil),
		newClaim(attacker, "ns-limited", "1Mi", &open.Name, nil),
		newClaim(attacker, "fits", "1Mi", &small.Name, nil))

	sizes := func(t *testing.T, name, want string) {
		t.Helper()
		c := getClaim(t, attacker, name)
		pv := getPV(t, c.Spec.VolumeName)
		w := resource.MustParse(want)
		if got := pv.Spec.Capacity.Storage(); got.Cmp(w) != 0 {
			t.Errorf("%s: PV capacity %s, want %s", name, got, want)
		}
		if got := c.Status.Capacity.Storage(); got.Cmp(w) != 0 {
			t.Errorf("%s: claim status capacity %s, want %s", name, got, want)
		}
	}

	t.Run("the webhook refuses growth past the class maxSize", func(t *testing.T) {
		err := patchClaim(t, attacker, "checked", sizePatch("50Gi"))
		if err == nil {
			t.Fatal("growing to 50Gi was admitted")
		}
		mustContain(t, "the admission message", err.Error(), `"checked"`, "spec.resources.requests[storage]", `"50Gi"`, "2Mi")
		sizes(t, "checked", "1Mi")
	})
	t.Run("the webhook refuses growth past the namespace max-size", func(t *testing.T) {
		err := patchClaim(t, attacker, "ns-limited", sizePatch("4Mi"))
		if err == nil {
			t.Fatal("growing to 4Mi was admitted")
		}
		mustContain(t, "the admission message", err.Error(), `"ns-limited"`, "spec.resources.requests[storage]", `"4Mi"`, "3Mi", policy.AnnNamespaceMaxSize)
	})
	e.withoutValidation(t, func() {
		t.Run("without the webhook, the resizer refuses growth past the class maxSize", func(t *testing.T) {
			if err := patchClaim(t, attacker, "big", sizePatch("50Gi")); err != nil {
				t.Fatalf("with the webhook out of the way, the API server refused: %v", err)
			}
			msg := expectEvent(t, attacker, "big", "VolumeResizeFailed", "spec.resources.requests[storage]", time.Minute,
				capacityChanged(t, getClaim(t, attacker, "big").Spec.VolumeName, resource.MustParse("1Mi")))
			mustContain(t, "the VolumeResizeFailed event", msg, "50Gi", "2Mi")
			sizes(t, "big", "1Mi")
		})
		t.Run("without the webhook, the resizer refuses growth past the namespace max-size", func(t *testing.T) {
			if err := patchClaim(t, attacker, "ns-limited", sizePatch("4Mi")); err != nil {
				t.Fatalf("with the webhook out of the way, the API server refused: %v", err)
			}
			msg := expectEvent(t, attacker, "ns-limited", "VolumeResizeFailed", "spec.resources.requests[storage]", time.Minute,
				capacityChanged(t, getClaim(t, attacker, "ns-limited").Spec.VolumeName, resource.MustParse("1Mi")))
			mustContain(t, "the VolumeResizeFailed event", msg, "4Mi", "3Mi", policy.AnnNamespaceMaxSize)
			sizes(t, "ns-limited", "1Mi")
		})
	})
	// The refusals above are the resizer's, not a resizer that does nothing.
	t.Run("growth within the rules is granted", func(t *testing.T) {
		if err := patchClaim(t, attacker, "fits", sizePatch("2Mi")); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, attacker, "fits", "VolumeResizeSuccessful", "2Mi", time.Minute)
		framework.WaitFor(t, time.Minute, func() (bool, error) {
			c := getClaim(t, attacker, "fits")
			return c.Status.Capacity.Storage().Cmp(resource.MustParse("2Mi")) == 0, nil
		})
		sizes(t, "fits", "2Mi")
	})
	e.checkAll(t, canary)
}

// 6. Deleting a volume acts on its PV's own source path (spec.hostPath.path
// or spec.local.path, which nobody can edit): a hostpath.dev/path annotation
// edited to point at another volume (an admin's mistake) makes the delete
// refuse with a Warning saying they disagree, and touch nothing; with the
// annotation put right, the deletion completes.
func TestTenantVolumeIsDeletedAtItsOwnSourcePathOnly(t *testing.T) {
	e := installForTenants(t)
	victim, attacker := e.victim, e.attacker
	for _, tc := range []struct{ volumeType, field string }{{"hostPath", "spec.hostPath.path"}, {"local", "spec.local.path"}} {
		t.Run(tc.volumeType, func(t *testing.T) {
			sc := e.class(t, victim+"-"+strings.ToLower(tc.volumeType), deletePol, false, map[string]string{"volumeType": tc.volumeType})
			name := "data-" + strings.ToLower(tc.volumeType)
			bound(t, newClaim(victim, name, "1Mi", &sc.Name, nil), newClaim(attacker, name, "1Mi", &sc.Name, nil))
			writeCanaries(t, victim, name)
			writeCanaries(t, attacker, name)
			v, mine := record(t, victim, name, ""), record(t, attacker, name, "")
			rel, err := filepath.Rel(e.base, v.dir)
			if err != nil {
				t.Fatal(err)
			}
			patch := func(path string) {
				p := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, policy.AnnPath, path)
				if _, err := framework.Clientset().CoreV1().PersistentVolumes().Patch(ctxT(t), mine.pv, types.MergePatchType, []byte(p), metav1.PatchOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			patch(rel)
			deleteObj(t, getClaim(t, attacker, name))
			msg := expectEvent(t, "default", mine.pv, "VolumeFailedDelete", policy.AnnPath, 2*time.Minute, pvGone(t, mine.pv))
			mustContain(t, "the VolumeFailedDelete event", msg, "disagrees", tc.field)
			if err := realDirectory(mine.dir); err != nil {
				t.Errorf("the volume's own directory: %v", err)
			} else if got := treeHash(t, mine.dir); got != mine.hash {
				t.Errorf("the volume's own data changed before its delete was allowed")
			}
			e.checkAll(t, v)
			if t.Failed() {
				return
			}

			ownRel, _ := filepath.Rel(e.base, mine.dir)
			patch(ownRel)
			waitPVGone(t, mine.pv, 4*time.Minute)
			waitGone(t, mine.dir, time.Minute)
			e.checkAll(t, v)
		})
	}
}
