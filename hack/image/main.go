// Command image builds and pushes the hostpath-provisioner image without a
// Docker daemon (see package ociimage):
//
//	go run ./hack/image build [-out bin/image] [-platforms linux/amd64,linux/arm64,linux/arm/v7]
//	go run ./hack/image push -repository host[:port]/path/hostpath-provisioner [-tag v1.2.3] [-layout bin/image/layout] [-insecure]
//
// build writes <out>/layout (an OCI image layout holding the index, named
// ghcr.io/mazdermind/hostpath-provisioner:<VERSION>) and
// <out>/hostpath-provisioner-<VERSION>.oci.tar (the same as one tarball).
// push uploads that layout's index; the tag defaults to VERSION.
// `make image` and `make push` call it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/mazdermind/hostpath-provisioner/hack/image/ociimage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: image build|push [flags]; -h for the flags")
	}
	switch args[0] {
	case "build":
		return build(ctx, args[1:])
	case "push":
		return push(ctx, args[1:])
	default:
		return fmt.Errorf("unknown command %q: want build or push", args[0])
	}
}

func build(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("image build", flag.ContinueOnError)
	out := fs.String("out", "bin/image", "output directory")
	platforms := fs.String("platforms", platformList(ociimage.Platforms), "comma-separated os/arch[/variant] list")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var ps []v1.Platform
	for _, s := range strings.Split(*platforms, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-platforms: %w", err)
		}
		ps = append(ps, *p)
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(*out, ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	idx, version, err := ociimage.Build(ctx, ociimage.Options{
		RepoRoot:  root,
		WorkDir:   work,
		Platforms: ps,
		Logf:      func(f string, a ...any) { fmt.Fprintf(os.Stderr, "image: "+f+"\n", a...) },
	})
	if err != nil {
		return err
	}
	ref := ociimage.Repository + ":" + version
	layoutDir := filepath.Join(*out, "layout")
	if err := ociimage.WriteLayout(layoutDir, idx, ref); err != nil {
		return err
	}
	archive := filepath.Join(*out, "hostpath-provisioner-"+version+".oci.tar")
	if err := ociimage.WriteArchive(archive, idx, ref); err != nil {
		return err
	}
	if err := describe(idx, ref); err != nil {
		return err
	}
	fmt.Printf("OCI layout:  %s\noci-archive: %s\n", layoutDir, archive)
	return nil
}

func push(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("image push", flag.ContinueOnError)
	layoutDir := fs.String("layout", "bin/image/layout", "OCI layout written by `image build`")
	repository := fs.String("repository", "", "where to push, host[:port]/path/hostpath-provisioner (required)")
	tag := fs.String("tag", "", "tag to push; default: the VERSION the layout was built with")
	insecure := fs.Bool("insecure", false, "allow plain HTTP to any registry (it is always allowed for localhost, loopback and private addresses)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *repository == "" {
		return errors.New("-repository is required (make push REGISTRY=host[:port]/path)")
	}
	idx, built, err := ociimage.ReadLayout(*layoutDir)
	if err != nil {
		return fmt.Errorf("%w (run `make image` first)", err)
	}
	if *tag == "" {
		_, t, ok := strings.Cut(strings.TrimPrefix(built, ociimage.Repository), ":")
		if !ok || t == "" {
			return fmt.Errorf("layout %s names %q: give -tag", *layoutDir, built)
		}
		*tag = t
	}
	ref := *repository + ":" + *tag
	if err := ociimage.Push(ctx, idx, ref, *insecure); err != nil {
		return err
	}
	return describe(idx, ref)
}

// describe prints the index's digest and each image's platform, digest and
// compressed size.
func describe(idx v1.ImageIndex, ref string) error {
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s@%s\n", ref, d)
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, desc := range m.Manifests {
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return err
		}
		size, err := imageSize(img)
		if err != nil {
			return err
		}
		fmt.Printf("  %-14s %s  %5.1f MB compressed\n", ociimage.PlatformString(*desc.Platform), desc.Digest, float64(size)/1e6)
	}
	return nil
}

func imageSize(img v1.Image) (int64, error) {
	total, err := img.Size() // the manifest
	if err != nil {
		return 0, err
	}
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	total += m.Config.Size
	for _, l := range m.Layers {
		total += l.Size
	}
	return total, nil
}

func platformList(ps []v1.Platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = ociimage.PlatformString(p)
	}
	return strings.Join(s, ",")
}
