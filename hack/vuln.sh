#!/usr/bin/env bash
# Runs govulncheck over the main module (./...) against a vulnerability
# database built locally, so it needs nothing but the Go module proxy
# (vuln.go.dev is not contacted).
#
# Both pieces are pinned by the tools module hack/vulndb:
#   golang.org/x/vuln    govulncheck itself, built into bin/govulncheck
#   golang.org/x/vulndb  a snapshot of the Go vulnerability database; its
#                        data/osv holds one OSV report per vulnerability and
#                        its cmd/indexdb turns that folder into a v1 database
#                        (index/db.json, index/modules.json, index/vulns.json,
#                        ID/<id>.json), written to bin/vulndb
#
# bin/vulndb is rebuilt only when the pinned vulndb version changes.
# Exit status: 3 when our code calls a vulnerable function of a dependency
# module; the Go toolchain's own findings are printed as a warning (they
# are fixed by the machine's Go, not by us) unless HPP_VULN_STRICT_STDLIB=1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools=$root/hack/vulndb
db=$root/bin/vulndb
mkdir -p "$root/bin"

say() { echo "[vuln] $*"; }

# download <module>: fetches the version pinned by the tools module through
# the module proxy and prints "<dir> <version> <commit time>".
download() {
  local json
  say "downloading $1 (version pinned by hack/vulndb/go.mod)" >&2
  if ! json=$(cd "$tools" && go mod download -json "$1"); then
    echo "$json" >&2
    say "FAILED downloading $1" >&2
    return 1
  fi
  (cd "$tools" && go list -m -f '{{.Dir}} {{.Version}} {{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' "$1")
}

vuln=$(download golang.org/x/vuln)
vulndb=$(download golang.org/x/vulndb)
read -r vuln_dir vuln_version _ <<<"$vuln"
read -r vulndb_dir vulndb_version vulndb_time <<<"$vulndb"
say "govulncheck golang.org/x/vuln@$vuln_version ($vuln_dir)"
say "database snapshot golang.org/x/vulndb@$vulndb_version ($vulndb_dir)"

source_id="golang.org/x/vulndb@$vulndb_version"
if [[ -f "$db/SOURCE" && "$(cat "$db/SOURCE")" == "$source_id" ]]; then
  say "database in bin/vulndb is up to date"
else
  t0=$(date +%s)
  say "building the database from $(find "$vulndb_dir/data/osv" -name 'GO-*.json' | wc -l) OSV reports into bin/vulndb"
  tmp=$(mktemp -d "$root/bin/vulndb.tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tools" && go build -o "$tmp/indexdb" golang.org/x/vulndb/cmd/indexdb)
  "$tmp/indexdb" -vulns "$vulndb_dir/data/osv" -out "$tmp/db"
  # The reports in data/osv carry no modification time (upstream fills it in
  # from git history, which a module zip does not have), so indexdb dates the
  # database 0001-01-01. Date it with the snapshot's commit time instead, so
  # govulncheck's "DB updated" says how fresh the data is.
  printf '{"modified":"%s"}' "$vulndb_time" >"$tmp/db/index/db.json"
  gzip -c "$tmp/db/index/db.json" >"$tmp/db/index/db.json.gz"
  echo "$source_id" >"$tmp/db/SOURCE"
  rm -rf "$db"
  mv "$tmp/db" "$db"
  say "built bin/vulndb in $(( $(date +%s) - t0 ))s"
fi
say "database snapshot date: $vulndb_time ($(find "$db/ID" -name '*.json' | wc -l) reports)"

# go build leaves an up-to-date binary alone, so this is cheap when warm.
say "building bin/govulncheck"
(cd "$tools" && go build -o "$root/bin/govulncheck" golang.org/x/vuln/cmd/govulncheck)

say "govulncheck -db file://$db ./... (in $root)"
report=$root/bin/govulncheck.json
if ! "$root/bin/govulncheck" -db "file://$db" -format json ./... >"$report"; then
  say "FAILED: govulncheck could not complete (its output: $report)" >&2
  exit 1
fi

# A finding whose innermost frame names a function is one our code calls
# (the others are only imported or required). One line each:
# id, module, found, fixed, vulnerable function, entry point in our code.
called() {
  jq -r 'select(.finding) | .finding | select(.trace[0].function)
    | [.osv, .trace[0].module, (.trace[0].version // "?"), (.fixed_version // "none"),
       "\(.trace[0].package).\(.trace[0].function)",
       (.trace | last | "\(.package).\(.function) (\(.position.filename // "?"):\(.position.line // 0))")]
    | @tsv' "$report" | sort -u -k1,2
}
modules=$(called | awk -F'\t' '$2 != "stdlib"')
stdlib=$(called | awk -F'\t' '$2 == "stdlib"')
show() { awk -F'\t' '{printf "  %s  %s@%s, fixed in %s: %s, reached from %s\n", $1, $2, $3, $4, $5, $6}'; }

if [[ -n "$stdlib" ]]; then
  say "WARNING: the Go toolchain ($(go env GOVERSION)) has vulnerabilities our code reaches:"
  show <<<"$stdlib"
  say "they are fixed by building with a newer Go patch release, not by this repository;"
  say "the Dockerfile's golang:1.26 builder takes the newest 1.26 patch. Set HPP_VULN_STRICT_STDLIB=1 to fail on them."
fi
if [[ -n "$modules" ]]; then
  say "FAILED: the code calls vulnerable functions of its dependencies:" >&2
  show <<<"$modules" >&2
  exit 3
fi
if [[ -n "$stdlib" && "${HPP_VULN_STRICT_STDLIB:-}" == 1 ]]; then
  say "FAILED: HPP_VULN_STRICT_STDLIB=1 and the toolchain has called vulnerabilities" >&2
  exit 3
fi
say "no dependency of ours calls a known vulnerable function (database of $vulndb_time)"
