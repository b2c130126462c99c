package basepath

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mazdermind/hostpath-provisioner/pkg/policy"
)

func openSet(t *testing.T, node string, bps ...BasePath) *Set {
	t.Helper()
	s, err := Open(&Config{BasePaths: bps}, node)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestEachBasePathFailsOnItsOwn(t *testing.T) {
	good, missing := t.TempDir(), filepath.Join(t.TempDir(), "not-there")
	s := openSet(t, "n1", BasePath{Name: "good", Path: good}, BasePath{Name: "gone", Path: missing},
		BasePath{Name: "elsewhere", Nodes: map[string]string{"n2": "/mnt/x"}})
	if _, err := s.ForProvisioning("good"); err != nil {
		t.Fatalf("good: %v", err)
	}
	_, err := s.ForProvisioning("gone")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), `base path "gone" (`+missing+`) on node n1`) {
		t.Errorf("gone: %v", err)
	}
	_, err = s.ForProvisioning("elsewhere")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), `base path "elsewhere" has no directory on node n1`) {
		t.Errorf("elsewhere: %v", err)
	}
	if err := s.Check("elsewhere"); err != nil {
		t.Errorf("readiness of a base path this node does not have: %v, want nothing to check", err)
	}
	if err := s.Check("gone"); err == nil {
		t.Error("readiness of a missing base path passed")
	}
	if _, err := s.ForProvisioning("nope"); err == nil || !strings.Contains(err.Error(), `no base path is named "nope"; the configured ones are [good gone elsewhere]`) {
		t.Errorf("nope: %v", err)
	}
	// It appears (a late mount, an admin's mkdir): it is used from then on.
	if err := os.Mkdir(missing, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ForProvisioning("gone"); err != nil {
		t.Errorf("after mkdir: %v", err)
	}
}

func TestAReadOnlyBasePathIsNotProvisionedTo(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("bind mount: %v (needs root)", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	s := openSet(t, "n1", BasePath{Name: "ro", Path: dir})
	_, err := s.ForProvisioning("ro")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "is not writable") {
		t.Fatalf("err = %v", err)
	}
}

func TestAnUnmountedDiskIsNoticedNotFilled(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bulk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := openSet(t, "n1", BasePath{Name: "bulk", Path: dir, MustBeMountpoint: true})
	_, err := s.ForProvisioning("bulk")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "is not a mount point") {
		t.Fatalf("err = %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("something was written into the unmounted directory: %v", entries)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("mounting tmpfs: %v (needs root)", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	st, err := s.ForProvisioning("bulk")
	if err != nil {
		t.Fatalf("mounted: %v", err)
	}
	if sp, err := st.Space(); err != nil || sp.Total > 4<<20 {
		t.Errorf("the store is not on the mounted tmpfs: %+v %v", sp, err)
	}
	// Unmounted again (lazily: the store holds it open): the held store
	// is not handed out.
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ForProvisioning("bulk"); err == nil || !strings.Contains(err.Error(), "is not a mount point") {
		t.Errorf("after umount: %v", err)
	}
}

func TestForVolumeFindsTheVolumesBasePath(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	s := openSet(t, "n1", BasePath{Name: policy.DefaultBasePathName, Path: a}, BasePath{Name: "bulk", Path: b})
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-1", Annotations: map[string]string{policy.AnnLegacyIdentity: "n1"}},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: filepath.Join(b, "default-c-pvc-1")},
		}},
	}
	st, loc, name, err := s.ForVolume(pv)
	if err != nil {
		t.Fatal(err)
	}
	if name != "bulk" || st.Base() != b || loc.Rel != "default-c-pvc-1" {
		t.Errorf("ForVolume = %s %s %+v, want bulk %s default-c-pvc-1", name, st.Base(), loc, b)
	}
}

func TestAReadOnlyBindMountOverTheBasePathIsNoticed(t *testing.T) {
	dir := t.TempDir()
	s := openSet(t, "n1", BasePath{Name: "bulk", Path: dir})
	if _, err := s.ForProvisioning("bulk"); err != nil {
		t.Fatal(err)
	}
	// Same filesystem and inode, another mount: what the pods would get.
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("bind mount: %v (needs root)", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ForProvisioning("bulk"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "is not writable") {
		t.Fatalf("err = %v, want the read-only mount noticed", err)
	}
}
