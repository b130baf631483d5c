#!/usr/bin/env bash
# Runs the demo on a fresh machine: installs what it needs, then serves it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/bootstrap.sh
exec .venv/bin/python tests/conformance/server.py --port "${PORT:-8000}" "$@"
