#!/usr/bin/env bash
# Connection state recovery across nodes on the wire of @socket.io/redis-streams-adapter
# 0.3.1 (tests/cluster/test_cluster_streams.py, ~15 s): the codec's vectors; two rtio nodes
# (rtio.cluster.redis.streams) on a real redis-server, a client cut on one recovering on the
# other; a mixed cluster with a Node socket.io 4.8 node (the npm redis-streams-adapter,
# tests/cluster/streams/streams_node.mjs): a client of the Node node recovers on the rtio
# node with the events both sent while it was away, then back on the Node node.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

if ! command -v redis-server >/dev/null; then
  { apt-get update -qq && apt-get install -y -qq redis-server; } >/dev/null 2>&1 ||
    { echo "redis-server is missing and could not be installed"; exit 1; }
fi
command -v node >/dev/null || { echo "node is missing"; exit 1; }
cd "$ROOT/tests/cluster/streams"
want="$(sha256sum <package-lock.json | cut -c1-64)"
if [[ "$(cat node_modules/.rtio-lock-sha256 2>/dev/null)" != "$want" ]]; then
  npm ci --no-audit --no-fund --loglevel=error || exit 1
  echo "$want" >node_modules/.rtio-lock-sha256
fi
cd "$ROOT"
RTIO_REQUIRE_REDIS=1 RTIO_REQUIRE_STREAMS_NODE=1 .venv/bin/pytest tests/cluster/test_cluster_streams.py \
  -p no:cacheprovider -rs --durations=5
