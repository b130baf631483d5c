#!/usr/bin/env bash
# rtio through rtio.asgi under uvicorn (its default WebSocket implementation), uvicorn with
# wsproto and hypercorn: the npm socket.io-client tests (tests/node/socketio.test.mjs,
# against tests/asgi/socketio_server.py: the same app as stage 55) over WebSocket, polling
# and the upgrade, reconnection after a restart included; then tests/asgi (python-socketio's
# AsyncClient, FastAPI routes beside rtio both ways, shutdown, the POST limits).
#
# Hypercorn passes no close code to the app when the client closes a WebSocket (its
# websocket.disconnect says 1006), so the server cannot tell a client's close from a lost
# connection: "the client closes its transport" (which checks the server's reason
# "transport close") is the one Node test allowed to fail there, and only there.
set -uo pipefail
. "$(dirname "$0")/asgi-lib.sh"
ensure_asgi_deps || exit 1
cd "$ROOT/tests/node"
[[ -d node_modules/socket.io-client ]] || npm ci --no-audit --no-fund --loglevel=error || exit 1
export RTIO_PYTHON="$ROOT/tests/asgi/python.sh"
rc=0
for server in "${ASGI_SERVERS[@]}"; do
  tap="$ARTIFACTS/asgi-$server-node-client.tap"
  RTIO_ASGI_SERVER=$server node --test --test-reporter=tap --test-reporter-destination="$tap" \
    socketio.test.mjs
  # failed leaf tests (TAP "not ok" lines whose test has no subtests)
  failed=$(grep -E '^ *not ok [0-9]+ - ' "$tap" | sed -E 's/^ *not ok [0-9]+ - //' \
    | grep -vE '^(over |disconnect reasons|restarts)' | sort | uniq -c)
  passed=$(grep -cE '^ *ok [0-9]+ - ' "$tap")
  allowed="the client closes its transport"
  if [[ $server == hypercorn ]]; then
    unexpected=$(echo "$failed" | grep -v "$allowed" | grep -v '^$' || true)
  else
    unexpected=$failed
  fi
  echo "asgi-$server: node socket.io-client: $passed ok; failed: ${failed:-none}"
  [[ -z $unexpected ]] || { echo "unexpected failures under $server: $unexpected"; rc=1; }
done
cd "$ROOT"
.venv/bin/pytest tests/asgi -q -p no:cacheprovider --junitxml="$ARTIFACTS/asgi.xml" || rc=1
exit $rc
