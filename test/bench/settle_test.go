package bench

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
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
// Its PVs all point at dir, which exists, so that pods can use them; on a
// selected node they are pinned to it, as ours are.
type nullProvisioner struct{ dir string }

func (p nullProvisioner) Provision(_ context.Context, opts controller.ProvisionOptions) (*corev1.PersistentVolume, controller.ProvisioningState, error) {
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: opts.PVName},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: opts.PVC.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   opts.PVC.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: *opts.StorageClass.ReclaimPolicy,
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: p.dir, Type: ptr.To(corev1.HostPathDirectory)}},
		},
	}
	if opts.SelectedNode != nil {
		pv.Spec.NodeAffinity = onNode(opts.SelectedNode.Name)
	}
	return pv, controller.ProvisioningFinished, nil
}

func (nullProvisioner) Delete(context.Context, *corev1.PersistentVolume) error { return nil }

// startNullProvisioner runs nullProvisioner under name until the benchmark
// ends, with the settings our process gives the library: 16 workers, a
// client at 100 QPS speaking protobuf, and informers (nodes included) it
// reads instead of the API server.
func startNullProvisioner(b *testing.B, name, dir string) {
	b.Helper()
	cfg := framework.RESTConfig()
	cfg.QPS, cfg.Burst = 100, 200 // our defaults
	cfg.ContentType = runtime.ContentTypeProtobuf
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(cs, 0)
	core := factory.Core().V1()
	pc := controller.NewProvisionController(klog.Background(), cs, name, nullProvisioner{dir: dir},
		controller.LeaderElection(false), controller.Threadiness(16), controller.MetricsPort(0),
		controller.ClaimsInformer(core.PersistentVolumeClaims().Informer()),
		controller.VolumesInformer(core.PersistentVolumes().Informer()),
		controller.ClassesInformer(factory.Storage().V1().StorageClasses().Informer()),
		controller.NodesLister(core.Nodes().Lister()),
		controller.AddFinalizer(true))
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() { pc.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done; factory.Shutdown() })
}

// nullClass is a StorageClass of the null provisioner.
func nullClass(name, provisioner string) *storagev1.StorageClass {
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner,
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate), ReclaimPolicy: ptr.To(corev1.PersistentVolumeReclaimDelete)}
}
