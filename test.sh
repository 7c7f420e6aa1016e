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
# One BLAS/OpenMP thread per test worker: two workers on two cores, each with a BLAS pool of
# its own, oversubscribe the machine and made the data tests several times slower.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
.venv/bin/pytest -n 2 -q "$@"
