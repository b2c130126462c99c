package bench

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// BenchmarkWaitForFirstConsumer50: 50 WaitForFirstConsumer claims, each
// with a real pod on the kubelet, create-to-Bound latency, against the same
// with pre-made PVs pinned to the node (the scheduler and binder alone).
func BenchmarkWaitForFirstConsumer50(b *testing.B) {
	const n = 50
	cs := fastClient()
	ctx := context.Background()
	settle(b, cs)
	wffc := ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)

	floorNS := namespace(b)
	floorClass := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: floorNS}, Provisioner: "kubernetes.io/no-provisioner", VolumeBindingMode: wffc}
	createClass(b, cs, floorClass)
	b.Cleanup(func() {
		_ = cs.CoreV1().PersistentVolumes().DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "bench=" + floorNS})
	})
	for i := range n {
		pv := staticPV(floorNS, floorClass.Name, i)
		pv.Spec.HostPath.Path = b.TempDir()
		pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{framework.NodeName()}}},
		}}}}
		if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	floor, floorLat := claimsWithPods(b, cs, floorNS, floorClass.Name, n)

	base, err := os.MkdirTemp("", "hpp-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(base) })
	framework.StartProvisioner(b, base)
	ns := namespace(b)
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: ns}, Provisioner: policy.ProvisionerName, VolumeBindingMode: wffc,
		ReclaimPolicy: ptr.To(corev1.PersistentVolumeReclaimDelete)}
	createClass(b, cs, class)
	ours, lat := claimsWithPods(b, cs, ns, class.Name, n)

	reportVsFloor(b, floor, ours, floorLat, lat)
}

func createClass(b *testing.B, cs kubernetes.Interface, sc *storagev1.StorageClass) {
	b.Helper()
	if _, err := cs.StorageV1().StorageClasses().Create(context.Background(), sc, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cs.StorageV1().StorageClasses().Delete(context.Background(), sc.Name, metav1.DeleteOptions{})
	})
}

// claimsWithPods creates n claims and, right after each, a pod using it;
// it returns the time until all claims are Bound and their latencies.
func claimsWithPods(b *testing.B, cs kubernetes.Interface, ns, class string, n int) (time.Duration, []time.Duration) {
	b.Helper()
	var claims []*corev1.PersistentVolumeClaim
	for i := range n {
		claims = append(claims, claimOf(ns, fmt.Sprintf("c%d", i), class))
	}
	go func() {
		for i := range n {
			pod := framework.BusyboxPod(ns, fmt.Sprintf("p%d", i), "true")
			pod.Spec.RestartPolicy = corev1.RestartPolicyNever
			pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
			pod.Spec.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent
			pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: fmt.Sprintf("c%d", i)}}}}
			pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
			if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
				b.Errorf("creating pod: %v", err)
			}
		}
	}()
	return createAndWaitBound(b, cs, claims)
}
