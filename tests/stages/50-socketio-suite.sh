#!/usr/bin/env bash
# The official Socket.IO v5 protocol suite (32 tests) against tests/conformance/server.py
# (app: tests/conformance/app_socketio.py on /socket.io/), three runs in a row; every run
# must pass 32/32.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
start_conformance_server socketio || exit 1
EXPECTED=32
rc=0
for run in 1 2 3; do
  out=$("$SHARED/protocol-suites/run.sh" socketio "http://127.0.0.1:$SERVER_PORT" 2>&1)
  echo "$out" > "$ARTIFACTS/socketio-suite-run$run.log"
  line=$(echo "$out" | tail -1)
  echo "run $run: $line"
  passed=$(echo "$line" | sed -n 's/^socketio-suite: \([0-9]*\) passed, 0 failed$/\1/p')
  if [[ -z $passed || $passed -lt $EXPECTED ]]; then
    echo "$out" | sed -n '/failing/,$p' | head -60
    rc=1
  fi
done
exit $rc
