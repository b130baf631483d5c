#!/usr/bin/env bash
# The chat demo end to end in headless Chromium (tests/e2e/chat.test.mjs, as in stage 70)
# against `rtio demo --workers 2`: two worker processes on one port, no sticky sessions
# (issue 15). The pages' connections land on either worker; the long-polling page's
# requests are handed to the worker that owns its session; names, members, room counts and
# the rooms' last messages come from both workers (rtio/demo/chat.py). The last test checks
# that the pages' sockets were served by both workers. About 40 s.
# Screenshots, server logs and the browser console go to $ARTIFACTS/workers/e2e/.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
. "$ROOT/tests/stages/e2e-lib.sh"  # chromium, npm ci, the demo's bundle
prepare_e2e || exit 1
OUT="$ARTIFACTS/workers/e2e"
rm -rf "$OUT" && mkdir -p "$OUT"

cd tests/e2e
RTIO_CMD="$ROOT/.venv/bin/rtio demo --workers 2" E2E_WORKERS=2 ARTIFACTS="$ARTIFACTS/workers" \
  node --test --test-concurrency=1 --test-reporter=spec chat.test.mjs 2>&1 | tee "$OUT/test.log"
exit "${PIPESTATUS[0]}"
