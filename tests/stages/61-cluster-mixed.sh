#!/usr/bin/env bash
# Mixed clusters on the Redis wires: two rtio nodes (rtio.cluster.redis.adapter) and
# one Node socket.io 4.8 node (@socket.io/redis-adapter 8.3) on one real redis-server, with
# real socket.io-client 4.8 clients on every node: broadcasts (rooms, except, local,
# volatile, binary), fetchSockets and remote sockets, socketsJoin / socketsLeave /
# disconnectSockets, serverSideEmit with and without acks, broadcasts with acks, server
# count, all rooms, each from an rtio node and from the Node node; Node's emitter and
# rtio's emitter against all three; a node stalled, then killed, while a fetch is pending;
# Redis killed and restarted mid-run (nothing crashes, the outage buffer replays, broadcasts
# flow again from every node).
# The same again on the sharded wire (ShardedRedisCluster, createShardedAdapter: SSUBSCRIBE /
# SPUBLISH, dynamic room channels; the emitters do not reach it). Also the in-process
# adapter tests (tests/cluster/test_cluster_adapter.py, test_cluster_sharded.py). ~2 minutes.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

command -v redis-server >/dev/null || { echo "redis-server is missing (stage 60 installs it)"; exit 1; }
command -v node >/dev/null || { echo "node is missing"; exit 1; }
cd "$ROOT/tests/cluster"
want="$(sha256sum <package-lock.json | cut -c1-64)"
if [[ "$(cat node_modules/.rtio-lock-sha256 2>/dev/null)" != "$want" ]]; then
  npm ci --no-audit --no-fund --loglevel=error || exit 1
  echo "$want" >node_modules/.rtio-lock-sha256
fi
cd "$ROOT"
rm -f "$ARTIFACTS"/cluster-mixed-*.log
ARTIFACTS="$ARTIFACTS" RTIO_REQUIRE_REDIS=1 RTIO_CLUSTER_MIXED=1 .venv/bin/pytest \
  tests/cluster/test_cluster_mixed.py tests/cluster/test_cluster_adapter.py \
  tests/cluster/test_cluster_sharded.py \
  -p no:cacheprovider -rs --durations=5
