package e2e

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mazdermind/hostpath-provisioner/pkg/location"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// A volume populator fills a claim whose dataSourceRef names a kind it
// owns. The test plays the populator the way lib-volume-populator does
// (the Kubernetes contract): it makes a claim of its own (the "prime"
// claim) with the same class and selected node, fills its volume with a
// pod, then points the volume's claimRef at the user's claim and deletes
// its own. We must admit the user's claim, never provision it ourselves,
// provision the prime claim, and then treat the handed-over volume as the
// user's: it is Bound, holds the data, and is deleted with the user's claim.
func TestVolumePopulatorFillsTheClaim(t *testing.T) {
	e := newWebhookEnv(t)
	ns := e.ns
	popNS := framework.NewNamespace(t)
	sc := e.class(t, ns+"-populated", wffc, nil)
	c := framework.Client()

	user := newClaim(ns, "populated", "2Mi", &sc.Name, nil)
	user.Spec.DataSourceRef = &corev1.TypedObjectReference{APIGroup: ptr.To("hello.example.com"), Kind: "Hello", Name: "greeting"}
	got, warnings, err := e.createClaim(t, user)
	if err != nil {
		t.Fatalf("a claim for a volume populator was refused: %v", err)
	}
	if w := strings.Join(warnings, " | "); !strings.Contains(w, "Hello.hello.example.com is filled by its volume populator") {
		t.Errorf("warnings %q, want one saying the populator fills the claim", w)
	}
	user = got

	// The user's pod makes the scheduler choose a node for the claim.
	reader := writerPod(ns, "reader", user.Name, "cat /data/greeting.txt")
	framework.RunPod(t, reader)
	framework.WaitFor(t, time.Minute, func() (bool, error) {
		if err := c.Get(ctxT(t), client.ObjectKeyFromObject(user), user); err != nil {
			return false, err
		}
		return user.Annotations[policy.AnnSelectedNode] != "", nil
	})

	// The populator's own claim, in its own namespace, for the same node.
	prime := newClaim(popNS, "prime-"+string(user.UID), "2Mi", &sc.Name,
		map[string]string{policy.AnnSelectedNode: user.Annotations[policy.AnnSelectedNode]})
	create(t, prime)
	prime, pv := waitBound(t, prime, time.Minute)
	populate := writerPod(popNS, "populate", prime.Name, "printf 'hello from the populator' > /data/greeting.txt && sync")
	framework.RunPod(t, populate)
	framework.WaitPodSucceeded(t, popNS, populate.Name, 2*time.Minute)
	deleteObj(t, populate)

	// Nothing was provisioned for the user's claim itself: the only volume
	// of the class is the prime claim's.
	var pvs corev1.PersistentVolumeList
	if err := c.List(ctxT(t), &pvs); err != nil {
		t.Fatal(err)
	}
	for _, v := range pvs.Items {
		if v.Spec.StorageClassName == sc.Name && v.Name != pv.Name {
			t.Errorf("PV %s (claim %v) was provisioned for a claim the populator fills", v.Name, v.Spec.ClaimRef)
		}
	}

	// Hand the volume over, as the populator does, and let go of the prime.
	handover := client.MergeFrom(pv.DeepCopy())
	pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
		Namespace: user.Namespace, Name: user.Name, UID: user.UID}
	if err := c.Patch(ctxT(t), pv, handover); err != nil {
		t.Fatalf("handing volume %s over to the user's claim: %v", pv.Name, err)
	}
	deleteObj(t, prime)

	user, bound := waitBound(t, user, 2*time.Minute)
	if bound.Name != pv.Name {
		t.Fatalf("user's claim bound to %s, want the populated %s", bound.Name, pv.Name)
	}
	framework.WaitPodSucceeded(t, ns, reader.Name, 2*time.Minute)
	if logs := framework.PodLogs(t, ns, reader.Name); !strings.Contains(logs, "hello from the populator") {
		t.Errorf("the user's pod read %q, want the populated data", logs)
	}
	_, dir := location.SourcePath(bound)
	if got := readFile(t, dir+"/greeting.txt"); got != "hello from the populator" {
		t.Errorf("greeting.txt on the host = %q", got)
	}

	// The handed-over volume is the user's: deleting the user's claim
	// deletes it (the class reclaims with Delete).
	deleteObj(t, reader)
	deleteObj(t, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user.Name}})
	waitPVGone(t, pv.Name, 2*time.Minute)
	waitGone(t, dir, time.Minute)
}
