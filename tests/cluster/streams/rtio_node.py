"""An rtio node with the Redis Streams adapter as a process, for the test of a node killed
with SIGKILL (tests/cluster/test_cluster_streams.py): the app of that test's RtioNode, with
``StreamsOptions(save_ahead=0.5)``.

    python tests/cluster/streams/rtio_node.py <redis port>

Prints ``{"event": "listening", "port": N}`` once it accepts connections.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from aiohttp import web

import rtio
from rtio.cluster.redis.link import LinkOptions
from rtio.cluster.redis.streams import RedisStreamsCluster
from rtio.cluster.streams import StreamsOptions


async def main() -> None:
    cluster = RedisStreamsCluster(
        link=LinkOptions(port=int(sys.argv[1])),
        options=StreamsOptions(block_time=1.0, save_ahead=0.5),
    )
    sio = rtio.Server(connect_timeout=None, adapter=cluster, connection_state_recovery=True)

    @sio.on("connect")
    def connect(socket: rtio.Socket, auth: Any) -> None:
        if not socket.recovered:
            socket.data = {"node": "killed"}
            socket.emit("welcome", socket.id)

    @sio.on("join")
    def join(socket: rtio.Socket, room: str) -> list[str]:
        socket.join(room)
        return sorted(socket.rooms)

    app = sio.make_app()
    cluster.attach(app)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(json.dumps({"event": "listening", "port": runner.addresses[0][1]}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
