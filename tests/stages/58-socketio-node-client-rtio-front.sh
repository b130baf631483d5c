#!/usr/bin/env bash
# Stage 55 with rtio's own HTTP/1.1 front (rtio.http): the npm socket.io-client v4 tests
# (tests/node/socketio*.test.mjs) against tests/node/socketio_server.py listening with
# rtio.http.FrontSite (RTIO_FRONT=rtio) instead of aiohttp's TCPSite: WebSocket, polling
# only and the upgrade, reconnection after a server restart.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT/tests/node"
[[ -d node_modules/socket.io-client ]] || npm ci --no-audit --no-fund --loglevel=error || exit 1
export RTIO_PYTHON="$PY" RTIO_FRONT=rtio
node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$ARTIFACTS/socketio-node-client-rtio-front.tap" \
  socketio*.test.mjs
