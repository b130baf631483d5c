#!/usr/bin/env bash
# Stage 40 with rtio's own HTTP/1.1 front (rtio.http, `--front rtio`): the official
# Engine.IO v4 suite (25 tests) against tests/conformance/server.py, three runs in a row;
# every run must pass 25/25.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
export RTIO_FRONT=rtio  # read by tests/conformance/server.py as its --front default
need_shared protocol-suites/run.sh "the official engineio protocol suite"
start_conformance_server engineio-rtio-front || exit 1
run_protocol_suite engineio 25
