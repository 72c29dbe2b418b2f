#!/usr/bin/env bash
# Sets up everything on a fresh machine: the virtualenv with the project and its dev tools,
# and the Temporal CLI (dev server + Web UI), built once into .tools/bin. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
echo "==> installing the project and its dev tools into .venv"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]"

echo "==> finding or building the Temporal CLI"
.venv/bin/python -c "from devstack.temporal_cli import find_temporal_cli; print(find_temporal_cli())"
echo "==> set up. Next: .venv/bin/backoffice demo   (or: .venv/bin/backoffice dev up)"
