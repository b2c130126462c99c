package framework

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// FileSpec is one entry of an image's only layer.
type FileSpec struct {
	// Mode holds the permission bits, plus fs.ModeDir for a directory or
	// fs.ModeSymlink for a symbolic link. Zero means 0644 for a file.
	Mode fs.FileMode
	// Data is the file's content. Source, when set, names a host file to
	// copy instead (a binary, for instance).
	Data   []byte
	Source string
	// LinkTarget is the target of a symbolic link.
	LinkTarget string
}

const (
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	// fixed timestamps make the same files always give the same image ID
	imageEpoch = "2000-01-01T00:00:00Z"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// ImageConfig is the run configuration of an image.
type ImageConfig struct {
	Entrypoint []string
	// Cmd is the default arguments (or command, without Entrypoint); a
	// pod's args replace it.
	Cmd []string
	// Env defaults to a PATH covering the usual bin directories.
	Env []string
	// User such as "65532:65532"; empty means root.
	User string
}

// BuildImage writes an OCI image archive with a single layer holding files
// (keyed by their path in the image; missing parent directories are added)
// into dir, and returns the archive's path. The archive carries the image
// name name:tag, so LoadImage makes it available to the kubelet without a
// registry; pods should use imagePullPolicy Never or IfNotPresent.
func BuildImage(dir, name, tag string, files map[string]FileSpec, entrypoint []string) (string, error) {
	return BuildImageWithConfig(dir, name, tag, files, ImageConfig{Entrypoint: entrypoint})
}

// BuildImageWithConfig is BuildImage with the whole run configuration.
func BuildImageWithConfig(dir, name, tag string, files map[string]FileSpec, cfg ImageConfig) (string, error) {
	ref := name + ":" + tag
	if cfg.Env == nil {
		cfg.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	layer, diffID, err := buildLayer(files)
	if err != nil {
		return "", fmt.Errorf("building layer of %s: %w", ref, err)
	}
	config, err := json.Marshal(map[string]any{
		"created":      imageEpoch,
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config": map[string]any{
			"Entrypoint": cfg.Entrypoint,
			"Cmd":        cfg.Cmd,
			"Env":        cfg.Env,
			"User":       cfg.User,
			"WorkingDir": "/",
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history": []map[string]string{{"created": imageEpoch, "created_by": "hostpath-provisioner test framework"}},
	})
	if err != nil {
		return "", fmt.Errorf("encoding config of %s: %w", ref, err)
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaTypeManifest,
		"config":        blobDescriptor(mediaTypeConfig, config),
		"layers":        []descriptor{blobDescriptor(mediaTypeLayer, layer)},
	})
	if err != nil {
		return "", fmt.Errorf("encoding manifest of %s: %w", ref, err)
	}
	md := blobDescriptor(mediaTypeManifest, manifest)
	md.Platform = &platform{Architecture: runtime.GOARCH, OS: "linux"}
	md.Annotations = map[string]string{
		"io.containerd.image.name":          ref, // the name `ctr images import` gives the image
		"org.opencontainers.image.ref.name": tag,
	}
	index, err := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []descriptor{md}})
	if err != nil {
		return "", fmt.Errorf("encoding index of %s: %w", ref, err)
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating image dir: %w", err)
	}
	archive := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(ref)+".oci.tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{blobPath(config), config},
		{blobPath(manifest), manifest},
		{blobPath(layer), layer},
	}
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}); err != nil {
			return "", fmt.Errorf("writing archive of %s: %w", ref, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return "", fmt.Errorf("writing archive of %s: %w", ref, err)
		}
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("writing archive of %s: %w", ref, err)
	}
	if err := os.WriteFile(archive, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("writing archive of %s: %w", ref, err)
	}
	return archive, nil
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func blobDescriptor(mediaType string, b []byte) descriptor {
	return descriptor{MediaType: mediaType, Digest: digestOf(b), Size: int64(len(b))}
}

func blobPath(b []byte) string {
	return "blobs/sha256/" + strings.TrimPrefix(digestOf(b), "sha256:")
}

// buildLayer returns the gzipped layer tar and its diff ID (the digest of
// the uncompressed tar, which the image config must name).
func buildLayer(files map[string]FileSpec) ([]byte, string, error) {
	all := map[string]FileSpec{}
	for p, f := range files {
		p = strings.Trim(path.Clean("/"+p), "/")
		if p == "" {
			continue
		}
		all[p] = f
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = FileSpec{Mode: fs.ModeDir | 0o755}
			}
		}
	}
	names := make([]string, 0, len(all))
	for p := range all {
		names = append(names, p)
	}
	sort.Strings(names) // parents sort before their children
	mtime, _ := time.Parse(time.RFC3339, imageEpoch)

	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, name := range names {
		f := all[name]
		hdr := &tar.Header{Name: name, ModTime: mtime, Mode: int64(f.Mode.Perm()), Format: tar.FormatPAX}
		var data []byte
		switch {
		case f.Mode&fs.ModeDir != 0:
			hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
			if f.Mode&fs.ModeSticky != 0 {
				hdr.Mode |= 0o1000
			}
		case f.Mode&fs.ModeSymlink != 0:
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, f.LinkTarget, 0o777
		default:
			data = f.Data
			if f.Source != "" {
				var err error
				if data, err = os.ReadFile(f.Source); err != nil {
					return nil, "", fmt.Errorf("reading %s for %s: %w", f.Source, name, err)
				}
			}
			if hdr.Mode == 0 {
				hdr.Mode = 0o644
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, "", fmt.Errorf("adding %s: %w", name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, "", fmt.Errorf("adding %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", fmt.Errorf("closing layer: %w", err)
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		return nil, "", fmt.Errorf("compressing layer: %w", err)
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, "", fmt.Errorf("compressing layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, "", fmt.Errorf("compressing layer: %w", err)
	}
	return gz.Bytes(), digestOf(raw.Bytes()), nil
}

// importImage loads an archive made by BuildImage into containerd's k8s.io
// namespace, the one the CRI plugin (and so the kubelet) uses.
func importImage(ctx context.Context, ctr, socket, archive string) error {
	cmd := exec.CommandContext(ctx, ctr, "--namespace", "k8s.io", "--address", socket, "images", "import", "--snapshotter", "overlayfs", archive)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ctr images import %s: %w: %s", archive, err, out)
	}
	return nil
}
