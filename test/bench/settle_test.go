package bench

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v10/controller"

	"github.com/mazdermind/hostpath-provisioner/test/framework"
)

// settle waits until what earlier benchmarks left is gone (their PVs, whose
// provisioner has stopped, and their namespaces), so that a benchmark's
// floor does not pay for another's cleanup in kube-controller-manager's
// queue.
func settle(b *testing.B, cs kubernetes.Interface) {
	b.Helper()
	ctx := context.Background()
	pvs, err := cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, pv := range pvs.Items {
		if len(pv.Finalizers) > 0 {
			_, _ = cs.CoreV1().PersistentVolumes().Patch(ctx, pv.Name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		}
		_ = cs.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
	}
	framework.WaitFor(b, 5*time.Minute, func() (bool, error) {
		pvs, err := cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		if err != nil || len(pvs.Items) > 0 {
			return false, err
		}
		nss, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, ns := range nss.Items {
			if ns.Status.Phase == corev1.NamespaceTerminating {
				return false, nil
			}
		}
		return true, nil
	})
}

// nullProvisioner creates a PV the moment it is asked, touching nothing: it
// runs the same library with the same settings as ours, so the time it
// takes is what the external-provisioning protocol itself costs (the
// binder annotates the claim, a PV is created, the binder binds both).
type nullProvisioner struct{}

func (nullProvisioner) Provision(_ context.Context, opts controller.ProvisionOptions) (*corev1.PersistentVolume, controller.ProvisioningState, error) {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: opts.PVName},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: opts.PVC.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   opts.PVC.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: *opts.StorageClass.ReclaimPolicy,
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: "/nonexistent/" + opts.PVName, Type: ptr.To(corev1.HostPathDirectory)}},
		},
	}, controller.ProvisioningFinished, nil
}

func (nullProvisioner) Delete(context.Context, *corev1.PersistentVolume) error { return nil }

// startNullProvisioner runs nullProvisioner under name until the benchmark
// ends, with the settings our process gives the library.
func startNullProvisioner(b *testing.B, name string) {
	b.Helper()
	cfg := framework.RESTConfig()
	cfg.QPS, cfg.Burst = 100, 200 // our defaults
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	pc := controller.NewProvisionController(klog.Background(), cs, name, nullProvisioner{},
		controller.LeaderElection(false), controller.Threadiness(16), controller.MetricsPort(0))
	done := make(chan struct{})
	go func() { pc.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
}

// nullClass is a StorageClass of the null provisioner.
func nullClass(name, provisioner string) *storagev1.StorageClass {
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner,
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate), ReclaimPolicy: ptr.To(corev1.PersistentVolumeReclaimDelete)}
}
