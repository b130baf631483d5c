#!/usr/bin/env bash
# Several worker processes on one port, no sticky sessions (rtio.workers, issue 15): the npm
# socket.io-client against `rtio serve --workers 2|3|4` (tests/node/workers.test.mjs: many
# polling-only and upgrading clients, each session staying with its worker, broadcasts to
# all), then the whole socket.io-client suite (tests/node/socketio.test.mjs) against
# tests/node/socketio_server.py served with 2 workers (RTIO_WORKERS=2); its "frozen /
# crashed server" tests signal the supervisor, not a serving process, and are skipped.
# Then connection state recovery (tests/node/recovery.test.mjs, ~6 s) against
# tests/node/recovery_server.py with 2 workers: a client comes back to any worker and
# recovers (rtio/workers/restore.py).
# The Python side (python-socketio, raw Engine.IO, restart, SIGTERM) is tests/workers, in
# the unit stage.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT/tests/node"
[[ -d node_modules/socket.io-client ]] || npm ci --no-audit --no-fund --loglevel=error || exit 1
export RTIO_PYTHON="$PY"
status=0
node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$ARTIFACTS/workers-node-client.tap" \
  workers.test.mjs || status=1
RTIO_WORKERS=2 node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$ARTIFACTS/workers-socketio-suite.tap" \
  socketio.test.mjs || status=1
RTIO_WORKERS=2 node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$ARTIFACTS/workers-recovery-node.tap" \
  recovery.test.mjs || status=1
exit $status
