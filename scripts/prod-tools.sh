#!/usr/bin/env bash
# The production shape's Go binaries, at docker-compose.yml's versions, for the stack without
# containers (`backoffice deploy local up`, tests/prodshape): Temporal's server and its SQL
# schema tool, and the Web UI server. Built once into .tools/prod/bin (each is called `server` or
# `sql` by its module, so each builds into its own GOBIN and is renamed); skipped when that
# version is there already. Not part of setup: the dev stack and the demo do not need them.
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPORAL_VERSION=${TEMPORAL_SERVER_VERSION:-v1.30.1}
UI_VERSION=${TEMPORAL_UI_SERVER_VERSION:-v2.49.1}
BIN=.tools/prod/bin

# name  package@version  module whose version `go version -m` must report
tools="temporal-server go.temporal.io/server/cmd/server@$TEMPORAL_VERSION go.temporal.io/server
temporal-sql-tool go.temporal.io/server/cmd/tools/sql@$TEMPORAL_VERSION go.temporal.io/server
temporal-ui-server github.com/temporalio/ui-server/v2/cmd/server@$UI_VERSION github.com/temporalio/ui-server/v2"

built_at() {  # the module version a binary was built from, or nothing
  go version -m "$1" 2>/dev/null | awk -v m="$2" '$1 == "mod" && $2 == m { print $3 }'
}

missing=""
while read -r name package module; do
  if [ "$(built_at "$BIN/$name" "$module")" != "${package##*@}" ]; then
    missing="$missing $name"
  fi
done <<<"$tools"
[ -z "$missing" ] && exit 0

if ! command -v go >/dev/null 2>&1; then
  echo "missing: a Go toolchain, to build$missing into $BIN" >&2
  exit 1
fi
mkdir -p "$BIN"
while read -r name package module; do
  case " $missing " in *" $name "*) ;; *) continue ;; esac
  echo "==> building $name (${package}) into $BIN (once; a few minutes)"
  gobin=$(mktemp -d)
  GOTOOLCHAIN=local GOBIN="$gobin" go install -trimpath "$package"
  mv "$gobin"/* "$BIN/$name"
  rmdir "$gobin"
done <<<"$tools"
