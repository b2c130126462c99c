#!/usr/bin/env bash
# Builds the Kubernetes storage e2e suites (e2e.test, storage sources only:
# test/tools/conformance/storage) and the ginkgo runner from the module
# proxy, pinned by test/tools/conformance, into bin/conformance/<version>/.
# A binary that is already there is kept: only the first run pays for the
# build (about 8 minutes cold, seconds once the Go build cache holds the
# control plane's packages).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

kube_version=$(sed -n 's/^KUBE_VERSION=//p' hack/build-cluster-bins.sh)
out=${CONFORMANCE_BIN_DIR:-$root/bin/conformance}/$kube_version
mkdir -p "$out"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${kube_version}"

cd test/tools/conformance
if [[ ! -x "$out/e2e.test" ]]; then
  echo "[conformance-bins] building e2e.test $kube_version (storage suites)"
  t0=$(date +%s)
  CGO_ENABLED=0 go test -c -trimpath -ldflags="$ldflags" -o "$out/e2e.test.tmp" ./storage
  mv "$out/e2e.test.tmp" "$out/e2e.test"
  echo "[conformance-bins] built e2e.test in $(( $(date +%s) - t0 ))s"
fi
if [[ ! -x "$out/ginkgo" ]]; then
  echo "[conformance-bins] building ginkgo"
  CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$out/ginkgo.tmp" github.com/onsi/ginkgo/v2/ginkgo
  mv "$out/ginkgo.tmp" "$out/ginkgo"
fi
if [[ ! -x "$out/agnhost" ]]; then
  # The suites' workhorse image: built from the same Kubernetes module,
  # packed into an image by test/conformance.
  echo "[conformance-bins] building agnhost"
  CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$out/agnhost.tmp" k8s.io/kubernetes/test/images/agnhost
  mv "$out/agnhost.tmp" "$out/agnhost"
fi
echo "[conformance-bins] ready in $out"
