#!/usr/bin/env bash
# Builds the loopback control plane from the Go module proxy, pinned by the
# tools modules under test/tools, into bin/cluster/<version>/. A binary that is
# already there is kept, so only the first run pays the ~30 minute cold build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

KUBE_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
CM_VERSION=v1.11.5
out=${CLUSTER_BIN_DIR:-$root/bin/cluster}

kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/component-base/version.gitTreeState=clean"
cm_ldflags="-s -w -X github.com/cert-manager/cert-manager/pkg/util.AppVersion=${CM_VERSION}"

# name | tools module dir | package | version | ldflags
targets=(
  "kube-apiserver|test/tools/kube|k8s.io/kubernetes/cmd/kube-apiserver|$KUBE_VERSION|$kube_ldflags"
  "kube-controller-manager|test/tools/kube|k8s.io/kubernetes/cmd/kube-controller-manager|$KUBE_VERSION|$kube_ldflags"
  "kube-scheduler|test/tools/kube|k8s.io/kubernetes/cmd/kube-scheduler|$KUBE_VERSION|$kube_ldflags"
  "kubelet|test/tools/kube|k8s.io/kubernetes/cmd/kubelet|$KUBE_VERSION|$kube_ldflags"
  "kubectl|test/tools/kube|k8s.io/kubernetes/cmd/kubectl|$KUBE_VERSION|$kube_ldflags"
  "etcd|test/tools/etcd|go.etcd.io/etcd/server/v3|$ETCD_VERSION|-s -w"
  "etcdctl|test/tools/etcd|go.etcd.io/etcd/etcdctl/v3|$ETCD_VERSION|-s -w"
  "cert-manager-controller|test/tools/certmanager|github.com/cert-manager/cert-manager/cmd/controller|$CM_VERSION|$cm_ldflags"
  "cert-manager-cainjector|test/tools/certmanager|github.com/cert-manager/cert-manager/cmd/cainjector|$CM_VERSION|$cm_ldflags"
)

start=$(date +%s)
total=${#targets[@]}
i=0
for t in "${targets[@]}"; do
  i=$((i + 1))
  IFS='|' read -r name dir pkg version ldflags <<<"$t"
  dest="$out/$version/$name"
  if [[ -x "$dest" ]]; then
    continue
  fi
  mkdir -p "$(dirname "$dest")"
  echo "[cluster-bins] building $name $version ($i/$total, $((total - i)) left after it, $(( $(date +%s) - start ))s elapsed)"
  t0=$(date +%s)
  # Heartbeat: a cold kube-apiserver build is ~20 silent minutes.
  ( while sleep 60; do echo "[cluster-bins]   ... still building $name ($(( $(date +%s) - t0 ))s)"; done ) &
  hb=$!
  if ! (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags="$ldflags" -o "$dest.tmp" "$pkg"); then
    kill "$hb" 2>/dev/null || true
    echo "[cluster-bins] FAILED building $name" >&2
    exit 1
  fi
  kill "$hb" 2>/dev/null || true
  mv "$dest.tmp" "$dest"
  echo "[cluster-bins] built $name in $(( $(date +%s) - t0 ))s"
done
echo "[cluster-bins] all $total binaries ready in $out ($(( $(date +%s) - start ))s)"
