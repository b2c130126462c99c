package usage

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/mazdermind/hostpath-provisioner/pkg/location"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
	"github.com/mazdermind/hostpath-provisioner/pkg/volume"
)

// fakeMeasurer finds a volume as pkg/basepath's Set does (location.Resolve
// over the node's base paths) and reports a fixed usage per directory.
type fakeMeasurer map[string]int64

func (f fakeMeasurer) Usage(pv *corev1.PersistentVolume, _ int) (volume.Usage, error) {
	loc, err := location.Resolve(pv, []string{"/var/kubernetes"})
	if err != nil {
		return volume.Usage{}, err
	}
	return volume.Usage{Used: f[loc.Rel], Source: volume.FromWalk}, nil
}

func pv(name, node, rel string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{policy.AnnNode: node, policy.AnnPath: rel}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")},
			ClaimRef: &corev1.ObjectReference{Namespace: "ns", Name: "claim-" + name},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: "/var/kubernetes/" + rel},
			},
		},
	}
}

func TestCollectorReportsThisNodesVolumesOnly(t *testing.T) {
	// A PV whose path annotation names another volume is not measured at all.
	disagreeing := pv("disagreeing", "n1", "ns-a")
	disagreeing.Spec.HostPath.Path = "/var/kubernetes/ns-c"
	c := fake.NewClientBuilder().WithObjects(pv("mine", "n1", "ns-a"), pv("theirs", "n2", "ns-b"), pv("tampered", "n1", "../etc"), disagreeing).Build()
	col := NewCollector(c, fakeMeasurer{"ns-a": 4096, "ns-b": 1}, "n1", 0)
	if err := col.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP hostpath_provisioner_volume_capacity_bytes The volume's size as provisioned (the PV capacity).
# TYPE hostpath_provisioner_volume_capacity_bytes gauge
hostpath_provisioner_volume_capacity_bytes{namespace="ns",persistentvolume="mine",persistentvolumeclaim="claim-mine"} 1.048576e+06
# HELP hostpath_provisioner_volume_used_bytes Bytes used by a volume: from its btrfs qgroup or project quota where it has one (a qgroup lags writes by up to 30 s), else the allocated blocks counted by a bounded walk of its tree.
# TYPE hostpath_provisioner_volume_used_bytes gauge
hostpath_provisioner_volume_used_bytes{namespace="ns",persistentvolume="mine",persistentvolumeclaim="claim-mine",truncated="false"} 4096
`
	if err := testutil.CollectAndCompare(col, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
