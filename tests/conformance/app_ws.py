"""The Autobahn echo app: every message echoed back (text as text, binary as binary) on
/autobahn, with no size limits and permessage-deflate enabled."""

from __future__ import annotations

from aiohttp import web

from rtio.ws import ConnectionClosed, DeflateOptions, HandshakeRefused, ServerOptions, accept

OPTIONS = ServerOptions(
    max_message_size=None,
    max_frame_size=None,
    ping_interval=None,
    compression=DeflateOptions(threshold=0),
    max_queue=64,
    write_limit=1 << 20,
)


async def echo(request: web.Request) -> web.StreamResponse:
    try:
        ws, response = await accept(request, options=OPTIONS)
    except HandshakeRefused as exc:
        return exc.response()
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass
    return response


def setup(app: web.Application) -> None:
    app.router.add_get("/autobahn", echo)
