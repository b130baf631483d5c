#!/usr/bin/env bash
# Stage 50 with rtio's own HTTP/1.1 front (rtio.http, `--front rtio`): the official
# Socket.IO v5 suite (32 tests) against tests/conformance/server.py, three runs in a row;
# every run must pass 32/32.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
export RTIO_FRONT=rtio  # read by tests/conformance/server.py as its --front default
need_shared protocol-suites/run.sh "the official socketio protocol suite"
start_conformance_server socketio-rtio-front || exit 1
run_protocol_suite socketio 32
