package provisioner

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// The library records through a broadcaster to an EventSinkImpl made from
// the clientset it is given; this test takes the same path.
func TestOnlyTheLibrarysStartEventIsDropped(t *testing.T) {
	real := fake.NewClientset()
	cs := WithoutStartEvents(real)
	b := record.NewBroadcaster()
	defer b.Shutdown()
	b.StartRecordingToSink(&corev1client.EventSinkImpl{Interface: cs.CoreV1().Events(corev1.NamespaceAll)})
	rec := b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "test"})

	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", UID: "u1"}}
	rec.Event(claim, corev1.EventTypeNormal, "Provisioning", "External provisioner is provisioning volume for claim")
	rec.Event(claim, corev1.EventTypeNormal, "ProvisioningSucceeded", "Successfully provisioned volume pvc-1")
	rec.Event(claim, corev1.EventTypeWarning, "Provisioning", "a warning is never dropped")

	written := func() map[string]int {
		list, err := real.CoreV1().Events("ns").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		reasons := map[string]int{}
		for _, e := range list.Items {
			reasons[e.Type+"/"+e.Reason]++
		}
		return reasons
	}
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return len(written()) >= 2, nil
	})
	if err != nil {
		t.Fatalf("events written: %v (%v)", written(), err)
	}
	time.Sleep(200 * time.Millisecond) // a dropped event would have arrived by now, too
	reasons := written()
	want := map[string]int{"Normal/ProvisioningSucceeded": 1, "Warning/Provisioning": 1}
	if len(reasons) != len(want) || reasons["Normal/ProvisioningSucceeded"] != 1 || reasons["Warning/Provisioning"] != 1 {
		t.Fatalf("events written = %v, want %v", reasons, want)
	}
}
