#!/usr/bin/env bash
# Builds the developer tools (kustomize, helm, golangci-lint) from the Go
# module proxy, pinned by the tools modules under test/tools, into bin/tools/:
#
#   bin/tools/<name>-<version>   the binary, built once per pinned version
#   bin/tools/<name>             a symlink to it, the path everything uses
#
# A binary that is already there is kept, so only the first run builds
# (kustomize ~20 s, helm ~2 min, golangci-lint ~1 min on 2 cores); later runs
# take a fraction of a second. Bumping a pin in test/tools/<name>/go.mod
# builds the new version.
#
#   hack/build-tools.sh              build every tool
#   hack/build-tools.sh kustomize    build only the named ones
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${TOOLS_BIN_DIR:-$root/bin/tools}

# name | tools module dir | main package | module whose version names the binary
targets=(
  "kustomize|test/tools/kustomize|sigs.k8s.io/kustomize/kustomize/v5|sigs.k8s.io/kustomize/kustomize/v5"
  "helm|test/tools/helm|helm.sh/helm/v3/cmd/helm|helm.sh/helm/v3"
  "golangci-lint|test/tools/golangci-lint|github.com/golangci/golangci-lint/v2/cmd/golangci-lint|github.com/golangci/golangci-lint/v2"
)

# ldflags for a tool at a version, as its own release build sets them.
ldflags() {
  local name=$1 version=$2 dir=$3
  case "$name" in
    helm)
      # helm's Makefile: its version, and the Kubernetes version that
      # `helm template` and `helm lint` assume (one minor above client-go's
      # major, client-go's minor) instead of the source default v1.20.
      local cg major minor
      cg=$(cd "$dir" && go list -m -f '{{.Version}}' k8s.io/client-go)
      cg=${cg#v}
      major=$(( ${cg%%.*} + 1 ))
      minor=$(cut -d. -f2 <<<"$cg")
      echo "-s -w -X helm.sh/helm/v3/internal/version.version=$version -X helm.sh/helm/v3/internal/version.metadata= -X helm.sh/helm/v3/internal/version.gitTreeState=clean -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$major -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$major -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
      ;;
    kustomize)
      echo "-s -w -X sigs.k8s.io/kustomize/api/provenance.version=$version"
      ;;
    golangci-lint)
      # its .goreleaser.yml: the version without the v and the release date
      # (here the module version's commit time); the commit is not known
      # from the module proxy and stays "?".
      local date
      date=$(cd "$dir" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' github.com/golangci/golangci-lint/v2)
      echo "-s -w -X main.version=${version#v} -X main.date=$date"
      ;;
    *)
      echo "-s -w"
      ;;
  esac
}

wanted=("$@")
built=0
for t in "${targets[@]}"; do
  IFS='|' read -r name dir pkg module <<<"$t"
  if [[ ${#wanted[@]} -gt 0 ]] && [[ ! " ${wanted[*]} " == *" $name "* ]]; then
    continue
  fi
  # The pin, read from the tools module's go.mod without asking the proxy.
  version=$(sed -n "s|^[[:space:]]*${module//./\\.} \(v[^ ]*\).*|\1|p" "$dir/go.mod" | head -n1)
  if [[ -z "$version" ]]; then
    echo "[tools] $dir/go.mod does not pin $module" >&2
    exit 1
  fi
  dest="$out/$name-$version"
  if [[ ! -x "$dest" ]]; then
    mkdir -p "$out"
    echo "[tools] building $name $version from the module proxy ($dir)"
    t0=$(date +%s)
    flags=$(ldflags "$name" "$version" "$root/$dir")
    if ! (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags="$flags" -o "$dest.tmp" "$pkg"); then
      echo "[tools] FAILED building $name $version" >&2
      exit 1
    fi
    mv "$dest.tmp" "$dest"
    echo "[tools] built $name $version in $(( $(date +%s) - t0 ))s"
    built=$((built + 1))
  fi
  if [[ "$(readlink "$out/$name" 2>/dev/null)" != "$name-$version" ]]; then
    ln -sfn "$name-$version" "$out/$name"
  fi
done
if [[ $built -gt 0 ]]; then
  echo "[tools] ready in $out"
fi
