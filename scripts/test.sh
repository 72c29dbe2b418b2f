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
# Docker Compose's CLI, for `docker-compose config` on docker-compose.yml (tests/deploy);
# temporal-server, temporal-sql-tool and the Web UI server at the compose file's versions, for
# the production shape without containers (tests/prodshape).
bash scripts/compose-cli.sh
bash scripts/prod-tools.sh
.venv/bin/pytest "$@"
