#!/usr/bin/env bash
# The unit tests of every layer (pytest; seconds).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
.venv/bin/pytest tests -q -p no:cacheprovider
