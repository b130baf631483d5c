"""The rtio server of the recovery benchmark (benchmarks/cluster/bench_recovery_node.py):
connection state recovery on or off, in memory or on the Redis Streams adapter.

    python benchmarks/cluster/recovery_server.py PORT memory|streams on|off [REDIS_PORT]

    join(room)             -> join room, ack the socket's rooms
    burst(count, payload)  -> emit "msg" payload to every socket, count times; ack count

The streams adapter keeps up to 200,000 entries and reads up to 200,000 in a restore (the
benchmark fills the stream with 100,000). uvloop when installed. Prints "ready" once it
listens; the process is the server (the benchmark reads its CPU from /proc/<pid>/stat).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import rtio
from rtio.cluster.redis.link import LinkOptions
from rtio.cluster.redis.streams import RedisStreamsCluster
from rtio.cluster.streams import StreamsOptions


def main() -> None:
    port, mode, recovery = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "on"
    if mode not in ("memory", "streams"):
        raise SystemExit(f"mode must be memory or streams, not {mode!r}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    cluster = None
    if mode == "streams":
        options = StreamsOptions(max_len=200_000, restore_max_entries=200_000)
        cluster = RedisStreamsCluster(link=LinkOptions(port=int(sys.argv[4])), options=options)
    kwargs: dict[str, Any] = {"adapter": cluster} if cluster is not None else {}
    sio = rtio.Server(
        cors_allowed_origins="*",
        connection_state_recovery={"max_disconnection_duration": 120.0} if recovery else None,
        **kwargs,
    )

    @sio.on("join")
    def join(socket: rtio.Socket, room: str) -> list[str]:
        socket.join(room)
        return sorted(socket.rooms)

    @sio.on("burst")
    def burst(socket: rtio.Socket, count: int, payload: Any) -> int:
        for _ in range(count):
            sio.emit("msg", payload)
        return count

    app = sio.make_app()
    if cluster is not None:
        cluster.attach(app)

    async def ready(_app: Any) -> None:
        print("ready", flush=True)

    app.on_startup.append(ready)
    rtio.run_app(app, host="127.0.0.1", port=port, backlog=1024, access_log=None, print=None)


if __name__ == "__main__":
    main()
