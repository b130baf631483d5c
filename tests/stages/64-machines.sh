#!/usr/bin/env bash
# Several machines behind a load balancer with no affinity (rtio.workers.forward, issue 15):
# a real redis-server, two `rtio serve workers_app:make_app --workers 2` servers with the
# Redis adapter and forwarding on, a round-robin TCP proxy of the test's own in front.
# tests/node/machines.test.mjs: the npm socket.io-client over polling, websocket and
# upgrade (acks from the session's owner, broadcasts from the other server, no "Session ID
# unknown"); tests/workers/test_machines_*.py: raw Engine.IO requests each on a new
# connection, python-socketio's client, forged hop tokens, the claim and the splice alone.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

if ! command -v redis-server >/dev/null; then
  { apt-get update -qq && apt-get install -y -qq redis-server; } >/dev/null 2>&1 ||
    { echo "redis-server is missing and could not be installed"; exit 1; }
fi
command -v node >/dev/null || { echo "node is missing"; exit 1; }
cd "$ROOT/tests/node"
[[ -d node_modules/socket.io-client ]] || npm ci --no-audit --no-fund --loglevel=error || exit 1
export RTIO_PYTHON="$PY"
status=0
node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$ARTIFACTS/machines-node-client.tap" \
  machines.test.mjs || status=1
cd "$ROOT"
RTIO_REQUIRE_REDIS=1 .venv/bin/pytest tests/workers/test_machines_processes.py \
  tests/workers/test_machines_parts.py -p no:cacheprovider -rs --durations=5 || status=1
exit $status
