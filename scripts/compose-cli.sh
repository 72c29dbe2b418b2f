#!/usr/bin/env bash
# Docker Compose's own CLI, for tests/deploy: `docker-compose config` loads and validates
# docker-compose.yml exactly as `docker compose up` would, and needs no Docker daemon. Built once
# into .tools/bin from its Go module; skipped when that version is there already.
set -euo pipefail
cd "$(dirname "$0")/.."

# v5.5.1: every dependency is on the Go module proxy (v5.6.0 needs one that is not). Its go.mod
# has exclude directives, so `go install module@version` refuses it: build inside the module.
VERSION=${COMPOSE_CLI_VERSION:-v5.5.1}
TARGET=.tools/bin/docker-compose

if [ -x "$TARGET" ] && [ "$("$TARGET" version --short 2>/dev/null)" = "${VERSION#v}" ]; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  if docker compose version >/dev/null 2>&1; then
    echo "==> no Go toolchain: tests/deploy will use this machine's \`docker compose\`"
    exit 0
  fi
  echo "missing: a Go toolchain, to build Docker Compose $VERSION into $TARGET" >&2
  exit 1
fi
echo "==> building Docker Compose $VERSION into $TARGET (once; a few minutes)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
module_dir=$(GOTOOLCHAIN=local go mod download -json "github.com/docker/compose/v5@$VERSION" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
cp -r "$module_dir" "$work/src"
chmod -R u+w "$work/src"
mkdir -p "$(dirname "$TARGET")"
out="$PWD/$TARGET"
(cd "$work/src" && GOTOOLCHAIN=local GOFLAGS=-buildvcs=false go build -trimpath \
  -ldflags "-w -X github.com/docker/compose/v5/internal.Version=$VERSION" -o "$out" ./cmd)
"$TARGET" version
