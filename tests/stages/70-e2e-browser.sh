#!/usr/bin/env bash
# The chat demo end to end in a real headless Chromium: Debian's chromium (installed here when
# /usr/bin/chromium is absent; Playwright never downloads a browser) driven by playwright-core.
# Builds the demo's bundle (clients/js-demo), then runs tests/e2e/chat.test.mjs against
# `rtio demo`: two pages chat, a long-polling page joins, an image is shared, the server
# restarts, a name in use is refused, a phone-sized page (390x844) chats and finds the rooms
# in its drawer, a page in no room is offered the rooms; then tests/e2e/readme.test.mjs runs
# the README's Quickstart (server and page) and tests/e2e/recovery.test.mjs connection state
# recovery with the browser build of socket.io-client (issue 17); then chat.test.mjs again
# with the demo served through FastAPI (tests/asgi/fastapi_demo.py).
# Screenshots, server logs and the browser console go to $ARTIFACTS/e2e/.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
OUT="$ARTIFACTS/e2e"
rm -rf "$OUT" && mkdir -p "$OUT"

. "$ROOT/tests/stages/e2e-lib.sh"  # chromium, npm ci, the demo's bundle
prepare_e2e || exit 1

cd tests/e2e
ARTIFACTS="$ARTIFACTS" node --test --test-concurrency=1 --test-reporter=spec chat.test.mjs readme.test.mjs \
  recovery.test.mjs 2>&1 \
  | tee "$OUT/test.log"
rc=${PIPESTATUS[0]}
echo "screenshots: $(ls "$OUT"/*.png 2>/dev/null | wc -l) in $OUT"

# issue 19: the same chat tests with the demo served by a FastAPI app (its own routes serve
# the page and assets) with rtio mounted at /socket.io, under uvicorn (tests/asgi/fastapi_demo.py)
echo "▶ the same, through FastAPI + rtio.asgi under uvicorn"
RTIO_CMD="$ROOT/.venv/bin/python $ROOT/tests/asgi/fastapi_demo.py demo --server uvicorn" \
  ARTIFACTS="$ARTIFACTS/fastapi" node --test --test-concurrency=1 --test-reporter=spec \
  chat.test.mjs 2>&1 | tee "$OUT/test-fastapi.log"
[[ ${PIPESTATUS[0]} -eq 0 ]] || rc=1
exit "$rc"
