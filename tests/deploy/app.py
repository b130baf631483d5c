"""The app stage 33-deploy serves behind nginx and Caddy (``rtio serve app:sio``): an echo
whose answer tells what reached rtio through the proxy (the transport, and the forwarded
headers), and a server-to-client ack. Default options: the same-origin check is on."""

from __future__ import annotations

from typing import Any

import rtio

sio = rtio.Server()


@sio.on("echo")
async def echo(socket: rtio.Socket, data: Any) -> dict[str, Any]:
    headers = socket.handshake.headers
    return {
        "data": data,
        "forwarded_for": headers.get("X-Forwarded-For"),
        "forwarded_proto": headers.get("X-Forwarded-Proto"),
    }


@sio.on("ask_me")
async def ask_me(socket: rtio.Socket, question: str) -> Any:
    return await socket.emit_with_ack("question", question, timeout=5)
