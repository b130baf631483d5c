#!/usr/bin/env bash
# The unit tests of every layer (pytest; about a minute), with branch coverage per module.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
.venv/bin/pytest tests -q -p no:cacheprovider --cov --cov-report=term
