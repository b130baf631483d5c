# Sourced by the rtio.asgi stages (42, 48, 52): lib.sh plus the ASGI servers.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ASGI_SERVERS=(uvicorn uvicorn-wsproto hypercorn)

# ensure_asgi_deps: the test dependencies of rtio.asgi (pyproject's dev extra)
ensure_asgi_deps() {
  "$PY" -c "import uvicorn, websockets, wsproto, hypercorn, fastapi" 2>/dev/null \
    || "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check -e "$ROOT[dev]" || return 1
}

# start_asgi_conformance_server SERVER: tests/asgi/conformance_server.py under SERVER on a
# free port; sets SERVER_PORT and SERVER_PID (stopped by stop_asgi_server).
start_asgi_conformance_server() {
  SERVER_PORT=$(free_port)
  "$PY" "$ROOT/tests/asgi/conformance_server.py" --port "$SERVER_PORT" --server "$1" \
    >"$ARTIFACTS/asgi-$1-server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $SERVER_PORT), 0.5).close()" 2>/dev/null && return 0
    kill -0 $SERVER_PID 2>/dev/null || { cat "$ARTIFACTS/asgi-$1-server.log"; return 1; }
    sleep 0.1
  done
  echo "ASGI conformance server ($1) did not start"; return 1
}

stop_asgi_server() { kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null; }

# run_suite_once SUITE EXPECTED LABEL: one run of the official SUITE against SERVER_PORT
run_suite_once() {
  local suite=$1 expected=$2 label=$3 out line
  out=$("$SHARED/protocol-suites/run.sh" "$suite" "http://127.0.0.1:$SERVER_PORT" 2>&1)
  echo "$out" > "$ARTIFACTS/$suite-suite-$label.log"
  line=$(echo "$out" | tail -1)
  echo "$label: $line"
  if [[ $line != "$suite-suite: $expected passed, 0 failed" ]]; then
    echo "$out" | sed -n '/failing/,$p' | head -60
    return 1
  fi
}
