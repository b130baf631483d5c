#!/usr/bin/env bash
# Tests a WebSocket SERVER with Autobahn|Testsuite: wstest's fuzzing client against URL.
#
#   tests/autobahn/server.sh ws://127.0.0.1:PORT/PATH OUTDIR [CASES]
#
# The endpoint must echo every message (text as text, binary as binary) without size limits
# (group 9 sends up to 16 MiB) and should offer permessage-deflate (groups 12, 13). CASES:
# see wstest_run.py (default all 517). OUTDIR gets spec.json, expected_cases.txt, wstest.log,
# reports/ (index.json, one JSON and HTML per case) and summary.json. Ends with the line of
# summarize.py and its exit status.
# Env: AUTOBAHN_AGENT (default testee), AUTOBAHN_REQUIRE_ALL=1 (UNIMPLEMENTED fails),
#      AUTOBAHN_TIMEOUT (seconds, default 3600), and those of install.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -ge 2 && $1 == ws://* ]] || { sed -n '2,13p' "$0"; exit 2; }
url=$1 out=$2 cases=${3:-*} agent=${AUTOBAHN_AGENT:-testee}
hostport=${url#ws://}; hostport=${hostport%%/*}
host=${hostport%:*} port=${hostport##*:}
[[ $hostport == *:* ]] || port=80

venv=$("$here/install.sh")
mkdir -p "$out" && out=$(cd "$out" && pwd)
rm -rf "$out/reports" "$out/summary.json"

# wstest writes an empty report when it cannot connect: wait for the server first.
for _ in $(seq 150); do
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && break
  sleep 0.1
done

echo "autobahn: fuzzing client -> $url (agent $agent, cases $cases), output in $out" >&2
start=$SECONDS
set +e
timeout -k 10 "${AUTOBAHN_TIMEOUT:-3600}" "$venv/bin/python" -u "$here/wstest_run.py" \
  client "$url" "$out" "$cases" "$agent" >"$out/wstest.log" 2>&1
rc=$?
set -e
echo "wstest exit status $rc after $((SECONDS - start)) s"

args=(--agent "$agent" --wall $((SECONDS - start)))
[[ ${AUTOBAHN_REQUIRE_ALL:-0} == 1 ]] && args+=(--require-all)
exec python3 "$here/summarize.py" "$out" "${args[@]}"
