package ociimage

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const (
	// annotationRefName is the OCI layout's name of an entry: the tag.
	annotationRefName = "org.opencontainers.image.ref.name"
	// annotationImageName is the name `ctr images import` gives an entry.
	annotationImageName = "io.containerd.image.name"
)

// WriteLayout writes idx as the only entry of a fresh OCI image layout at
// dir (replacing what was there), named ref: skopeo, crane, podman and
// `ctr images import` (of WriteArchive's tarball) read it.
func WriteLayout(dir string, idx v1.ImageIndex, ref string) error {
	r, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		annotationRefName:   r.TagStr(),
		annotationImageName: r.Name(),
	})); err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// ReadLayout returns the index of a layout written by WriteLayout and the
// reference it was named.
func ReadLayout(dir string) (v1.ImageIndex, string, error) {
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, "", fmt.Errorf("reading the OCI layout %s: %w", dir, err)
	}
	m, err := top.IndexManifest()
	if err != nil {
		return nil, "", err
	}
	if len(m.Manifests) != 1 {
		return nil, "", fmt.Errorf("OCI layout %s holds %d entries, want the one `make image` writes", dir, len(m.Manifests))
	}
	idx, err := top.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		return nil, "", fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	return idx, m.Manifests[0].Annotations[annotationImageName], nil
}

// WriteArchive writes the layout of idx named ref as one tarball (an
// "oci-archive"), for `ctr -n k8s.io images import` on a node without
// registry access, `podman load` or `skopeo copy oci-archive:...`.
func WriteArchive(path string, idx v1.ImageIndex, ref string) error {
	dir, err := os.MkdirTemp(filepath.Dir(path), ".oci-layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lay := filepath.Join(dir, "layout")
	if err := WriteLayout(lay, idx, ref); err != nil {
		return err
	}
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return err
	}
	defer f.Close()
	if err := tarDir(f, lay); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// tarDir writes the regular files and directories below dir, sorted, with
// fixed times and owners.
func tarDir(w io.Writer, dir string) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		names = append(names, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	for _, n := range names {
		fi, err := os.Lstat(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: n, Mode: 0o644, ModTime: Epoch, Typeflag: tar.TypeReg, Size: fi.Size(), Format: tar.FormatPAX}
		if fi.IsDir() {
			hdr.Name, hdr.Mode, hdr.Typeflag, hdr.Size = n+"/", 0o755, tar.TypeDir, 0
		} else if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", n)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.IsDir() {
			f, err := os.Open(filepath.Join(dir, n))
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// Push uploads idx, its images and their blobs, and tags it as ref, the way
// `crane push` does. Credentials come from the Docker config
// ($DOCKER_CONFIG or ~/.docker/config.json, `docker login`/`crane auth
// login`). A registry on localhost, a loopback or a private (RFC 1918)
// address is spoken to over plain HTTP; insecure allows that for any host.
func Push(ctx context.Context, idx v1.ImageIndex, ref string, insecure bool) error {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	if err := remote.WriteIndex(r, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
}
