"""The bench server contract (../shared/bench/README.md) on rtio: one process, one port.

    .venv/bin/python benchmarks/server.py [PORT] [--front rtio|aiohttp|uvicorn]
                                                      (PORT else $PORT, else 5000)

``--front rtio`` (the default; else $BENCH_FRONT) listens with rtio's own HTTP/1.1 front
(``rtio.run_app``); ``--front aiohttp`` with aiohttp's ``web.run_app``, to compare;
``--front uvicorn`` serves ``rtio.asgi.App`` under uvicorn with the settings of the bench's
``py-uvicorn`` (python-socketio's ASGIApp: uvloop, httptools, uvicorn's default WebSocket
implementation), so that the two differ only in the Socket.IO server.

Socket.IO at /socket.io/ on 127.0.0.1 (polling and direct WebSocket), pingInterval 25000,
pingTimeout 20000, CORS "*", no permessage-deflate; on the main namespace:

    echo(*args)               -> ack with the same args
    join(room)                -> join room, ack room
    bcast(room, count, data)  -> emit "msg" data to room, count times; ack count

uvloop when it is installed. Exits on SIGTERM. The process that runs
this file is the server (run.sh reads CPU and RSS from its PID): nothing is forked.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for `import rtio`

import rtio


def make_server() -> rtio.Server:
    # $RTIO_MAX_HANDSHAKE_RATE: admission control on (new sessions per second), for the
    # reconnect-storm measurement of docs/OPERATIONS.md; not part of the bench contract
    rate = os.environ.get("RTIO_MAX_HANDSHAKE_RATE")
    sio = rtio.Server(
        cors_allowed_origins="*",
        ping_interval=25.0,
        ping_timeout=20.0,
        max_handshake_rate=float(rate) if rate else None,
    )

    @sio.on("echo")
    def echo(socket: rtio.Socket, *args: Any) -> tuple[Any, ...]:
        return args  # a tuple answers the ack with these args, in order

    @sio.on("join")
    def join(socket: rtio.Socket, room: str) -> str:
        socket.join(room)
        return room

    @sio.on("bcast")
    def bcast(socket: rtio.Socket, room: str, count: int, payload: Any) -> int:
        to_room = sio.to(room)
        for _ in range(count):
            to_room.emit("msg", payload)  # queued at once; nothing to await
        return count

    return sio


def main() -> None:
    args = [a for a in sys.argv[1:] if a.isdigit()]
    port = int(args[0]) if args else int(os.environ.get("PORT", "5000"))
    front = os.environ.get("BENCH_FRONT", "rtio")
    if "--front" in sys.argv:
        front = sys.argv[sys.argv.index("--front") + 1]
    if front not in ("rtio", "aiohttp", "uvicorn"):
        sys.exit(f"--front rtio|aiohttp|uvicorn, not {front!r}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    loop_name = "asyncio"
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        loop_name = "uvloop"
    except ImportError:
        pass
    if front == "uvicorn":
        import uvicorn

        from rtio.asgi import App as AsgiApp  # not `import rtio.asgi`: rtio would be local

        print(
            f"rtio bench server on 127.0.0.1:{port} pid {os.getpid()} uvloop front uvicorn",
            flush=True,
        )
        uvicorn.run(
            AsgiApp(make_server()),
            host="127.0.0.1",
            port=port,
            loop="uvloop",
            http="httptools",
            log_level="warning",
            access_log=False,
            backlog=1024,
        )
        return
    app = make_server().make_app()
    print(
        f"rtio bench server on 127.0.0.1:{port} pid {os.getpid()} {loop_name} front {front}",
        flush=True,
    )
    if front == "rtio":
        rtio.run_app(app, host="127.0.0.1", port=port, backlog=1024, access_log=None, print=None)
    else:
        web.run_app(app, host="127.0.0.1", port=port, backlog=1024, access_log=None, print=None)


if __name__ == "__main__":
    main()
