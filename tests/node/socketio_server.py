"""The rtio server the Node and Python client integration tests talk to.

    python tests/node/socketio_server.py [--port 0] [--host 127.0.0.1]

Prints ``listening PORT`` once it accepts connections, then one JSON line per socket event
the tests check from the outside (``{"event": "disconnect", "nsp", "sid", "reason"}``),
so a test can see server-side reasons even across a restart. Written against rtio's public
API only, like an application would be.

Namespaces: ``/`` (a middleware refuses ``auth.token == "bad"`` with data), ``/admin``
(only ``auth.role == "admin"``), and any ``/dyn-<n>`` (a parent namespace). Events, all
acknowledged with the handler's return value:

- ``echo(*args)`` -> the same arguments (binary nested anywhere comes back as binary)
- ``whoami()`` -> ``{id, nsp, auth, transport, rooms, name}``
- ``ask({event, args, timeout})``: the server emits ``event`` to this client asking for an
  ack -> ``{"answer": [...]}`` or ``{"error": "timeout"}``
- ``join(rooms)`` / ``leave(room)`` -> the socket's rooms
- ``broadcast({event, args, rooms, except, self, volatile, nsp})``: emit to rooms (all if
  none), leaving out rooms/ids in ``except``; ``self`` false excludes the sender
- ``poll({rooms, event, args, timeout})``: a broadcast with acks -> ``{answers, timedOut}``
- ``kick({close})``: the server disconnects this socket (``close``: the connection too)
- ``server-wide({op, rooms, room})``: fetch_sockets / sockets_join / sockets_leave /
  disconnect_sockets on the sockets in ``rooms``
- ``sleep(seconds)`` then ack: ordering checks
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
from typing import Any

from aiohttp import web

import rtio
from rtio.engine.aiohttp_front import drain_in_flight
from rtio.http import FrontSite


def out(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def make_server() -> rtio.Server:
    sio = rtio.Server(
        cors_allowed_origins="*",
        ping_interval=0.5,
        ping_timeout=0.4,
        connect_timeout=2.0,
    )
    dyn = sio.of(re.compile(r"/dyn-\d+"))
    admin = sio.of("/admin")

    @sio.use
    async def check_token(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        if auth.get("token") == "bad":
            raise rtio.ConnectionRefused("invalid token", data={"code": 401, "hint": "retry"})
        socket.data["name"] = auth.get("name")

    @admin.use
    def only_admins(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        if auth.get("role") != "admin":
            raise rtio.ConnectionRefused("admins only", data={"role": auth.get("role")})

    for nsp in (sio.main, admin, dyn):
        register(sio, nsp)
    return sio


def register(sio: rtio.Server, nsp: Any) -> None:
    @nsp.on("connect")
    async def connect(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        out(event="connect", nsp=socket.nsp.name, sid=socket.id, auth=auth)

    @nsp.on("disconnecting")
    async def disconnecting(socket: rtio.Socket, reason: str) -> None:
        out(
            event="disconnecting",
            nsp=socket.nsp.name,
            sid=socket.id,
            reason=str(reason),
            rooms=sorted(socket.rooms),
        )

    @nsp.on("disconnect")
    async def disconnect(socket: rtio.Socket, reason: str) -> None:
        out(event="disconnect", nsp=socket.nsp.name, sid=socket.id, reason=str(reason))

    @nsp.on("echo")
    async def echo(socket: rtio.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @nsp.on("whoami")
    async def whoami(socket: rtio.Socket) -> dict[str, Any]:
        return {
            "id": socket.id,
            "nsp": socket.nsp.name,
            "auth": socket.handshake.auth,
            "transport": socket.transport,
            "rooms": sorted(socket.rooms),
            "name": socket.data.get("name"),
        }

    @nsp.on("ask")
    async def ask(socket: rtio.Socket, req: dict[str, Any]) -> dict[str, Any]:
        try:
            answer = await socket.timeout(req.get("timeout", 2)).emit_with_ack(
                req["event"], *req.get("args", [])
            )
        except rtio.AckTimeout:
            return {"error": "timeout"}
        if not isinstance(answer, tuple):
            answer = () if answer is None else (answer,)
        return {"answer": list(answer)}

    @nsp.on("join")
    async def join(socket: rtio.Socket, rooms: str | list[str]) -> list[str]:
        await socket.join(rooms)
        return sorted(socket.rooms)

    @nsp.on("leave")
    async def leave(socket: rtio.Socket, room: str) -> list[str]:
        await socket.leave(room)
        return sorted(socket.rooms)

    @nsp.on("broadcast")
    async def broadcast(socket: rtio.Socket, req: dict[str, Any]) -> bool:
        op = socket.nsp if req.get("self", True) else socket.broadcast
        target: Any = op
        for room in req.get("rooms", []):
            target = target.to(room)
        for room in req.get("except", []):
            target = target.except_(room)
        if req.get("volatile"):
            target = target.volatile
        await target.emit(req["event"], *req.get("args", []))
        return True

    @nsp.on("poll")
    async def poll(socket: rtio.Socket, req: dict[str, Any]) -> dict[str, Any]:
        target: Any = socket.nsp
        for room in req.get("rooms", []):
            target = target.to(room)
        results = await target.timeout(req["timeout"]).emit_with_ack(
            req["event"], *req.get("args", [])
        )
        return {"answers": dict(results), "timedOut": sorted(results.timed_out)}

    @nsp.on("kick")
    async def kick(socket: rtio.Socket, req: dict[str, Any]) -> None:
        socket.disconnect(close=bool(req.get("close")))

    @nsp.on("server-wide")
    async def server_wide(socket: rtio.Socket, req: dict[str, Any]) -> Any:
        target: Any = socket.nsp
        for room in req.get("rooms", []):
            target = target.in_(room)
        op = req["op"]
        if op == "fetch_sockets":
            return sorted(s.id for s in await target.fetch_sockets())
        if op == "sockets_join":
            await target.sockets_join(req["room"])
        elif op == "sockets_leave":
            await target.sockets_leave(req["room"])
        elif op == "disconnect_sockets":
            await target.disconnect_sockets(bool(req.get("close")))
        return True

    @nsp.on("sleep")
    async def sleep(socket: rtio.Socket, seconds: float, tag: Any) -> Any:
        await asyncio.sleep(seconds)
        return tag


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sio = make_server()
    app = sio.make_app()
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    # RTIO_FRONT=rtio: rtio's own HTTP/1.1 front (rtio.http) instead of aiohttp's
    site_type = FrontSite if os.environ.get("RTIO_FRONT") == "rtio" else web.TCPSite
    site = site_type(runner, args.host, args.port, reuse_address=True)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    out(event="listening", port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # as rtio.run_app does (rtio/run.py): the handlers at work finish while it listens
    await drain_in_flight(app)
    await runner.cleanup()  # runs the app's shutdown: every client gets a close packet
    out(event="stopped")


def main_workers(workers: int) -> None:
    """RTIO_WORKERS=N: the same server with N worker processes (rtio.run_app's workers)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    port = args.port
    if not port:
        import socket

        with socket.socket() as probe:
            probe.bind((args.host, 0))
            port = probe.getsockname()[1]
    rtio.run_app(make_server(), host=args.host, port=port, workers=workers,
                 print=lambda _text: out(event="listening", port=port))  # fmt: skip
    out(event="stopped")


if __name__ == "__main__":
    if int(os.environ.get("RTIO_WORKERS", "1")) > 1:
        main_workers(int(os.environ["RTIO_WORKERS"]))
    else:
        asyncio.run(main())
