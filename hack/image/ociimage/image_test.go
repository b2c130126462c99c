package ociimage

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The index `make image` builds, from this checkout, built once for all
// tests of the package (three cross-compilations).
var built struct {
	once    sync.Once
	idx     v1.ImageIndex
	version string
	work    string
	err     error
}

func builtIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	built.once.Do(func() {
		built.work, built.err = os.MkdirTemp("", "ociimage-test-")
		if built.err != nil {
			return
		}
		t0 := time.Now()
		built.idx, built.version, built.err = Build(context.Background(), Options{
			RepoRoot: filepath.Join("..", "..", ".."),
			WorkDir:  built.work,
			Logf:     t.Logf,
		})
		t.Logf("built the index in %.1fs", time.Since(t0).Seconds())
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.idx
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.work != "" {
		os.RemoveAll(built.work)
	}
	os.Exit(code)
}

// platformImages returns each image of the index with its descriptor.
func platformImages(t *testing.T, idx v1.ImageIndex) ([]v1.Descriptor, []v1.Image) {
	t.Helper()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var imgs []v1.Image
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	return m.Manifests, imgs
}

// elfMachines are the ELF machines of the architectures we publish.
var elfMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "arm": elf.EM_ARM}

func TestIndexHasTheThreePlatformsAndEachConfigAgrees(t *testing.T) {
	idx := builtIndex(t)
	if mt, _ := idx.MediaType(); mt != types.OCIImageIndex {
		t.Errorf("index media type %s, want %s", mt, types.OCIImageIndex)
	}
	descs, imgs := platformImages(t, idx)
	want := []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}
	if len(descs) != len(want) {
		t.Fatalf("index has %d images, want %v", len(descs), want)
	}
	var baseDigest v1.Hash
	for i, d := range descs {
		if d.Platform == nil || PlatformString(*d.Platform) != want[i] {
			t.Errorf("image %d: platform %v, want %s", i, d.Platform, want[i])
			continue
		}
		if d.MediaType != types.OCIManifestSchema1 {
			t.Errorf("%s: media type %s, want %s", want[i], d.MediaType, types.OCIManifestSchema1)
		}
		cfg, err := imgs[i].ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.OS != d.Platform.OS || cfg.Architecture != d.Platform.Architecture || cfg.Variant != d.Platform.Variant {
			t.Errorf("%s: config says %s/%s/%s", want[i], cfg.OS, cfg.Architecture, cfg.Variant)
		}
		if strings.Join(cfg.Config.Entrypoint, " ") != Entrypoint || cfg.Config.User != "0:0" || len(cfg.Config.Cmd) != 0 {
			t.Errorf("%s: entrypoint %q cmd %q user %q, want [%s] none 0:0", want[i], cfg.Config.Entrypoint, cfg.Config.Cmd, cfg.Config.User, Entrypoint)
		}
		for k, v := range Labels(built.version) {
			if cfg.Config.Labels[k] != v {
				t.Errorf("%s: label %s=%q, want %q", want[i], k, cfg.Config.Labels[k], v)
			}
		}
		if !cfg.Created.Equal(Epoch) {
			t.Errorf("%s: created %s, want %s", want[i], cfg.Created.Time, Epoch)
		}
		layers, err := imgs[i].Layers()
		if err != nil || len(layers) != 2 {
			t.Fatalf("%s: %d layers (%v), want base and binary", want[i], len(layers), err)
		}
		// The base is one blob for all platforms: a registry stores it once.
		if d := digest(t, layers[0]); i == 0 {
			baseDigest = d
		} else if d != baseDigest {
			t.Errorf("%s: base layer %s, amd64's is %s", want[i], d, baseDigest)
		}
	}
	m, _ := idx.IndexManifest()
	if m.Annotations["org.opencontainers.image.version"] != built.version || m.Annotations["org.opencontainers.image.source"] == "" {
		t.Errorf("index annotations %v, want the labels", m.Annotations)
	}
}

// binaryOf extracts the binary from an image's last layer into dir.
func binaryOf(t *testing.T, img v1.Image, dir string) string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[len(layers)-1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("no %s in the image's last layer", Entrypoint)
		}
		if err != nil {
			t.Fatal(err)
		}
		if "/"+h.Name != Entrypoint {
			continue
		}
		if h.Mode != 0o755 || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: mode %o owner %d:%d, want 0755 root", Entrypoint, h.Mode, h.Uid, h.Gid)
		}
		out := filepath.Join(dir, "hostpath-provisioner")
		f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, tr); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return out
	}
}

func TestEachImageHoldsAStaticBinaryForItsPlatform(t *testing.T) {
	descs, imgs := platformImages(t, builtIndex(t))
	for i, d := range descs {
		p := *d.Platform
		t.Run(PlatformString(p), func(t *testing.T) {
			bin := binaryOf(t, imgs[i], t.TempDir())
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatalf("not an ELF file: %v", err)
			}
			defer f.Close()
			if f.Machine != elfMachines[p.Architecture] {
				t.Errorf("ELF machine %s, want %s", f.Machine, elfMachines[p.Architecture])
			}
			if interp := f.Section(".interp"); interp != nil {
				t.Errorf("the binary has an interpreter (.interp): it is not static")
			}
			info, err := buildinfo.ReadFile(bin)
			if err != nil {
				t.Fatalf("reading the Go build info: %v", err)
			}
			settings := map[string]string{}
			for _, s := range info.Settings {
				settings[s.Key] = s.Value
			}
			want := map[string]string{"GOOS": p.OS, "GOARCH": p.Architecture, "CGO_ENABLED": "0", "-trimpath": "true"}
			if p.Variant != "" {
				want["GOARM"] = strings.TrimPrefix(p.Variant, "v")
			}
			for k, v := range want {
				if settings[k] != v {
					t.Errorf("built with %s=%q, want %q", k, settings[k], v)
				}
			}
			if info.Path != "github.com/mazdermind/hostpath-provisioner/cmd/hostpath-provisioner" {
				t.Errorf("binary of %s, want the provisioner", info.Path)
			}
		})
	}
}

// qemuArch names each architecture as qemu-user-static does.
var qemuArch = map[string]string{"amd64": "x86_64", "arm64": "aarch64", "arm": "arm"}

// The binaries are run, not only compiled: each image's binary answers
// --help and check --help, natively on the host's architecture and under
// qemu-user-static (its interpreter called directly, no binfmt_misc needed)
// on the others.
func TestEachImagesBinaryRunsOnItsArchitecture(t *testing.T) {
	descs, imgs := platformImages(t, builtIndex(t))
	for i, d := range descs {
		p := *d.Platform
		t.Run(PlatformString(p), func(t *testing.T) {
			bin := binaryOf(t, imgs[i], t.TempDir())
			var prefix []string
			if p.Architecture != runtime.GOARCH {
				qemu := "qemu-" + qemuArch[p.Architecture] + "-static"
				path, err := exec.LookPath(qemu)
				if err != nil {
					t.Fatalf("%s not found: install Debian package qemu-user-static (`make apt-deps`): %v", qemu, err)
				}
				prefix = []string{path}
			}
			for _, tc := range []struct {
				args []string
				want []string
			}{
				{[]string{"--help"}, []string{"Usage of hostpath-provisioner:", "-base-path", "-provisioner-name", "-webhook-port"}},
				{[]string{"check", "--help"}, []string{"Usage of hostpath-provisioner check:", "-kubeconfig", "-namespace"}},
			} {
				argv := append(append(append([]string{}, prefix...), bin), tc.args...)
				cmd := exec.Command(argv[0], argv[1:]...)
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				t0 := time.Now()
				err := cmd.Run()
				t.Logf("%s %s: exit %v after %.2fs", PlatformString(p), strings.Join(tc.args, " "), cmd.ProcessState.ExitCode(), time.Since(t0).Seconds())
				if err != nil {
					t.Errorf("%s: %v\n%s", strings.Join(tc.args, " "), err, out.String())
					continue
				}
				for _, w := range tc.want {
					if !strings.Contains(out.String(), w) {
						t.Errorf("%s: output lacks %q:\n%s", strings.Join(tc.args, " "), w, out.String())
					}
				}
			}
		})
	}
}

// The same binaries, base and version give the same image and index
// digests: nothing of the build's time or place gets in.
func TestSameInputsGiveTheSameDigests(t *testing.T) {
	idx := builtIndex(t)
	base, err := BaseLayer("/")
	if err != nil {
		t.Fatal(err)
	}
	var adds []mutate.IndexAddendum
	for _, p := range Platforms {
		bin := filepath.Join(built.work, strings.ReplaceAll(PlatformString(p), "/", "-"), "hostpath-provisioner")
		img, err := Image(base, bin, p, built.version)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	again := Index(built.version, adds...)
	d1, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := again.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		m1, _ := idx.RawManifest()
		m2, _ := again.RawManifest()
		t.Errorf("index digest %s, then %s:\n%s\n%s", d1, d2, m1, m2)
	}
	t.Logf("index %s", d1)
}

func TestLayoutAndArchiveNameTheImage(t *testing.T) {
	base, err := BaseLayer("/")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "hostpath-provisioner")
	if err := os.WriteFile(bin, []byte("not really a binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	img, err := Image(base, bin, p, "v9.9.9")
	if err != nil {
		t.Fatal(err)
	}
	idx := Index("v9.9.9", mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	dir := t.TempDir()
	ref := Repository + ":v9.9.9"
	if err := WriteLayout(filepath.Join(dir, "layout"), idx, ref); err != nil {
		t.Fatal(err)
	}
	got, name, err := ReadLayout(filepath.Join(dir, "layout"))
	if err != nil {
		t.Fatal(err)
	}
	if name != ref {
		t.Errorf("layout names %q, want %q", name, ref)
	}
	if d1, d2 := mustDigest(t, idx), mustDigest(t, got); d1 != d2 {
		t.Errorf("layout holds %s, want %s", d2, d1)
	}
	archive := filepath.Join(dir, "image.oci.tar")
	if err := WriteArchive(archive, idx, ref); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
	}
	for _, n := range []string{"oci-layout", "index.json", "blobs/sha256/" + mustDigest(t, idx).Hex} {
		if !names[n] {
			t.Errorf("archive lacks %s; has %v", n, names)
		}
	}
}

func mustDigest(t *testing.T, idx v1.ImageIndex) v1.Hash {
	t.Helper()
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
