# The hostpath-provisioner image: one static binary on distroless.
#
#   docker build --build-arg VERSION=$(cat VERSION) -t ghcr.io/mazdermind/hostpath-provisioner:$(cat VERSION) .
#   docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7 \
#     --build-arg VERSION=$(cat VERSION) -t <registry>/hostpath-provisioner:$(cat VERSION) --push .
#
# `make image` builds the same image without a Docker daemon (hack/image):
# the same binary build, platforms, labels, user and entrypoint, on a base
# made from Debian's files the way distroless makes this one.
#
# Needs BuildKit (the default builder of current Docker, and buildx/podman):
# the build uses cache mounts and cross-compiles on the build platform.

# Builder: pinned by tag. Release builds should pin the digest as well; it is
# an argument because it could not be looked up where this file was written:
#   docker build --build-arg GOLANG_DIGEST=@sha256:<digest of golang:1.26> .
ARG GOLANG_DIGEST=
FROM --platform=$BUILDPLATFORM golang:1.26${GOLANG_DIGEST} AS builder
ARG TARGETOS
ARG TARGETARCH
# v7 for linux/arm/v7 (GOARM=7), empty elsewhere.
ARG TARGETVARIANT
WORKDIR /src
# Static binary; never download another Go toolchain; go.mod/go.sum are the
# truth.
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
# .dockerignore lets in only the module files and the binary's packages.
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH GOARM=${TARGETVARIANT#v} \
    go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/hostpath-provisioner ./cmd/hostpath-provisioner

# Runtime: distroless static (Debian 12): no shell, no package manager, just
# CA certificates, tzdata and /etc/passwd. Pinned by digest (multi-arch index
# of gcr.io/distroless/static-debian12:latest); update the digest, never the
# form.
FROM gcr.io/distroless/static-debian12@sha256:d75cdd72874d4790092fcb1b058493ecf6bb5bf2b2b897045b00ff01d91843f2
# The project version (the VERSION file); hack/image/ociimage checks that
# these labels are its own.
ARG VERSION=unknown
LABEL org.opencontainers.image.title="hostpath-provisioner" \
      org.opencontainers.image.description="Kubernetes hostPath dynamic provisioner with an admission webhook" \
      org.opencontainers.image.source="https://github.com/mazdermind/hostpath-provisioner" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=builder /out/hostpath-provisioner /hostpath-provisioner
# Root on purpose (hence not the :nonroot variant): the provisioner creates
# directories owned by other users, changes their mode, and removes trees
# that pods wrote as any user. The DaemonSet (config/manager) keeps root in
# check: all capabilities dropped except CHOWN, DAC_OVERRIDE, FOWNER and
# FSETID, no privilege escalation, read-only root filesystem, RuntimeDefault
# seccomp, and only the base path mounted from the host.
USER 0:0
ENTRYPOINT ["/hostpath-provisioner"]
