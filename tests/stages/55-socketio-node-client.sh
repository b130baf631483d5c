#!/usr/bin/env bash
# rtio against the real npm socket.io-client v4 (tests/node/socketio*.test.mjs, node --test):
# over WebSocket, polling only and across the upgrade; namespaces with auth, middleware
# refusals with data, events and acks both ways, binary both ways, rooms and broadcasts,
# volatile, broadcast acks with a timeout, disconnect reasons on both sides, reconnection
# after a server restart. The tests start tests/node/socketio_server.py themselves.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT/tests/node"
[[ -d node_modules/socket.io-client ]] || npm ci --no-audit --no-fund --loglevel=error || exit 1
export RTIO_PYTHON="$PY"
node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$ARTIFACTS/socketio-node-client.tap" \
  socketio*.test.mjs
