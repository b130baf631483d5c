#!/usr/bin/env bash
# Autobahn|Testsuite in client mode: all 517 cases of the fuzzing server against rtio's own
# client (tests/conformance/autobahn_client.py, an echo client offering permessage-deflate),
# with the harness of tests/autobahn (client.sh; its first run installs wstest, see
# tests/autobahn/README.md). Must end with FAILED=0, MISSING=0 and UNIMPLEMENTED=0
# (AUTOBAHN_REQUIRE_ALL=1). About 8 minutes.
# Artifacts: autobahn-client.log (the run), autobahn-client/{summary.json,index.json}.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
AUTOBAHN_REQUIRE_ALL=1 AUTOBAHN_AGENT=rtio-client tests/autobahn/client.sh \
  "$(free_port)" "$work" "*" -- "$PY" "$ROOT/tests/conformance/autobahn_client.py" "{url}" "{agent}" \
  >"$ARTIFACTS/autobahn-client.log" 2>&1
rc=$?
mkdir -p "$ARTIFACTS/autobahn-client"
cp "$work/summary.json" "$work/reports/index.json" "$ARTIFACTS/autobahn-client/" 2>/dev/null
sed -n '/^group /,$p' "$ARTIFACTS/autobahn-client.log"
line=$(tail -1 "$ARTIFACTS/autobahn-client.log")
[[ $rc -eq 0 && $line == *"UNIMPLEMENTED=0, FAILED=0, MISSING=0" ]] || {
  echo "autobahn client mode failed (exit $rc)"; grep -v "done in" "$ARTIFACTS/autobahn-client.log" | tail -20; exit 1; }
