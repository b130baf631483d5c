#!/usr/bin/env bash
# The official Engine.IO v4 protocol suite (25 tests) against tests/conformance/server.py
# (app: tests/conformance/app_engine.py on /engine.io/), three runs in a row; every run must
# pass 25/25.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
need_shared protocol-suites/run.sh "the official engineio protocol suite"
start_conformance_server engineio || exit 1
run_protocol_suite engineio 25
