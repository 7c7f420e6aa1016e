#!/usr/bin/env bash
# README command 1: set up .venv if needed, build the bundled demo set, scan it, show the report.
set -euo pipefail
cd "$(dirname "$0")"
scripts/ensure-venv.sh formats
rm -rf demo-out
.venv/bin/python demo/build_demo.py demo-out >&2
set +e
.venv/bin/trojanguard scan demo-out "$@"
code=$?
set -e
echo >&2
echo "trojanguard: exit code $code (0 clean, 1 findings at/above --fail-on, 2 error/incomplete)." >&2
# The demo set is malicious on purpose: exit 1 is the expected, successful outcome.
[ "$code" -eq 1 ] && exit 0
exit "$code"
