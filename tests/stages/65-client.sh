#!/usr/bin/env bash
# rtio.client (issue 18) against three servers: rtio, python-socketio's AsyncServer and
# Node socket.io 4.8 (tests/client/node_server.mjs), over polling, WebSocket and the
# upgrade, with the JSON and msgpack parsers: connect with auth, a refused connect with
# data, echo with nested binary, acks both ways, rooms, namespaces, a server disconnect, a
# restart and the reconnection; then the sans-I/O cores, the behaviour tests (heartbeat,
# buffering, reconnection events, TLS), SimpleClient, and rtio.testing with its pytest
# plugin (the chat demo's whole event set in memory). About a minute.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
lock_sha="$(sha256sum <tests/client/package-lock.json | cut -c1-64)"
if [[ "$(cat tests/client/node_modules/.rtio-lock-sha256 2>/dev/null)" != "$lock_sha" ]]; then
  (cd tests/client && npm ci --no-audit --no-fund --loglevel=error) || exit 1
  echo "$lock_sha" >tests/client/node_modules/.rtio-lock-sha256
fi
start=$(date +%s)
RTIO_CLIENT_SERVERS=rtio,python-socketio,node .venv/bin/pytest tests/client tests/testing \
  -q -p no:cacheprovider -rs --junitxml="$ARTIFACTS/client.xml"
rc=$?
echo "client stage: $(( $(date +%s) - start )) s"
exit $rc
