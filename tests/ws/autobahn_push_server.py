"""An Autobahn echo server on the path the engine takes: ``accept(detach=True)`` and push
mode (``set_receiver`` answering with ``send_now``, ``drain()`` when it says so). The
conformance stage's app (tests/conformance/app_ws.py) covers ``async for`` + ``send``; this
one is for runs of Autobahn's fuzzing client (tests/autobahn) against the push pipeline:

    .venv/bin/python tests/ws/autobahn_push_server.py --port 9001 &
    tests/autobahn/server.sh ws://127.0.0.1:9001/autobahn /tmp/ab-push

Not collected by pytest (no test_ prefix).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))  # the repo root

from rtio.ws import (
    ConnectionClosed,
    DeflateOptions,
    HandshakeRefused,
    ServerOptions,
    WebSocket,
    accept,
    close_all_on_shutdown,
)

OPTIONS = ServerOptions(
    max_message_size=None,
    max_frame_size=None,
    ping_interval=None,
    compression=DeflateOptions(threshold=0),
    write_limit=1 << 20,
)


class PushEcho:
    """Echoes each message from the receiver callback; above the write limit it stops
    reading until the transport drained (the consumer is synchronous, so its backpressure
    is its own)."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.draining: asyncio.Task[None] | None = None
        ws.set_receiver(self.on_message, lambda: None)

    def on_message(self, message: str | bytes) -> None:
        if not self.ws.send_now(message) and self.draining is None:
            self.ws.transport.pause_reading()
            self.draining = asyncio.ensure_future(self.drain())

    async def drain(self) -> None:
        try:
            await self.ws.drain()
        except ConnectionClosed:
            return
        finally:
            self.draining = None
        if not self.ws.closed:
            self.ws.transport.resume_reading()


async def echo(request: web.Request) -> web.StreamResponse:
    try:
        ws, response = await accept(request, options=OPTIONS, detach=True)
    except HandshakeRefused as exc:
        return exc.response()
    PushEcho(ws)
    return response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9001)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get("/autobahn", echo)
    close_all_on_shutdown(app)
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
