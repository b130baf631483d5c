#!/usr/bin/env bash
# rtio against python-socketio's AsyncClient, an independent second client
# (tests/socketio/client): over WebSocket, polling only and across the upgrade; namespaces
# with auth, a middleware refusal with data, events and acks both ways, binary both ways,
# rooms and broadcasts with except, broadcast acks with a timeout, disconnect reasons,
# a graceful shutdown, reconnection after a crash and restart. The server runs in-process
# on a free port (one test runs it as a process to kill it).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
.venv/bin/pytest tests/socketio/client -v -p no:cacheprovider --junitxml="$ARTIFACTS/socketio-python-client.xml"
