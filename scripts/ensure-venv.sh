#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv with the given extras.
# Idempotent: re-installs only when pyproject.toml or the requested extras change.
# Usage: scripts/ensure-venv.sh EXTRAS   (e.g. "formats" or "test,formats")
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-formats}"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "trojanguard: creating virtual environment in .venv" >&2
  "$py" -m venv .venv
fi
stamp=".venv/.trojanguard-installed-${extras//,/-}"
want="$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "trojanguard: installing trojanguard[$extras] into .venv (first run only)" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >&2 || true
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]" >&2
  echo "$want" > "$stamp"
fi
# Bytecode for the editable sources (pip compiles installed packages, not editable ones): without
# it, and with PYTHONDONTWRITEBYTECODE set, every CLI start recompiles ~60 modules (~0.2 s).
# Incremental: only changed files are recompiled.
.venv/bin/python -m compileall -q src >/dev/null 2>&1 || true
