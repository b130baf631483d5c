#!/usr/bin/env bash
# Autobahn|Testsuite in server mode: all 517 cases (RFC 6455 + RFC 7692) against the /autobahn
# echo app of tests/conformance/server.py, with the harness of tests/autobahn (server.sh; its
# first run installs wstest, see tests/autobahn/README.md). Must end with FAILED=0, MISSING=0
# and UNIMPLEMENTED=0 (AUTOBAHN_REQUIRE_ALL=1); NON-STRICT is reported, not required (it may
# change from run to run). About 8 minutes.
# Artifacts: autobahn-server.log (the run), autobahn-server/{summary.json,index.json}.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
start_conformance_server autobahn-server || exit 1

work=$(mktemp -d)
trap 'rm -rf "$work"; kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null' EXIT
AUTOBAHN_REQUIRE_ALL=1 AUTOBAHN_AGENT=rtio tests/autobahn/server.sh \
  "ws://127.0.0.1:$SERVER_PORT/autobahn" "$work" >"$ARTIFACTS/autobahn-server.log" 2>&1
rc=$?
mkdir -p "$ARTIFACTS/autobahn-server"
cp "$work/summary.json" "$work/reports/index.json" "$ARTIFACTS/autobahn-server/" 2>/dev/null
sed -n '/^group /,$p' "$ARTIFACTS/autobahn-server.log"
line=$(tail -1 "$ARTIFACTS/autobahn-server.log")
[[ $rc -eq 0 && $line == *"UNIMPLEMENTED=0, FAILED=0, MISSING=0" ]] || {
  echo "autobahn server mode failed (exit $rc)"; tail -n 20 "$work/wstest.log" "$ARTIFACTS/autobahn-server-server.log"; exit 1; }
