package framework

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"testing"
)

func TestBuildImageWritesAnOCIArchiveThatNamesTheImage(t *testing.T) {
	archive, err := BuildImage(t.TempDir(), "example.com/app", "v1", map[string]FileSpec{
		"usr/bin/app": {Mode: 0o755, Data: []byte("binary")},
		"bin/sh":      {Mode: fs.ModeSymlink, LinkTarget: "../usr/bin/app"},
	}, []string{"/usr/bin/app"})
	if err != nil {
		t.Fatal(err)
	}
	files := readTar(t, mustOpen(t, archive))
	var index struct {
		Manifests []descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations["io.containerd.image.name"] != "example.com/app:v1" {
		t.Fatalf("index does not name the image: %+v", index.Manifests)
	}
	var manifest struct {
		Layers []descriptor `json:"layers"`
	}
	if err := json.Unmarshal(files[blobName(index.Manifests[0].Digest)], &manifest); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(files[blobName(manifest.Layers[0].Digest)]))
	if err != nil {
		t.Fatalf("layer: %v", err)
	}
	layer := readTarHeaders(t, zr)
	for name, typ := range map[string]byte{"usr/": tar.TypeDir, "usr/bin/": tar.TypeDir, "usr/bin/app": tar.TypeReg, "bin/": tar.TypeDir, "bin/sh": tar.TypeSymlink} {
		if h, ok := layer[name]; !ok || h.Typeflag != typ {
			t.Errorf("layer entry %s: got %+v, want type %c", name, h, typ)
		}
	}
}

func TestUnescapeMountDecodesOctalEscapes(t *testing.T) {
	if got := unescapeMount(`/var/tmp/a\040b\134c`); got != `/var/tmp/a b\c` {
		t.Fatalf("got %q", got)
	}
}

func blobName(digest string) string { return "blobs/sha256/" + digest[len("sha256:"):] }

func mustOpen(t *testing.T, path string) io.Reader {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

func readTar(t *testing.T, r io.Reader) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = b
	}
}

func readTarHeaders(t *testing.T, r io.Reader) map[string]*tar.Header {
	t.Helper()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h
	}
}
