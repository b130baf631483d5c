#!/usr/bin/env bash
# The official Socket.IO v5 protocol suite (32 tests) against tests/conformance/server.py
# (app: tests/conformance/app_socketio.py on /socket.io/), three runs in a row; every run
# must pass 32/32.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
need_shared protocol-suites/run.sh "the official socketio protocol suite"
start_conformance_server socketio || exit 1
run_protocol_suite socketio 32
