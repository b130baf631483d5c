#!/usr/bin/env bash
# rtio's msgpack parser against the real npm socket.io-client + socket.io-msgpack-parser
# (tests/node/msgpack*.test.mjs, node --test): events, acks both ways, binary, dates,
# nested data over WebSocket, polling and the upgrade; JSON and msgpack clients in one
# room, one broadcast encoded once per parser. The test starts tests/node/msgpack_server.py.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT/tests/node"
[[ -d node_modules/socket.io-msgpack-parser ]] || npm ci --no-audit --no-fund --loglevel=error || exit 1
export RTIO_PYTHON="$PY"
node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$ARTIFACTS/socketio-msgpack-node.tap" \
  msgpack*.test.mjs
