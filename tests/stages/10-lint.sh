#!/usr/bin/env bash
# ruff and mypy --strict on rtio/.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
rc=0
.venv/bin/ruff check rtio tests benchmarks || rc=1
.venv/bin/mypy rtio || rc=1
exit $rc
