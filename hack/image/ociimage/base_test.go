package ociimage

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// fakeDebian writes the files BaseLayer takes from Debian below a fresh
// root: a CA bundle, two zones (one a link), the skipped variants, and the
// copyright files.
func fakeDebian(t *testing.T, caBundle string) string {
	t.Helper()
	root := t.TempDir()
	write := func(name, data string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(DebianFiles.CACertificates, caBundle)
	for _, c := range DebianFiles.Copyrights {
		write(c, "copyright of "+c)
	}
	zi := DebianFiles.ZoneInfo
	write(zi+"/Europe/Berlin", "TZif berlin")
	write(zi+"/right/Europe/Berlin", "TZif right berlin")
	if err := os.MkdirAll(filepath.Join(root, zi, "posix"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("Europe/Berlin", filepath.Join(root, zi, "posixrules")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/localtime", filepath.Join(root, zi, "localtime")); err != nil {
		t.Fatal(err)
	}
	return root
}

func layerHeaders(t *testing.T, l v1.Layer) ([]*tar.Header, map[string]string) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var hdrs []*tar.Header
	data := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hdrs, data
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, h)
		data[h.Name] = string(b)
	}
}

func digest(t *testing.T, l v1.Layer) v1.Hash {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBaseLayerIsTheSameForTheSameFilesAndChangesWithThem(t *testing.T) {
	a, err := BaseLayer(fakeDebian(t, "bundle one"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := BaseLayer(fakeDebian(t, "bundle one")) // other mtimes, other inodes
	if err != nil {
		t.Fatal(err)
	}
	c, err := BaseLayer(fakeDebian(t, "bundle two"))
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, a) != digest(t, b) {
		t.Errorf("the same files gave two digests: %s and %s", digest(t, a), digest(t, b))
	}
	if digest(t, a) == digest(t, c) {
		t.Errorf("another CA bundle gave the same digest %s", digest(t, a))
	}
}

func TestBaseLayerHoldsTheDistrolessFiles(t *testing.T) {
	l, err := BaseLayer(fakeDebian(t, "bundle"))
	if err != nil {
		t.Fatal(err)
	}
	hdrs, data := layerHeaders(t, l)
	byName := map[string]*tar.Header{}
	seen := map[string]bool{}
	for _, h := range hdrs {
		byName[h.Name] = h
		if !h.ModTime.Equal(Epoch) {
			t.Errorf("%s: mtime %s, want %s", h.Name, h.ModTime, Epoch)
		}
		// A directory comes before everything in it.
		if parent := filepath.Dir(strings.TrimSuffix(h.Name, "/")); parent != "." && !seen[parent+"/"] {
			t.Errorf("%s comes before its directory %s/", h.Name, parent)
		}
		seen[h.Name] = true
	}
	want := []struct {
		name     string
		typ      byte
		mode     int64
		uid, gid int
	}{
		{"etc/passwd", tar.TypeReg, 0o644, 0, 0},
		{"etc/group", tar.TypeReg, 0o644, 0, 0},
		{"etc/nsswitch.conf", tar.TypeReg, 0o644, 0, 0},
		{"etc/ssl/certs/ca-certificates.crt", tar.TypeReg, 0o644, 0, 0},
		{"usr/share/doc/ca-certificates/copyright", tar.TypeReg, 0o644, 0, 0},
		{"usr/share/doc/tzdata/copyright", tar.TypeReg, 0o644, 0, 0},
		{"usr/share/zoneinfo/Europe/Berlin", tar.TypeReg, 0o644, 0, 0},
		{"usr/share/zoneinfo/posixrules", tar.TypeSymlink, 0o777, 0, 0},
		{"tmp/", tar.TypeDir, 0o1777, 0, 0},
		{"root/", tar.TypeDir, 0o700, 0, 0},
		{"home/nonroot/", tar.TypeDir, 0o700, 65532, 65532},
	}
	for _, w := range want {
		h, ok := byName[w.name]
		if !ok {
			t.Errorf("%s missing", w.name)
			continue
		}
		if h.Typeflag != w.typ || h.Mode != w.mode || h.Uid != w.uid || h.Gid != w.gid {
			t.Errorf("%s: type %c mode %o owner %d:%d, want type %c mode %o owner %d:%d", w.name, h.Typeflag, h.Mode, h.Uid, h.Gid, w.typ, w.mode, w.uid, w.gid)
		}
	}
	for _, skipped := range []string{"usr/share/zoneinfo/right/", "usr/share/zoneinfo/posix/", "usr/share/zoneinfo/localtime"} {
		if _, ok := byName[skipped]; ok {
			t.Errorf("%s is in the layer, want it left out", skipped)
		}
	}
	if got := data["etc/ssl/certs/ca-certificates.crt"]; got != "bundle" {
		t.Errorf("CA bundle %q, want the host's", got)
	}
	for _, user := range []string{"root:x:0:0:", "nonroot:x:65532:65532:"} {
		if !strings.Contains(data["etc/passwd"], "\n"+user) && !strings.HasPrefix(data["etc/passwd"], user) {
			t.Errorf("/etc/passwd lacks %s:\n%s", user, data["etc/passwd"])
		}
	}
	if !strings.Contains(data["etc/group"], "nonroot:x:65532:") {
		t.Errorf("/etc/group lacks nonroot:\n%s", data["etc/group"])
	}
}

func TestBaseLayerNamesTheDebianPackagesWhenFilesAreMissing(t *testing.T) {
	_, err := BaseLayer(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "ca-certificates and tzdata") {
		t.Fatalf("BaseLayer of an empty root: %v; want an error naming the packages", err)
	}
}

func TestZoneInfoRefusesALinkOutOfTheDatabase(t *testing.T) {
	root := fakeDebian(t, "bundle")
	if err := os.Symlink("../../../etc/shadow", filepath.Join(root, DebianFiles.ZoneInfo, "Europe", "Evil")); err != nil {
		t.Fatal(err)
	}
	if _, err := BaseLayer(root); err == nil || !strings.Contains(err.Error(), "outside the zone database") {
		t.Fatalf("BaseLayer with a link out of zoneinfo: %v", err)
	}
}

func TestReadVersionWantsASemanticVersionWithAV(t *testing.T) {
	for _, tc := range []struct {
		content string
		ok      bool
	}{
		{"v0.1.0\n", true},
		{"v1.2.3-rc.1", true},
		{"0.1.0", false},
		{"latest", false},
		{"", false},
	} {
		root := t.TempDir()
		if err := os.WriteFile(filepath.Join(root, VersionFile), []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		v, err := ReadVersion(root)
		if (err == nil) != tc.ok {
			t.Errorf("VERSION %q: version %q, error %v; want ok=%v", tc.content, v, err, tc.ok)
		}
	}
}

func TestTheRepositorysVersionIsValid(t *testing.T) {
	if _, err := ReadVersion(filepath.Join("..", "..", "..")); err != nil {
		t.Fatal(err)
	}
}
