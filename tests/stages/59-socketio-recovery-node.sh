#!/usr/bin/env bash
# Connection state recovery on one rtio node against the real npm socket.io-client 4.8
# (tests/node/recovery.test.mjs, node --test, ~10 s): the transport cut while events go out
# (to all, rooms, the socket's id, except, volatile, acked), recovered === true with the
# same id, rooms, data and exactly the missed events in order before "connect", over
# WebSocket, polling and the upgrade; not recovered: client namespace disconnect, unknown
# pid, bad offset, expired session, server restart. Starts tests/node/recovery_server.py.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT/tests/node"
[[ -d node_modules/socket.io-client ]] || npm ci --no-audit --no-fund --loglevel=error || exit 1
export RTIO_PYTHON="$PY"
node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$ARTIFACTS/socketio-recovery-node.tap" \
  recovery.test.mjs
