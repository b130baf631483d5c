#!/usr/bin/env bash
# The official Socket.IO suite (32 tests) against rtio through rtio.asgi
# (tests/asgi/conformance_server.py: the conformance apps of tests/conformance, the same
# code as stages 50/51) under uvicorn (its default WebSocket implementation), uvicorn with
# wsproto, and hypercorn: one run each; every run must pass 32/32.
set -uo pipefail
. "$(dirname "$0")/asgi-lib.sh"
cd "$ROOT"
need_shared protocol-suites/run.sh "the official Socket.IO protocol suite"
ensure_asgi_deps || exit 1
rc=0
for server in "${ASGI_SERVERS[@]}"; do
  start_asgi_conformance_server "$server" || { rc=1; continue; }
  run_suite_once socketio 32 "asgi-$server" || rc=1
  stop_asgi_server
done
exit $rc
