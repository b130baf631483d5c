#!/usr/bin/env bash
# The official Engine.IO v4 protocol suite (25 tests) against tests/conformance/server.py,
# three runs in a row; every run must pass 25/25.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
start_conformance_server engineio || exit 1
EXPECTED=25
rc=0
for run in 1 2 3; do
  out=$("$SHARED/protocol-suites/run.sh" engineio "http://127.0.0.1:$SERVER_PORT" 2>&1)
  echo "$out" > "$ARTIFACTS/engineio-suite-run$run.log"
  line=$(echo "$out" | tail -1)
  echo "run $run: $line"
  if [[ $line != "engineio-suite: $EXPECTED passed, 0 failed" ]]; then
    echo "$out" | sed -n '/failing/,$p' | head -60
    rc=1
  fi
done
exit $rc
