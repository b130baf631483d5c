"""The app the worker tests serve with ``rtio serve workers_app:sio --workers N``.

Events (acknowledged with the handler's return value): ``whoami()`` -> the worker's pid;
``join(room)``; ``shout(room, msg)``: ``heard(msg)`` to the room (every socket if room is
None); ``count(room)`` -> how many sockets ``fetch_sockets`` finds (in room, or all);
``kick_room(room)``: disconnect the sockets of a room, wherever they are; ``poll(room)``:
emit_with_ack("question") to the room (all if None) -> {answers: {sid: answer}, timed_out}.
The environment chooses Redis instead of the local bus (RTIO_TEST_REDIS_URL) and uvloop
(RTIO_TEST_UVLOOP).
"""

from __future__ import annotations

import os
from typing import Any

from aiohttp import web

import rtio

# RTIO_TEST_UVLOOP: the workers run on uvloop, as an app that sets its policy on import does
# (uvloop's transports are not asyncio.Transport subclasses: the bus once asserted they were)
if os.environ.get("RTIO_TEST_UVLOOP"):
    import asyncio

    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

# RTIO_TEST_REDIS_URL: the workers meet through Redis instead of the local bus (the cluster
# is made here, before the fork, as an app written for one process would)
if os.environ.get("RTIO_TEST_REDIS_URL"):
    from rtio.cluster.redis import RedisAdapter

    cluster: Any = RedisAdapter.factory(url=os.environ["RTIO_TEST_REDIS_URL"])
    sio = rtio.Server(ping_interval=2.0, ping_timeout=2.0, adapter=cluster)
else:
    cluster = None
    sio = rtio.Server(ping_interval=2.0, ping_timeout=2.0)


def make_app() -> web.Application:
    """``rtio serve workers_app:make_app``: the app, with the Redis cluster attached."""
    app = sio.make_app()
    if cluster is not None:
        cluster.attach(app)
        # RTIO_TEST_FORWARD_ADDRESS: several machines, no affinity (tests/workers/
        # test_machines_processes.py): forward requests of other machines' sessions
        if os.environ.get("RTIO_TEST_FORWARD_ADDRESS"):
            from rtio.workers import Forwarding

            Forwarding(cluster, address=os.environ["RTIO_TEST_FORWARD_ADDRESS"],
                       secret=os.environ["RTIO_TEST_FORWARD_SECRET"]).attach(app)  # fmt: skip
    return app


@sio.on("whoami")
def whoami(socket: rtio.Socket) -> int:
    return os.getpid()


@sio.on("join")
def join(socket: rtio.Socket, room: str) -> bool:
    socket.join(room)
    return True


@sio.on("shout")
def shout(socket: rtio.Socket, room: str | None, msg: Any) -> bool:
    (sio.to(room) if room else sio).emit("heard", msg)
    return True


@sio.on("count")
async def count(socket: rtio.Socket, room: str | None = None) -> int:
    target = sio.in_(room) if room else sio
    return len(await target.fetch_sockets())


@sio.on("kick_room")
def kick_room(socket: rtio.Socket, room: str) -> bool:
    sio.in_(room).disconnect_sockets()
    return True


@sio.on("poll")
async def poll(socket: rtio.Socket, room: str | None = None) -> dict[str, Any]:
    """Ask every socket (of ``room``) a "question" with a 5 s timeout: their answers by
    socket id, and the ids that did not answer."""
    target = sio.to(room) if room else sio
    results = await target.timeout(5.0).emit_with_ack("question")
    return {"answers": dict(results), "timed_out": sorted(results.timed_out)}
