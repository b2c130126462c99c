# hostpath-provisioner: the two commands users need are `make demo` and `make test`.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

GO ?= go
BIN := bin
E2E_STATE ?= /var/tmp/hostpath-provisioner-e2e
export CLUSTER_STATE_DIR := $(E2E_STATE)

APT_PACKAGES := containerd runc containernetworking-plugins busybox-static iptables iproute2 btrfs-progs jq xfsprogs \
	ca-certificates tzdata qemu-user-static

# The image: ghcr.io/mazdermind/hostpath-provisioner:$(VERSION) (VERSION is the
# project's one version fact). `make push REGISTRY=host[:port]/path [TAG=...]`.
VERSION := $(shell cat VERSION)
REGISTRY ?=
TAG ?= $(VERSION)

# cluster-test runs the tests of $(1) against the loopback cluster with
# timeout $(2), keeping the whole output in $(3) and showing the outline; it
# fails unless go test said ok and nothing failed.
define cluster-test
$(GO) test -count=1 -timeout $(2) -v $(1) 2>&1 | tee $(3) | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic|\s+[a-z_]+\.go:[0-9]+)' || true; \
	grep -qE '^(ok|PASS)' $(3) && ! grep -qE '^(FAIL|--- FAIL|panic)' $(3)
endef

.PHONY: all help build image push image-test test unit e2e demo deps apt-deps go-deps cluster-bins conformance-bins conformance conformance-ci cluster-up cluster-down bench manifests verify-manifests vet lint vuln clean

all: build

## help: the documented targets, in the order they appear: each `## target: text` comment block of this Makefile
## (its first line names the target, further `##` lines continue the text).
help:
	@awk '/^## / { text = substr($$0, 4); i = index(text, ": "); \
	               if (!block && i) printf "  %-26s %s\n", substr(text, 1, i - 1), substr(text, i + 2); \
	               else printf "  %-26s %s\n", "", text; \
	               block = 1; next } \
	      { block = 0 }' $(MAKEFILE_LIST)

## deps: everything a fresh Debian 12 machine needs (apt packages, Go modules).
deps: apt-deps go-deps

apt-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [[ -n "$$missing" ]]; then \
	  echo "[deps] installing Debian packages:$$missing"; \
	  if [[ $$(id -u) -ne 0 ]]; then echo "[deps] root is needed to install$$missing" >&2; exit 1; fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

go-deps:
	$(GO) mod download
	cd test/tools/kube && $(GO) mod download
	cd test/tools/etcd && $(GO) mod download
	cd test/tools/certmanager && $(GO) mod download
	cd test/tools/kustomize && $(GO) mod download
	cd test/tools/helm && $(GO) mod download
	cd test/tools/golangci-lint && $(GO) mod download
	cd test/tools/conformance && $(GO) mod download

## cluster-bins: etcd, Kubernetes and cert-manager built from the module proxy, cached in bin/cluster.
cluster-bins:
	hack/build-cluster-bins.sh

## conformance-bins: the Kubernetes storage e2e suites (e2e.test), ginkgo and agnhost, cached in bin/conformance.
conformance-bins:
	hack/build-conformance-bins.sh

## build: the static hostpath-provisioner binary.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o $(BIN)/hostpath-provisioner ./cmd/hostpath-provisioner

## image: the multi-architecture OCI image index (linux/amd64, linux/arm64, linux/arm/v7), no Docker
## daemon: bin/image/layout (OCI layout) and bin/image/hostpath-provisioner-$(VERSION).oci.tar.
image:
	$(GO) run ./hack/image build -out $(BIN)/image

## push: push bin/image to $(REGISTRY)/hostpath-provisioner:$(TAG) (credentials: docker/crane login).
ifneq ($(filter push,$(MAKECMDGOALS)),)
ifeq ($(REGISTRY),)
$(error usage: make push REGISTRY=host[:port]/path [TAG=$(VERSION)])
endif
endif
push: image
	$(GO) run ./hack/image push -layout $(BIN)/image/layout -repository $(REGISTRY)/hostpath-provisioner -tag $(TAG)

## image-test: the image index has its three platforms, each with its own static binary, and the
## arm64 and arm/v7 binaries run under qemu-user-static.
image-test: apt-deps
	$(GO) test -count=1 -timeout 30m ./hack/image/...

## vet: go vet ./...
vet:
	$(GO) vet ./...

## lint: golangci-lint v2 with .golangci.yml (pinned in test/tools/golangci-lint, built into bin/tools) over the main
## module and the storage suites' module test/tools/conformance (the first run takes about 3 minutes, later ones seconds).
lint:
	hack/build-tools.sh golangci-lint
	@rc=0; \
	echo "[lint] main module"; $(BIN)/tools/golangci-lint run ./... || rc=$$?; \
	echo "[lint] test/tools/conformance"; \
	(cd test/tools/conformance && $(CURDIR)/$(BIN)/tools/golangci-lint run -c $(CURDIR)/.golangci.yml ./...) || rc=$$?; \
	exit $$rc

## vuln: govulncheck over ./... against a database built locally from the pinned golang.org/x/vulndb snapshot (module proxy only).
vuln:
	hack/vuln.sh

## unit: the unit tests with -race (the product, and the test images' own logic).
unit:
	$(GO) test -race -count=1 ./cmd/... ./pkg/... ./webhook/... ./test/images/...

e2e: deps cluster-bins tools build
	$(call cluster-test,./test/e2e/...,60m,$(BIN)/e2e.log)

## tools: kustomize, helm and golangci-lint built from the module proxy (pinned in test/tools/<name>), cached in bin/tools.
.PHONY: tools chart-lint chart-package
tools:
	hack/build-tools.sh

## manifests: render config/default into dist/install.yaml with the pinned kustomize (commit the result).
manifests:
	hack/build-tools.sh kustomize
	hack/render-manifests.sh

## verify-manifests: dist/install.yaml matches config/ and passes the security checks; the Helm chart renders the same objects, lints and its schema refuses bad values.
verify-manifests: tools
	$(GO) test -count=1 ./test/manifests/...

## chart-lint: helm lint --strict of charts/hostpath-provisioner.
chart-lint: tools
	$(BIN)/tools/helm lint --strict charts/hostpath-provisioner

## chart-package: the chart as bin/charts/hostpath-provisioner-<version>.tgz (helm push it to oci://<registry>/charts).
chart-package: chart-lint
	$(BIN)/tools/helm package charts/hostpath-provisioner --destination $(BIN)/charts

## test: the whole suite, from a fresh clone: deps, vet, golangci-lint, govulncheck, unit tests with -race, the image
## on three architectures, manifests, e2e on a loopback cluster, and Kubernetes' own storage suites (CONFORMANCE.md).
test: deps vet lint vuln unit image-test verify-manifests e2e conformance

## conformance: every spec of Kubernetes' own storage suites that applies to us, Serial and Slow included,
## against dist/install.yaml on the loopback cluster (CONFORMANCE.md).
conformance: deps cluster-bins conformance-bins build
	HPP_CONFORMANCE=full $(call cluster-test,./test/conformance/,120m,$(BIN)/conformance.log)

## conformance-ci: a quicker subset of `make conformance` (about 2 minutes): no [Slow], no [Serial] specs.
conformance-ci: deps cluster-bins conformance-bins build
	HPP_CONFORMANCE=ci $(call cluster-test,./test/conformance/,60m,$(BIN)/conformance-ci.log)

## cluster-up / cluster-down: a loopback cluster for manual use.
cluster-up: deps cluster-bins build
	$(GO) run ./test/framework/cmd/cluster up

cluster-down:
	$(GO) run ./test/framework/cmd/cluster down

## demo: bring up the loopback cluster, run the provisioner and walk the original quick start.
demo: deps cluster-bins build
	$(GO) run ./test/framework/cmd/cluster demo

## bench: the volume benchmarks, then provisioning on the loopback cluster at kube-controller-manager's default
## client rate and at --kube-api-qps=500 (BENCHMARKS.md).
bench: deps cluster-bins build
	$(GO) test -run '^$$' -bench . -benchtime 1x ./pkg/volume/
	@echo "== loopback cluster, kube-controller-manager at its default client rate"
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 120m ./test/bench/...
	@echo "== kube-controller-manager with --kube-api-qps=500 --kube-api-burst=1000"
	HPP_E2E_KCM_ARGS="--kube-api-qps=500 --kube-api-burst=1000" $(GO) test -run '^$$' -bench Provision -benchtime 1x -timeout 60m ./test/bench/...

## clean: remove the binary, the e2e log and the image (bin/tools, bin/cluster and bin/conformance stay).
clean:
	rm -rf $(BIN)/hostpath-provisioner $(BIN)/e2e.log $(BIN)/image
