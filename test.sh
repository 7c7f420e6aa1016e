#!/usr/bin/env bash
# README command 2: set up .venv if needed and run the checks CI runs (.ci/run calls exactly this).
set -euo pipefail
cd "$(dirname "$0")"
scripts/ensure-venv.sh dev
echo "== ruff" >&2
.venv/bin/ruff check src tests bench demo
echo "== mypy (strict)" >&2
.venv/bin/mypy
echo "== pytest" >&2
.venv/bin/pytest -n 2 -q "$@"
