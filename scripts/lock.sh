#!/usr/bin/env bash
# Pins every package the project installs (runtime and the dev extra) into constraints.txt: the
# newest versions the index offers that satisfy pyproject.toml, resolved in a throwaway
# virtualenv. Run it after changing a dependency in pyproject.toml, then scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet ".[dev]"
{
  sed -n '1,2p' constraints.txt
  "$work/venv/bin/python" -m pip freeze --exclude backoffice | sort -f
} >"$work/constraints.txt"
mv "$work/constraints.txt" constraints.txt
echo "constraints.txt: $(grep -c '==' constraints.txt) packages pinned"
