"""The same small Socket.IO app on the three servers rtio.client is tested against: rtio,
python-socketio's AsyncServer (here) and Node socket.io 4.8 (node_server.mjs).

Namespaces ``/`` (a middleware refuses ``auth.token == "bad"`` with data) and ``/admin``
(only ``auth.role == "admin"``). Events, acknowledged with the handler's return value:

- ``echo(*args)`` -> the same arguments (binary nested anywhere comes back as binary)
- ``whoami()`` -> ``{id, nsp, auth}``
- ``ask({event, args, timeout})``: the server emits ``event`` to this client asking for an
  ack -> ``{"answer": [...]}`` or ``{"error": "timeout"}``
- ``join(room)`` -> true; ``to_room({room, event, args})``: emit to the room -> true
- ``kick()``: the server disconnects this socket
"""

from __future__ import annotations

import asyncio
from typing import Any

import socketio

import rtio
from rtio.socketio.parsers import MsgpackParser

PING_INTERVAL = 0.5
PING_TIMEOUT = 0.4


def make_rtio_server(parser: str = "json", **options: Any) -> rtio.Server:
    sio = rtio.Server(
        ping_interval=options.pop("ping_interval", PING_INTERVAL),
        ping_timeout=options.pop("ping_timeout", PING_TIMEOUT),
        parser=MsgpackParser() if parser == "msgpack" else None,
        **options,
    )
    admin = sio.of("/admin")

    @sio.use
    def check_token(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        if auth.get("token") == "bad":
            raise rtio.ConnectionRefused("invalid token", data={"code": 401})

    @admin.use
    def only_admins(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        if auth.get("role") != "admin":
            raise rtio.ConnectionRefused("admins only", data={"role": auth.get("role")})

    for nsp in (sio.main, admin):

        @nsp.on("echo")
        def echo(socket: rtio.Socket, *args: Any) -> tuple[Any, ...]:
            return args

        @nsp.on("whoami")
        def whoami(socket: rtio.Socket) -> dict[str, Any]:
            return {"id": socket.id, "nsp": socket.nsp.name, "auth": socket.handshake.auth}

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
        async def join(socket: rtio.Socket, room: str) -> bool:
            await socket.join(room)
            return True

        @nsp.on("to_room")
        async def to_room(socket: rtio.Socket, req: dict[str, Any]) -> bool:
            await socket.nsp.to(req["room"]).emit(req["event"], *req.get("args", []))
            return True

        @nsp.on("kick")
        def kick(socket: rtio.Socket) -> None:
            socket.disconnect()

    return sio


def make_python_socketio_server(parser: str = "json") -> socketio.AsyncServer:
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        serializer="msgpack" if parser == "msgpack" else "default",
        ping_interval=1,
        ping_timeout=1,
    )
    auths: dict[tuple[str, str], Any] = {}

    for nsp in ("/", "/admin"):

        def register(nsp: str) -> None:
            @sio.on("connect", namespace=nsp)
            async def connect(sid: str, environ: Any, auth: Any = None) -> None:
                auth = auth or {}
                if nsp == "/" and auth.get("token") == "bad":
                    raise socketio.exceptions.ConnectionRefusedError("invalid token", {"code": 401})
                if nsp == "/admin" and auth.get("role") != "admin":
                    raise socketio.exceptions.ConnectionRefusedError(
                        "admins only", {"role": auth.get("role")}
                    )
                auths[(nsp, sid)] = auth

            @sio.on("echo", namespace=nsp)
            async def echo(sid: str, *args: Any) -> tuple[Any, ...]:
                return args

            @sio.on("whoami", namespace=nsp)
            async def whoami(sid: str) -> dict[str, Any]:
                return {"id": sid, "nsp": nsp, "auth": auths.get((nsp, sid))}

            @sio.on("ask", namespace=nsp)
            async def ask(sid: str, req: dict[str, Any]) -> dict[str, Any]:
                try:
                    answer = await sio.call(
                        req["event"],
                        tuple(req.get("args", [])),
                        to=sid,
                        namespace=nsp,
                        timeout=req.get("timeout", 2),
                    )
                except socketio.exceptions.TimeoutError:
                    return {"error": "timeout"}
                if not isinstance(answer, tuple):
                    answer = () if answer is None else (answer,)
                return {"answer": list(answer)}

            @sio.on("join", namespace=nsp)
            async def join(sid: str, room: str) -> bool:
                await sio.enter_room(sid, room, namespace=nsp)
                return True

            @sio.on("to_room", namespace=nsp)
            async def to_room(sid: str, req: dict[str, Any]) -> bool:
                await sio.emit(
                    req["event"], tuple(req.get("args", [])), room=req["room"], namespace=nsp
                )
                return True

            @sio.on("kick", namespace=nsp)
            async def kick(sid: str) -> None:
                asyncio.get_running_loop().call_soon(
                    lambda: asyncio.ensure_future(sio.disconnect(sid, namespace=nsp))
                )

        register(nsp)
    return sio
