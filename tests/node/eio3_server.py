"""The rtio server of the socket.io-client 2.x tests (tests/node/eio3.test.mjs), with
``allow_eio3=True``; tests/node/eio3_node_server.mjs is the same application on Node's
socket.io 4 with ``allowEIO3: true``, and the tests run against both.

    python tests/node/eio3_server.py [--port 0] [--no-eio3] [--front aiohttp|rtio]

Prints ``{"event": "listening", "port": N}``, then a JSON line per connect and disconnect.
The main namespace refuses a handshake query ``token=bad``; ``/admin`` wants
``role=admin`` (the query of a 2.x client's namespace, its ``auth``). Events, each
acknowledged: ``echo(*args)`` -> the arguments; ``whoami()`` -> ``{id, nsp, auth, token,
transport}``; ``ask({event, args})`` -> the client's ack of ``event``; ``join(room)``;
``broadcast({room, event, args})`` -> to the room, the sender included; ``drop()``: the
server closes the connection (the client reconnects).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from typing import Any

from aiohttp import web

import rtio
from rtio.http import FrontSite


def out(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def make_server(allow_eio3: bool) -> rtio.Server:
    sio = rtio.Server(
        cors_allowed_origins="*",
        ping_interval=0.5,
        ping_timeout=1.0,
        allow_eio3=allow_eio3,
    )
    admin = sio.of("/admin")

    @sio.use
    def check_token(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        if socket.handshake.query.get("token") == "bad":
            raise rtio.ConnectionRefused("invalid token")

    @admin.use
    def only_admins(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        if auth.get("role") != "admin":
            raise rtio.ConnectionRefused("admins only")

    for nsp in (sio.main, admin):
        register(nsp)
    return sio


def register(nsp: Any) -> None:
    @nsp.on("connect")
    def connect(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        out(event="connect", nsp=socket.nsp.name, sid=socket.id)

    @nsp.on("disconnect")
    def disconnect(socket: rtio.Socket, reason: str) -> None:
        out(event="disconnect", nsp=socket.nsp.name, sid=socket.id, reason=str(reason))

    @nsp.on("echo")
    def echo(socket: rtio.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @nsp.on("whoami")
    def whoami(socket: rtio.Socket) -> dict[str, Any]:
        return {
            "id": socket.id,
            "nsp": socket.nsp.name,
            "auth": socket.handshake.auth,
            "token": socket.handshake.query.get("token"),
            "transport": socket.transport,
        }

    @nsp.on("ask")
    async def ask(socket: rtio.Socket, req: dict[str, Any]) -> Any:
        answer = await socket.timeout(3).emit_with_ack(req["event"], *req.get("args", []))
        if not isinstance(answer, tuple):
            answer = () if answer is None else (answer,)
        return list(answer)

    @nsp.on("join")
    async def join(socket: rtio.Socket, room: str) -> bool:
        await socket.join(room)
        return True

    @nsp.on("broadcast")
    async def broadcast(socket: rtio.Socket, req: dict[str, Any]) -> bool:
        await socket.nsp.to(req["room"]).emit(req["event"], *req.get("args", []))
        return True

    @nsp.on("drop")
    def drop(socket: rtio.Socket) -> None:
        # the connection ends under the socket (not a Socket.IO disconnect): the client
        # sees "transport close" and reconnects
        asyncio.get_running_loop().call_later(0.05, socket.client.session.close)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-eio3", action="store_true")
    parser.add_argument("--front", choices=("aiohttp", "rtio"), default="aiohttp")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sio = make_server(not args.no_eio3)
    runner = web.AppRunner(sio.make_app(), handle_signals=False)
    await runner.setup()
    # --front rtio: rtio's own HTTP/1.1 front (what sio.run() uses)
    site_type = FrontSite if args.front == "rtio" else web.TCPSite
    site = site_type(runner, "127.0.0.1", args.port, reuse_address=True)
    await site.start()
    server = site._server
    assert server is not None
    out(event="listening", port=server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
