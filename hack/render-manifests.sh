#!/usr/bin/env bash
# Renders config/default with the pinned kustomize (bin/tools/kustomize,
# built from the module proxy by hack/build-tools.sh, `make tools`) into
# dist/install.yaml, the one-file installation. `kustomize build` and
# `kubectl kustomize` render the same bytes.
#
#   hack/render-manifests.sh            write dist/install.yaml
#   hack/render-manifests.sh --stdout   print the same bytes instead (used by
#                                       test/manifests to detect drift)
#
# KUSTOMIZE overrides the kustomize binary. Exit status 3 means kustomize is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

kustomize=${KUSTOMIZE:-bin/tools/kustomize}
if [[ ! -x "$kustomize" ]]; then
  echo "render-manifests: $kustomize not found: run \`make tools\` (hack/build-tools.sh) or set KUSTOMIZE" >&2
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
  "$kustomize" build config/default
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
