"""The rtio server of the connection state recovery tests (tests/node/recovery.test.mjs):
``connection_state_recovery`` on, short heartbeats so that a dropped polling client is seen
quickly.

    python tests/node/recovery_server.py [--port 0] [--max-duration 120]

RTIO_WORKERS=N: the same server with N worker processes (``rtio.run_app(workers=N)``:
recovery then spans the workers, rtio/workers/restore.py).

Prints ``{"event": "listening", "port": N}`` once it accepts connections,
``{"event": "connect", "sid", "recovered"}`` for each socket that connects and
``{"event": "disconnect", "sid", "reason"}`` for each that leaves. Written against rtio's
public API only, like an application would be.

Events, all acknowledged with the handler's return value:

- ``join(room)`` -> the socket's rooms
- ``whoami()`` -> ``{id, rooms, data, recovered}``
- ``send({to, except, event, args, volatile})``: the server emits ``event`` to the rooms
  ``to`` (all when empty) except the rooms ``except`` -> True
- ``send_ack({event, args})``: the server emits to every socket asking for acks (0.5 s)
- ``send_self({event, args})``: the server emits to this socket -> True

A new socket gets ``data = {"n": <its connect number>}`` and a ``welcome`` event (its id),
a recovered one neither: the handler does not redo the first connection's work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
from typing import Any

from aiohttp import web

import rtio


def out(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def make_server(max_duration: float) -> rtio.Server:
    sio = rtio.Server(
        cors_allowed_origins="*",
        ping_interval=1.0,
        ping_timeout=1.0,
        connection_state_recovery={"max_disconnection_duration": max_duration},
    )
    connects = 0

    @sio.on("connect")
    def connect(socket: rtio.Socket, auth: Any) -> None:
        nonlocal connects
        connects += 1
        out(event="connect", sid=socket.id, recovered=socket.recovered)
        if not socket.recovered:
            socket.data["n"] = connects
            socket.emit("welcome", socket.id)

    @sio.on("disconnect")
    def disconnect(socket: rtio.Socket, reason: Any) -> None:
        out(event="disconnect", sid=socket.id, reason=str(reason))

    @sio.on("join")
    def join(socket: rtio.Socket, room: str) -> list[str]:
        socket.join(room)
        return sorted(socket.rooms)

    @sio.on("whoami")
    def whoami(socket: rtio.Socket) -> dict[str, Any]:
        return {
            "id": socket.id,
            "rooms": sorted(socket.rooms),
            "data": socket.data,
            "recovered": socket.recovered,
        }

    @sio.on("send")
    def send(socket: rtio.Socket, req: dict[str, Any]) -> bool:
        op: Any = sio
        for room in req.get("to", ()):
            op = op.to(room)
        for room in req.get("except", ()):
            op = op.except_(room)
        if req.get("volatile"):
            op = op.volatile
        op.emit(req["event"], *req.get("args", ()))
        return True

    @sio.on("send_ack")
    async def send_ack(socket: rtio.Socket, req: dict[str, Any]) -> int:
        results = await sio.timeout(0.5).emit_with_ack(req["event"], *req.get("args", ()))
        return len(results)

    @sio.on("send_self")
    def send_self(socket: rtio.Socket, req: dict[str, Any]) -> bool:
        socket.emit(req["event"], *req.get("args", ()))
        return True

    return sio


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--max-duration", type=float, default=120.0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    runner = web.AppRunner(make_server(args.max_duration).make_app(), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, reuse_address=True)
    await site.start()
    out(event="listening", port=runner.addresses[0][1])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main_workers(workers: int) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--max-duration", type=float, default=120.0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    port = args.port
    if not port:
        with socket.socket() as probe:
            probe.bind((args.host, 0))
            port = probe.getsockname()[1]
    rtio.run_app(make_server(args.max_duration), host=args.host, port=port, workers=workers,
                 print=lambda _text: out(event="listening", port=port))  # fmt: skip


if __name__ == "__main__":
    if int(os.environ.get("RTIO_WORKERS", "1")) > 1:
        main_workers(int(os.environ["RTIO_WORKERS"]))
    else:
        asyncio.run(main())
