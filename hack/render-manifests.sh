#!/usr/bin/env bash
# Renders config/default with the kustomize built into the pinned kubectl
# (bin/cluster/<KUBE_VERSION>/kubectl, built by `make cluster-bins`) into
# dist/install.yaml, the one-file installation.
#
#   hack/render-manifests.sh            write dist/install.yaml
#   hack/render-manifests.sh --stdout   print the same bytes instead (used by
#                                       test/manifests to detect drift)
#
# KUBECTL overrides the kubectl binary. Exit status 3 means kubectl is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

kube_version=$(sed -n 's/^KUBE_VERSION=//p' hack/build-cluster-bins.sh)
kubectl=${KUBECTL:-bin/cluster/${kube_version}/kubectl}
if [[ ! -x "$kubectl" ]]; then
  echo "render-manifests: $kubectl not found: run \`make cluster-bins\` (or set KUBECTL)" >&2
  exit 3
fi

render() {
  cat <<'HEADER'
# hostpath-provisioner installation manifest.
#
# GENERATED FILE, DO NOT EDIT: rendered from config/default by
# hack/render-manifests.sh (`make manifests`), which runs
# `kubectl kustomize config/default`. Edit config/ and re-render;
# test/manifests fails when this file and config/ disagree.
#
# Requires cert-manager (v1.11 or newer). Install:
#   kubectl apply -f dist/install.yaml
HEADER
  "$kubectl" kustomize config/default
}

case "${1:-}" in
  --stdout)
    render
    ;;
  "")
    out=dist/install.yaml
    mkdir -p "$(dirname "$out")"
    render >"$out.tmp"
    mv "$out.tmp" "$out"
    echo "render-manifests: wrote $out"
    ;;
  *)
    echo "usage: $0 [--stdout]" >&2
    exit 2
    ;;
esac
