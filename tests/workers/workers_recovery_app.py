"""The app of the recovery-with-workers tests: ``rtio serve workers_recovery_app:sio
--workers N``, connection state recovery on (in memory, the workers' default).

Events (acknowledged with the handler's return value): ``whoami()`` -> {id, worker (the
process id), rooms, data, recovered}; ``join(room)``; ``shout(room, except, msg)``:
``news(msg)`` to ``room`` (all if None) except ``except`` (none if None), from the worker
the caller is on; ``tell(sid, msg)``: ``news(msg)`` to socket ``sid`` only.
RTIO_TEST_PING: the ping interval and timeout (seconds; short for polling clients, whose
drop a server sees only at its heartbeat); RTIO_TEST_DURATION: max_disconnection_duration.
"""

from __future__ import annotations

import os
from typing import Any

import rtio

_ping = float(os.environ.get("RTIO_TEST_PING", "25"))
_duration = float(os.environ.get("RTIO_TEST_DURATION", "120"))
sio = rtio.Server(ping_interval=_ping, ping_timeout=_ping,
                  connection_state_recovery={"max_disconnection_duration": _duration})


@sio.on("connect")
def connect(socket: rtio.Socket, auth: Any) -> None:
    if not socket.recovered:
        socket.data["first_worker"] = os.getpid()
        socket.emit("welcome", socket.id)


@sio.on("whoami")
def whoami(socket: rtio.Socket) -> dict[str, Any]:
    return {
        "id": socket.id,
        "worker": os.getpid(),
        "rooms": sorted(socket.rooms),
        "data": socket.data,
        "recovered": socket.recovered,
    }


@sio.on("join")
def join(socket: rtio.Socket, room: str) -> bool:
    socket.join(room)
    return True


@sio.on("shout")
def shout(socket: rtio.Socket, room: str | None, except_: str | None, msg: Any) -> bool:
    target: Any = sio.to(room) if room else sio
    if except_:
        target = target.except_(except_)
    target.emit("news", msg)
    return True


@sio.on("tell")
def tell(socket: rtio.Socket, sid: str, msg: Any) -> bool:
    sio.to(sid).emit("news", msg)
    return True
