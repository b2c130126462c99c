package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// entry is one file, directory or symbolic link of a layer. Everything is
// owned by root unless uid/gid say otherwise; the time is always Epoch.
type entry struct {
	name     string // relative to /, no leading or trailing slash
	typ      byte   // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	mode     int64  // permission bits, plus 01000 for a sticky directory
	uid, gid int
	data     []byte
	link     string
}

func dir(name string, mode int64) entry { return entry{name: name, typ: tar.TypeDir, mode: mode} }

func file(name string, mode int64, data []byte) entry {
	return entry{name: name, typ: tar.TypeReg, mode: mode, data: data}
}

// newLayer writes entries as a gzipped tar, sorted by name with every
// missing parent directory added (0755, root), so the same entries always
// give the same bytes and the same digest.
func newLayer(entries []entry) (v1.Layer, error) {
	all := map[string]entry{}
	for _, e := range entries {
		name := strings.Trim(path.Clean("/"+e.name), "/")
		if name == "" || name != e.name {
			return nil, fmt.Errorf("layer entry %q: want a clean path relative to /", e.name)
		}
		if _, dup := all[name]; dup {
			return nil, fmt.Errorf("layer entry %q given twice", name)
		}
		all[name] = e
	}
	for name := range all {
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = dir(d, 0o755)
			}
		}
	}
	names := make([]string, 0, len(all))
	for name := range all {
		names = append(names, name)
	}
	// Plain byte order puts "a/" before "a/b" but "a-b" before "a/": sort
	// by the path's components so a directory always precedes its content.
	sort.Slice(names, func(i, j int) bool {
		return strings.ReplaceAll(names[i], "/", "\x00") < strings.ReplaceAll(names[j], "/", "\x00")
	})

	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, name := range names {
		e := all[name]
		hdr := &tar.Header{
			Typeflag: e.typ,
			Name:     name,
			Mode:     e.mode,
			Uid:      e.uid,
			Gid:      e.gid,
			ModTime:  Epoch,
			Format:   tar.FormatPAX,
		}
		switch e.typ {
		case tar.TypeDir:
			hdr.Name += "/"
		case tar.TypeSymlink:
			hdr.Linkname, hdr.Mode = e.link, 0o777
		case tar.TypeReg:
			hdr.Size = int64(len(e.data))
		default:
			return nil, fmt.Errorf("layer entry %q: unsupported type %q", name, e.typ)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("layer entry %q: %w", name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("layer entry %q: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing layer tar: %w", err)
	}

	// Compressed here, once, with a header that carries no name and no
	// time; go-containerregistry recognises gzip and keeps these bytes.
	// The default level: on the binary, level 9 saves 0.5% for 3.4 times
	// the time (18.2 against 18.3 MB, 6.1 against 1.8 s).
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, fmt.Errorf("compressing layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing layer: %w", err)
	}
	compressed := gz.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(compressed)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
