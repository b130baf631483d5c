#!/usr/bin/env bash
# ruff on the code, mypy --strict on rtio/.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
rc=0
dirs=(); for d in rtio rtio_pytest tests benchmarks; do [[ -d $d ]] && dirs+=("$d"); done
.venv/bin/ruff check "${dirs[@]}" || rc=1
.venv/bin/mypy rtio rtio_pytest || rc=1
exit $rc
