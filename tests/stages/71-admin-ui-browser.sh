#!/usr/bin/env bash
# The Socket.IO admin UI's own web app (ui/dist of the npm package @socket.io/admin-ui 0.5.1)
# against rtio's sio.instrument(), in a real headless Chromium: Debian's chromium (installed
# here when /usr/bin/chromium is absent; Playwright never downloads a browser) driven by
# playwright-core. tests/admin-ui/admin-ui.test.mjs logs in, checks the sockets, rooms and
# servers pages, makes a socket join a room and disconnects one (docs/OPERATIONS.md).
# Screenshots and logs go to $ARTIFACTS/admin-ui/.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
OUT="$ARTIFACTS/admin-ui"
rm -rf "$OUT" && mkdir -p "$OUT"

install_chromium || exit 1
# the server side needs the admin extra (bcrypt), from the dev extra
"$ROOT/.venv/bin/python" -c "import bcrypt" || { echo "bcrypt missing: pip install -e '.[dev]'"; exit 1; }

DIR=tests/admin-ui
want=$(sha256sum <"$DIR/package-lock.json" | cut -c1-64)
if [[ "$(cat "$DIR/node_modules/.rtio-lock-sha256" 2>/dev/null)" != "$want" ]]; then
  (cd "$DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) || exit 1
  echo "$want" >"$DIR/node_modules/.rtio-lock-sha256"
fi

cd "$DIR"
ARTIFACTS="$ARTIFACTS" node --test --test-concurrency=1 --test-reporter=spec admin-ui.test.mjs 2>&1 \
  | tee "$OUT/test.log"
rc=${PIPESTATUS[0]}
echo "screenshots: $(ls "$OUT"/*.png 2>/dev/null | wc -l) in $OUT"
exit "$rc"
