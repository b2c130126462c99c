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
# Exit status: govulncheck's (3 means a vulnerable function is called).
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
rc=0
"$root/bin/govulncheck" -db "file://$db" -show version ./... || rc=$?
case $rc in
  0) say "no called vulnerable function found" ;;
  3) say "FAILED: the code calls a vulnerable function (findings above)" >&2 ;;
  *) say "FAILED: govulncheck could not complete (exit $rc)" >&2 ;;
esac
exit "$rc"
