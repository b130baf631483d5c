#!/usr/bin/env bash
# The unit tests of every layer (pytest; about a minute), with branch coverage per module,
# then the sans-I/O cores apart: each at 95% or more (issue 13), else the stage fails
# naming the ones below.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
.venv/bin/pytest tests -q -p no:cacheprovider --cov --cov-report=term
rc=$?

# the pure modules: bytes, strings and `now` in, decisions out (docs/ARCHITECTURE.md)
CORES=(
  rtio/ws/frames.py rtio/ws/handshake.py rtio/ws/deflate.py rtio/ws/utf8.py rtio/ws/protocol.py
  rtio/engine/packet.py rtio/engine/session.py rtio/engine/handshake.py rtio/engine/queue.py
  rtio/engine/cors.py rtio/engine/admission.py
  rtio/http/parser.py rtio/http/deadlines.py rtio/http/response.py
  rtio/socketio/core.py rtio/socketio/packet.py rtio/socketio/parsers/base.py
  rtio/socketio/parsers/json_parser.py rtio/socketio/parsers/msgpack_parser.py
  rtio/socketio/parsers/msgpack_reader.py
  rtio/client/engine_core.py rtio/client/acks.py rtio/client/backoff.py
  rtio/cluster/wire.py rtio/cluster/messages.py rtio/cluster/classic.py
  rtio/cluster/sharded.py rtio/cluster/emitter.py rtio/cluster/redis/policy.py
)
if [[ -f .coverage ]]; then
  include=$(IFS=,; echo "${CORES[*]}")
  echo
  echo "sans-I/O cores (branch coverage; the goal: 95% or more each)"
  .venv/bin/coverage report --include="$include" --sort=cover || true
  .venv/bin/coverage json -q --include="$include" -o "$ARTIFACTS/coverage-cores.json" || true
  "$PY" - "$ARTIFACTS/coverage-cores.json" <<'PY' || rc=1
import json, sys
files = json.load(open(sys.argv[1]))["files"]
low = sorted((f["summary"]["percent_covered"], name) for name, f in files.items())
low = [(p, n) for p, n in low if p < 95]
print("cores under 95%: " + (", ".join(f"{n} {p:.1f}%" for p, n in low) or "none"))
sys.exit(1 if low else 0)
PY
fi
exit $rc
