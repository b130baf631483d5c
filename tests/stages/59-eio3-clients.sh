#!/usr/bin/env bash
# socket.io-client 2.x (Engine.IO v3, the Socket.IO v4 protocol; npm alias
# socket.io-client-v2) against rtio with allow_eio3=True (behind aiohttp and behind rtio's
# own HTTP front) and, as the reference, against Node's socket.io 4 with allowEIO3
# (tests/node/eio3.test.mjs, node --test): the same scenarios on all three, over polling,
# websocket and the upgrade (connect, query auth, echo, acks both ways, binary, namespaces,
# refusals, a room shared with a 4.x client, the client's pings, reconnection), and the
# refusal (400, code 5) with allow_eio3 off; then the 2.x browser bundle in headless
# Chromium (Debian's /usr/bin/chromium via playwright-core, installed here when absent), whose
# XHR2 polling carries the v3 binary payloads (tests/node/eio3.browser.test.mjs).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
install_chromium || exit 1
cd "$ROOT/tests/node"
[[ -d node_modules/socket.io-client-v2 && -d node_modules/socket.io && -d node_modules/playwright-core ]] \
  || PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error || exit 1
export RTIO_PYTHON="$PY"
node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$ARTIFACTS/eio3-clients.tap" \
  eio3.test.mjs eio3.browser.test.mjs
