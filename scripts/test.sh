#!/usr/bin/env bash
# The test command: lint, type-check, then the whole suite against the real local stack
# (Temporal dev server, OpenBao, the sandbox systems and the worker, started once per run).
set -euo pipefail
cd "$(dirname "$0")/.."

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy .
# The committed histories replay against this code, as before a rollout (docs/deploying.md).
.venv/bin/backoffice replay-check --histories tests/histories
# Tools only the tests need are built on the first run (Go's caches make later runs quick):
# Docker Compose's CLI, for `docker-compose config` on docker-compose.yml (tests/deploy).
bash scripts/compose-cli.sh
.venv/bin/pytest "$@"
