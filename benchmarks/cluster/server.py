"""One rtio node of the cluster benchmarks (benchmarks/cluster/bench.py): the bench server
contract's ``join`` and ``bcast`` (../../../shared/bench/README.md), joined to the others
through Redis, plus ``fetch`` and ``stats``.

    python benchmarks/cluster/server.py PORT REDIS_PORT classic|sharded

    join(room)                -> join room, ack room
    bcast(room, count, data)  -> emit "msg" data to room (the whole cluster), count times;
                                 ack count
    fetch(reps)               -> fetch_sockets() of the cluster reps times in a row; ack
                                 {"n": sockets found, "ms": [latency of each]}
    stats()                   -> ack {"received", "skipped"} (broadcasts from other nodes)

uvloop when installed; rtio's HTTP front. The process is the server (bench.py reads its CPU
from /proc/<pid>/stat). Prints "ready" once connected to Redis.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import rtio
from rtio.cluster.redis import LinkOptions, RedisAdapterOptions, RedisCluster
from rtio.cluster.redis.sharded import ShardedRedisCluster


def main() -> None:
    port, redis_port, wire = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    cls = ShardedRedisCluster if wire == "sharded" else RedisCluster
    cluster = cls(
        link=LinkOptions(port=redis_port),
        options=RedisAdapterOptions(requests_timeout=10.0),
        name=f"bench-{port}",
    )
    sio = rtio.Server(adapter=cluster, cors_allowed_origins="*")

    @sio.on("join")
    def join(socket: rtio.Socket, room: str) -> str:
        socket.join(room)
        return room

    @sio.on("bcast")
    def bcast(socket: rtio.Socket, room: str, count: int, payload: Any) -> int:
        to_room = sio.to(room)
        for _ in range(count):
            to_room.emit("msg", payload)
        return count

    @sio.on("fetch")
    async def fetch(socket: rtio.Socket, reps: int) -> dict[str, Any]:
        ms = []
        n = 0
        for _ in range(reps):
            started = time.perf_counter()
            n = len(await sio.fetch_sockets())
            ms.append((time.perf_counter() - started) * 1000)
        return {"n": n, "ms": ms}

    @sio.on("stats")
    def stats(socket: rtio.Socket) -> dict[str, int]:
        adapter: Any = sio.main.adapter
        return {"received": adapter.received, "skipped": adapter.skipped}

    app = sio.make_app()
    cluster.attach(app)
    profile_dir = os.environ.get("RTIO_BENCH_PROFILE")  # a cProfile dump per server
    if profile_dir:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()

        async def dump(_app: Any) -> None:
            profiler.disable()
            profiler.dump_stats(f"{profile_dir}/server-{port}.prof")

        app.on_shutdown.append(dump)

    async def ready(_app: Any) -> None:
        print("ready", flush=True)

    app.on_startup.append(ready)
    rtio.run_app(app, host="127.0.0.1", port=port, backlog=1024, access_log=None, print=None)


if __name__ == "__main__":
    main()
