package ociimage

import (
	"archive/tar"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The base is the Dockerfile's distroless idea, made here from Debian's
// own files instead of pulled: no shell, no package manager, no libc; CA
// certificates, time zones, /etc/passwd and /etc/group (root, nobody and
// nonroot, uid 65532, the distroless convention), /tmp, and the packages'
// copyright files. It is the same layer for every platform.

// DebianFiles are the files the base takes from a Debian system, relative
// to its root: packages ca-certificates and tzdata.
var DebianFiles = struct {
	CACertificates, ZoneInfo string
	Copyrights               []string
}{
	CACertificates: "etc/ssl/certs/ca-certificates.crt",
	ZoneInfo:       "usr/share/zoneinfo",
	Copyrights:     []string{"usr/share/doc/ca-certificates/copyright", "usr/share/doc/tzdata/copyright"},
}

// zoneInfoSkipped are left out of usr/share/zoneinfo: the leap-second
// ("right/") and POSIX-only ("posix/") variants of every zone, which Go's
// time package never loads, and localtime, a link to the host's /etc.
var zoneInfoSkipped = map[string]bool{"right": true, "posix": true, "localtime": true}

const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\n" +
		"nobody:x:65534:\n" +
		"nonroot:x:65532:\n"
	// Go's resolver reads it to order /etc/hosts before DNS.
	nsswitch = "hosts: files dns\n"
)

// BaseLayer builds the base layer from the Debian files below root ("/" on
// a Debian machine with ca-certificates and tzdata installed).
func BaseLayer(root string) (v1.Layer, error) {
	entries := []entry{
		file("etc/passwd", 0o644, []byte(passwd)),
		file("etc/group", 0o644, []byte(group)),
		file("etc/nsswitch.conf", 0o644, []byte(nsswitch)),
		dir("root", 0o700),
		{name: "home/nonroot", typ: tar.TypeDir, mode: 0o700, uid: 65532, gid: 65532},
		dir("tmp", 0o1777),
	}
	for _, name := range append([]string{DebianFiles.CACertificates}, DebianFiles.Copyrights...) {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			return nil, missingDebianFile(err)
		}
		entries = append(entries, file(name, 0o644, data))
	}
	zones, err := zoneInfo(root)
	if err != nil {
		return nil, err
	}
	return newLayer(append(entries, zones...))
}

// zoneInfo reads the time zone database: regular files and the relative
// links between zones (Debian makes old names links to the new ones).
func zoneInfo(root string) ([]entry, error) {
	top := filepath.Join(root, DebianFiles.ZoneInfo)
	var entries []entry
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(top, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		if zoneInfoSkipped[rel] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		name := path.Join(DebianFiles.ZoneInfo, filepath.ToSlash(rel))
		switch {
		case d.IsDir():
			entries = append(entries, dir(name, 0o755))
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if path.IsAbs(target) || strings.HasPrefix(path.Clean(path.Join(path.Dir(filepath.ToSlash(rel)), target)), "../") {
				return fmt.Errorf("%s links to %s, outside the zone database", p, target)
			}
			entries = append(entries, entry{name: name, typ: tar.TypeSymlink, link: target})
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			entries = append(entries, file(name, 0o644, data))
		default:
			return fmt.Errorf("%s: not a file, directory or link", p)
		}
		return nil
	})
	if err != nil {
		return nil, missingDebianFile(err)
	}
	return entries, nil
}

func missingDebianFile(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w (the base takes it from Debian packages ca-certificates and tzdata: `make apt-deps`)", err)
	}
	return err
}
