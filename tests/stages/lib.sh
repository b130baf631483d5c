# Sourced by stage scripts: common helpers.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SHARED="${RTIO_SHARED:-$(cd "$ROOT/../shared" 2>/dev/null && pwd || true)}"
PY="$ROOT/.venv/bin/python"
ARTIFACTS="${ARTIFACTS:-$ROOT/artifacts}"
mkdir -p "$ARTIFACTS"

# Exit status of a stage that did not run (scripts/test.sh counts it as skipped, not failed).
SKIPPED=77

# need_shared PATH WHAT: skip this stage (exit $SKIPPED) unless $SHARED/PATH exists. The
# official Engine.IO/Socket.IO protocol suites are not part of this repository (Autobahn's
# harness is: tests/autobahn): they live in a `shared` directory beside
# the clone (../shared) or wherever $RTIO_SHARED points.
need_shared() {
  [[ -n $SHARED && -e "$SHARED/$1" ]] && return 0
  echo "SKIPPED: this stage needs $2 from ../shared/$1, which is not beside this clone."
  echo "  To run it: put the shared conformance directory beside the clone (../shared) or"
  echo "  set RTIO_SHARED=/path/to/shared, then: scripts/test.sh $(basename "$0" .sh)"
  exit $SKIPPED
}

# install_chromium: Debian's chromium, for the stages that drive a headless browser
# (playwright-core with /usr/bin/chromium; Playwright never downloads a browser)
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
install_chromium() {
  [[ -x /usr/bin/chromium ]] && return 0
  echo "installing Debian's chromium"
  as_root apt-get update -qq || return 1
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null || return 1
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start_conformance_server LOGNAME: starts tests/conformance/server.py on a free port in the
# background, waits until it accepts, sets SERVER_PORT and SERVER_PID; stopped on exit.
start_conformance_server() {
  SERVER_PORT=$(free_port)
  "$PY" "$ROOT/tests/conformance/server.py" --port "$SERVER_PORT" >"$ARTIFACTS/$1-server.log" 2>&1 &
  SERVER_PID=$!
  trap 'kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null' EXIT
  for _ in $(seq 100); do
    "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', $SERVER_PORT), 0.5).close()" 2>/dev/null && return 0
    kill -0 $SERVER_PID 2>/dev/null || { cat "$ARTIFACTS/$1-server.log"; return 1; }
    sleep 0.1
  done
  echo "conformance server did not start"; return 1
}

# run_protocol_suite SUITE EXPECTED: the official SUITE (engineio|socketio) of
# $SHARED/protocol-suites against the running conformance server, three runs in a row; each
# run must end "SUITE-suite: EXPECTED passed, 0 failed". Logs go to $ARTIFACTS.
run_protocol_suite() {
  local suite=$1 expected=$2 rc=0 out line
  need_shared protocol-suites/run.sh "the official $suite protocol suite"
  for run in 1 2 3; do
    out=$("$SHARED/protocol-suites/run.sh" "$suite" "http://127.0.0.1:$SERVER_PORT" 2>&1)
    echo "$out" > "$ARTIFACTS/$suite-suite-run$run.log"
    line=$(echo "$out" | tail -1)
    echo "run $run: $line"
    if [[ $line != "$suite-suite: $expected passed, 0 failed" ]]; then
      echo "$out" | sed -n '/failing/,$p' | head -60
      rc=1
    fi
  done
  return $rc
}
