#!/usr/bin/env bash
# rtio.engine against the real npm engine.io-client in Node (tests/node/engine*.test.mjs):
# polling only, WebSocket only, polling then upgrade; text and binary both ways; a server
# close and a heartbeat timeout detected by the client; permessage-deflate when enabled.
# Runs against tests/conformance/server.py (paths /engine.io/, /engine-control/ and
# /engine-deflate/ of app_engine.py).
# tests/node's packages are installed by scripts/bootstrap.sh.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
[[ -d tests/node/node_modules/engine.io-client ]] || { echo "tests/node is not installed: run scripts/bootstrap.sh"; exit 1; }
start_conformance_server engineio-client || exit 1
cd tests/node
ENGINE_URL="http://127.0.0.1:$SERVER_PORT" node --test --test-concurrency=1 --test-reporter=spec \
  engine*.test.mjs 2>&1 | tee "$ARTIFACTS/engineio-client.log"
exit "${PIPESTATUS[0]}"
