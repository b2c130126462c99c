package provisioner

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mazdermind/hostpath-provisioner/pkg/volume"
)

func TestAdoptRegistersVolumesOfEarlierVersionsSoNothingNestsInThem(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	// A volume made before the registry existed: a directory and its PV.
	old := pvFor(f, "ns", "retain")
	old.Name = "pvc-old"
	if err := os.MkdirAll(filepath.Join(f.base, "ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	gone := pvFor(f, "gone", "delete")
	gone.Name = "pvc-gone"
	if err := f.client.Create(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := f.client.Create(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := f.p.Adopt(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.store.IsVolume("ns"); err != nil || !ok {
		t.Fatalf("IsVolume(ns) = %v, %v; want the old volume adopted", ok, err)
	}
	if ok, _ := f.store.IsVolume("gone"); ok {
		t.Error("a PV whose directory is gone was registered")
	}
	_, err := f.store.CreateVolume("ns/inside", volume.CreateOptions{PV: "pvc-new", Mode: 0o777})
	if !errors.Is(err, volume.ErrNested) {
		t.Fatalf("a volume inside the adopted one: err = %v, want ErrNested", err)
	}
}
