package provisioner

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v10/controller"

	"github.com/mazdermind/hostpath-provisioner/pkg/basepath"
	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

func TestAClassWithABasePathProvisionsThereAndDeletesThere(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	pv, _, err := f.p.Provision(ctx, controller.ProvisionOptions{
		StorageClass: class(map[string]string{policy.ParamBasePath: "bulk"}, corev1.PersistentVolumeReclaimDelete), PVName: "pvc-1",
		PVC: claim("default", "c", "1Mi", nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(f.bulk, "default-c-pvc-1")
	if pv.Spec.HostPath.Path != dir || pv.Annotations[policy.AnnBasePath] != f.bulk {
		t.Fatalf("PV path %s, base annotation %s; want %s under %s", pv.Spec.HostPath.Path, pv.Annotations[policy.AnnBasePath], dir, f.bulk)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(f.base); len(entries) != 0 {
		t.Errorf("the default base path was touched: %v", entries)
	}
	if err := f.p.Delete(ctx, pv); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there after Delete: %v", dir, err)
	}
}

func TestABrokenBasePathFailsOnlyItsClasses(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	if err := os.Remove(f.bulk); err != nil { // the disk is gone
		t.Fatal(err)
	}
	selected := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
	_, state, err := f.p.Provision(ctx, controller.ProvisionOptions{
		StorageClass: class(map[string]string{policy.ParamBasePath: "bulk"}, ""), PVName: "pvc-1",
		PVC: claim("default", "c", "1Mi", nil), SelectedNode: selected,
	})
	if !errors.Is(err, basepath.ErrUnavailable) || !strings.Contains(err.Error(), `StorageClass hostpath cannot provision on node node-a: base path "bulk" (`+f.bulk+`) on node node-a`) {
		t.Fatalf("err = %v, want one naming the base path", err)
	}
	if state != controller.ProvisioningReschedule {
		t.Errorf("state = %v: a claim with a selected node goes back to the scheduler", state)
	}
	_, state, err = f.p.Provision(ctx, controller.ProvisionOptions{
		StorageClass: class(map[string]string{policy.ParamBasePath: "bulk"}, ""), PVName: "pvc-1", PVC: claim("default", "c", "1Mi", nil),
	})
	if err == nil || state != controller.ProvisioningFinished {
		t.Errorf("an Immediate claim is retried with backoff: %v %v", state, err)
	}
	if _, _, err := f.p.Provision(ctx, controller.ProvisionOptions{
		StorageClass: class(nil, ""), PVName: "pvc-2", PVC: claim("default", "d", "1Mi", nil), SelectedNode: selected,
	}); err != nil {
		t.Fatalf("the default base path keeps working: %v", err)
	}
}

func TestAnUnknownBasePathIsRefusedWithTheKnownOnes(t *testing.T) {
	f := newFixture(t)
	_, _, err := f.p.Provision(testCtx(t), controller.ProvisionOptions{
		StorageClass: class(map[string]string{policy.ParamBasePath: "slow"}, ""), PVName: "pvc-1", PVC: claim("default", "c", "1Mi", nil),
	})
	if err == nil || !strings.Contains(err.Error(), `parameters[basePath]: Unsupported value: "slow": supported values: "default", "bulk"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestACloneOnAnotherBasePathThanItsSourceIsRefused(t *testing.T) {
	f := newFixture(t)
	mkdirAll(t, filepath.Join(f.base, "src"), 0o755)
	c, pv := source(f.base, node, "src")
	f.add(t, c, pv)
	_, _, err := f.p.Provision(testCtx(t), controller.ProvisionOptions{
		StorageClass: class(map[string]string{policy.ParamBasePath: "bulk"}, ""), PVName: "pvc-1", PVC: cloneClaim("1Mi", nil),
	})
	want := `cannot clone default/src: it is on base path "default" (` + f.base + `), but StorageClass hostpath puts volumes on base path "bulk" (` + f.bulk + `)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if entries, _ := os.ReadDir(f.bulk); len(entries) != 0 {
		t.Errorf("a refused clone touched the disk: %v", entries)
	}
}
