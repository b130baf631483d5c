"""The official Socket.IO v5 suite's app on /socket.io/ (settings and handlers of
../shared/protocol-suites/README.md), written against rtio's public API.

- ``/``: on connect emit ``auth`` with the CONNECT payload; ``message`` is echoed as
  ``message-back``; ``message-with-ack`` is acknowledged with the same arguments.
- ``/custom``: on connect emit ``auth`` with the CONNECT payload.
- any other namespace: CONNECT_ERROR ``{"message": "Invalid namespace"}`` (rtio's default).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

import rtio


def make_server() -> rtio.Server:
    sio = rtio.Server(
        cors_allowed_origins="*",
        ping_interval=0.3,
        ping_timeout=0.2,
        max_payload=1_000_000,
        connect_timeout=1.0,
    )

    @sio.on("connect")
    async def connect(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        await socket.emit("auth", auth)

    @sio.on("message")
    async def message(socket: rtio.Socket, *args: Any) -> None:
        await socket.emit("message-back", *args)

    @sio.on("message-with-ack")
    async def message_with_ack(socket: rtio.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.of("/custom").on("connect")
    async def custom_connect(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        await socket.emit("auth", auth)

    return sio


def setup(app: web.Application) -> None:
    make_server().attach(app, "/socket.io/")
