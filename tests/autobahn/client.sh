#!/usr/bin/env bash
# Tests a WebSocket CLIENT with Autobahn|Testsuite: wstest's fuzzing server, then the client.
#
#   tests/autobahn/client.sh PORT OUTDIR [CASES] -- CLIENT-COMMAND [ARGS...]
#
# Starts the fuzzing server on 127.0.0.1:PORT, runs CLIENT-COMMAND (in its arguments {url}
# becomes ws://127.0.0.1:PORT and {agent} the agent name), then makes the server write its
# reports (update_reports.py), stops it and sums up (summarize.py: its last line and exit
# status). The client asks /getCaseCount, runs /runCase?case=I&agent=AGENT for I = 1..count
# as an echo client (offering permessage-deflate, or groups 12 and 13 are UNIMPLEMENTED),
# then asks /updateReports?agent=AGENT. CASES: see wstest_run.py (default all 517).
# Env: AUTOBAHN_AGENT (default testee-client), AUTOBAHN_REQUIRE_ALL=1 (UNIMPLEMENTED fails),
#      AUTOBAHN_TIMEOUT (seconds for the client, default 3600), and those of install.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -ge 4 ]] || { sed -n '2,14p' "$0"; exit 2; }
port=$1 out=$2 cases=* agent=${AUTOBAHN_AGENT:-testee-client}
shift 2
[[ $1 != -- ]] && { cases=$1; shift; }
[[ $1 == -- ]] || { sed -n '2,14p' "$0"; exit 2; }
shift
base="ws://127.0.0.1:$port"
command=()
for arg in "$@"; do arg=${arg//\{url\}/$base}; command+=("${arg//\{agent\}/$agent}"); done

venv=$("$here/install.sh")
mkdir -p "$out" && out=$(cd "$out" && pwd)
rm -rf "$out/reports" "$out/summary.json"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "client.sh: port $port is taken"; echo "autobahn: 0 cases, no report"; exit 2
fi

"$venv/bin/python" -u "$here/wstest_run.py" server "$base" "$out" "$cases" "$agent" \
  >"$out/wstest.log" 2>&1 &
wstest_pid=$!
trap '{ kill $wstest_pid; wait $wstest_pid; } 2>/dev/null || true' EXIT
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
  kill -0 $wstest_pid 2>/dev/null || { cat "$out/wstest.log"; echo "autobahn: 0 cases, no report"; exit 2; }
  sleep 0.2
done

echo "autobahn: fuzzing server $base (agent $agent, cases $cases), output in $out" >&2
start=$SECONDS
set +e
AUTOBAHN_URL=$base AUTOBAHN_AGENT=$agent timeout -k 10 "${AUTOBAHN_TIMEOUT:-3600}" "${command[@]}"
rc=$?
set -e
echo "client exit status $rc after $((SECONDS - start)) s"
python3 "$here/update_reports.py" "$base" "$agent" || echo "client.sh: /updateReports failed"

args=(--agent "$agent" --wall $((SECONDS - start)))
[[ ${AUTOBAHN_REQUIRE_ALL:-0} == 1 ]] && args+=(--require-all)
python3 "$here/summarize.py" "$out" "${args[@]}"
