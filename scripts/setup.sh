#!/usr/bin/env bash
# Sets up everything on a fresh machine: the virtualenv with the project and its dev tools,
# Debian's chromium (for the inbox tests) and postgresql (the tests run on PostgreSQL too), and
# the Temporal CLI (dev server) and mailpit (SMTP server + web UI), built once into .tools/bin,
# and the Temporal Web UI server, into .tools/ui. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
echo "==> installing the project and its dev tools into .venv"
.venv/bin/python -m pip install --quiet --upgrade pip
# Exact versions from constraints.txt (scripts/lock.sh makes it), as CI and the Dockerfile.
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[dev]"

# Debian packages the tests use: Chromium, which the approval-inbox tests drive (Playwright's own
# browser download is not used), and PostgreSQL's server binaries (the tests start a throwaway
# server from /usr/lib/postgresql/<version>/bin).
packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || packages+=(postgresql)
if [ ${#packages[@]} -gt 0 ]; then
  echo "==> installing Debian's ${packages[*]} (for the tests)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      SUDO="sudo"
    else
      echo "missing: ${packages[*]}. Run as root, or: apt-get install -y ${packages[*]}" >&2
      exit 1
    fi
  fi
  apt_log=$(mktemp)
  if ! { $SUDO apt-get update -qq &&
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"; } \
    >"$apt_log" 2>&1
  then
    cat "$apt_log" >&2
    rm -f "$apt_log"
    echo "installing ${packages[*]} failed (see above)" >&2
    exit 1
  fi
  rm -f "$apt_log"
fi

echo "==> finding or building the Temporal CLI"
.venv/bin/python -c "from devstack.temporal_cli import find_temporal_cli; print(find_temporal_cli())"
echo "==> finding or building the Temporal Web UI server (the dev stack runs it apart, so it decodes)"
.venv/bin/python -c "from devstack.temporal_ui import find_ui_server; print(find_ui_server())"
echo "==> finding or building mailpit (the dev stack's SMTP server with a web UI)"
.venv/bin/python -c "from devstack.mailpit import find_mailpit; print(find_mailpit())"
echo "==> set up. Next: .venv/bin/backoffice demo   (or: .venv/bin/backoffice dev up)"
