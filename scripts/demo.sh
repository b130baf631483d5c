#!/usr/bin/env bash
# The chat demo from a fresh machine: installs what it needs (scripts/bootstrap.sh: .venv
# with rtio; the browser app's npm packages and bundle are built by `rtio demo` on first
# use), then serves it on http://127.0.0.1:${PORT:-8000}/ (HOST=0.0.0.0 to open it to the
# network). Extra arguments go to `rtio demo` (e.g. --log-level debug).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/bootstrap.sh
exec .venv/bin/rtio demo --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" "$@"
