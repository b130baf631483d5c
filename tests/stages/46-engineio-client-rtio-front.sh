#!/usr/bin/env bash
# Stage 45 with rtio's own HTTP/1.1 front (rtio.http, `--front rtio`): the npm
# engine.io-client tests (tests/node/engine*.test.mjs) against tests/conformance/server.py.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
[[ -d tests/node/node_modules/engine.io-client ]] || { echo "tests/node is not installed: run scripts/bootstrap.sh"; exit 1; }
export RTIO_FRONT=rtio  # read by tests/conformance/server.py as its --front default
start_conformance_server engineio-client-rtio-front || exit 1
cd tests/node
ENGINE_URL="http://127.0.0.1:$SERVER_PORT" node --test --test-concurrency=1 --test-reporter=spec \
  engine*.test.mjs 2>&1 | tee "$ARTIFACTS/engineio-client-rtio-front.log"
exit "${PIPESTATUS[0]}"
