#!/usr/bin/env bash
# `rtio bench` (issue 20) run briefly against three Socket.IO servers implementing the
# bench server contract: rtio (benchmarks/server.py), Node socket.io 4.8
# (../shared/bench/servers/node_socketio.js, socket.io from tests/bench/package.json) and
# python-socketio on aiohttp (../shared/bench/servers/py_socketio_aiohttp.py). Each run
# lasts about a second; every report must pass the schema check, count operations and no
# error, and carry the server's CPU and RSS (found from the listening port). No timing is
# asserted. Under a minute. Skipped (77) after the rtio part when ../shared is missing.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
start=$(date +%s)
OUT="$ARTIFACTS/bench-tool"
mkdir -p "$OUT"
SERVER_PID=""
trap '[[ -n $SERVER_PID ]] && kill $SERVER_PID 2>/dev/null; wait 2>/dev/null' EXIT

# start_server NAME CMD...: start CMD (it takes the port as its last argument) on a free
# port, wait until it accepts; sets PORT and SERVER_PID
start_server() {
  local name=$1; shift
  PORT=$(free_port)
  "$@" "$PORT" >"$OUT/$name-server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 150); do
    "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.5).close()" \
      2>/dev/null && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: the $name server did not start"; cat "$OUT/$name-server.log"; return 1
}

stop_server() { kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""; }

failures=0
# bench NAME SCENARIO TRANSPORT [ARGS...]: one short run, its report checked
bench() {
  local name=$1 scenario=$2 transport=$3; shift 3
  local report="$OUT/$name-$scenario-$transport.json"
  timeout 60 "$PY" -m rtio bench "http://127.0.0.1:$PORT" --scenario "$scenario" \
    --transport "$transport" --duration 1 --warmup 0.3 --settle 0.5 --json "$report" "$@" \
    >"$OUT/$name-$scenario-$transport.log" 2>&1
  local rc=$?
  if "$PY" - "$report" "$SERVER_PID" "$rc" <<'PYEOF'; then
import json, sys
from rtio.bench import validate_report
path, pid, rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
try:
    report = json.load(open(path))
except (OSError, ValueError) as exc:
    sys.exit(f"no report ({exc}), exit status {rc}")
problems = validate_report(report)
s = report["summary"]
if rc != 0: problems.append(f"exit status {rc}")
if s["errors"]: problems.append(f"errors {report['errors']}")
if s["operations"] <= 0: problems.append("no operation counted")
if report["target"]["server_pid"] != pid or report["server"] is None:
    problems.append(f"server not probed (pid {report['target']['server_pid']}, expected {pid})")
lat = s["latency_ms"] if s["latency_ms"]["count"] else s["handshake_ms"]
print(f"  {report['scenario']['name']:13} {report['scenario']['params']['transport']:9} "
      f"ops {s['operations']:6}  {s['throughput_per_s']:10.1f}/s  p50 {lat['p50']} ms "
      f"p99 {lat['p99']} ms  server cpu {report['server'] and report['server']['cpu_pct']}%")
if problems:
    sys.exit("; ".join(problems))
PYEOF
    :
  else
    echo "FAIL: $name $scenario $transport (log: $OUT/$name-$scenario-$transport.log)"
    tail -5 "$OUT/$name-$scenario-$transport.log"
    failures=$((failures + 1))
  fi
}

all_scenarios() {
  bench "$1" echo websocket --clients 20
  bench "$1" echo polling --clients 10
  bench "$1" fanout websocket --clients 50
  bench "$1" connect-storm websocket --clients 5
  bench "$1" idle websocket --clients 200
}

echo "rtio (benchmarks/server.py):"
start_server rtio "$PY" benchmarks/server.py || exit 1
all_scenarios rtio
stop_server

if [[ -z $SHARED || ! -e "$SHARED/bench/servers/node_socketio.js" ]]; then
  echo "rtio bench stage: $(( $(date +%s) - start )) s, $failures failure(s) against rtio"
  ((failures == 0)) || exit 1
  need_shared bench/servers/node_socketio.js "the bench servers (Node socket.io, python-socketio)"
fi

lock_sha="$(sha256sum <tests/bench/package-lock.json | cut -c1-64)"
if [[ "$(cat tests/bench/node_modules/.rtio-lock-sha256 2>/dev/null)" != "$lock_sha" ]]; then
  (cd tests/bench && npm ci --no-audit --no-fund --loglevel=error) || exit 1
  echo "$lock_sha" >tests/bench/node_modules/.rtio-lock-sha256
fi

echo "Node socket.io 4.8 (../shared/bench/servers/node_socketio.js):"
NODE_PATH="$ROOT/tests/bench/node_modules" start_server node \
  node "$SHARED/bench/servers/node_socketio.js" || exit 1
all_scenarios node
stop_server

echo "python-socketio on aiohttp (../shared/bench/servers/py_socketio_aiohttp.py):"
start_server python-socketio "$PY" "$SHARED/bench/servers/py_socketio_aiohttp.py" || exit 1
bench python-socketio echo websocket --clients 20
bench python-socketio fanout websocket --clients 50
bench python-socketio connect-storm websocket --clients 5
stop_server

echo "rtio bench stage: $(( $(date +%s) - start )) s, $failures failure(s)"
((failures == 0))
