"""Serve an ASGI app of rtio with a real ASGI server, on a socket bound here (port 0: a free
one), until SIGTERM/SIGINT. Shared by the ASGI test servers (socketio_server.py,
conformance_server.py) and the in-process tests.

Servers: ``uvicorn`` (its default WebSocket implementation: ``auto``, websockets-sansio),
``uvicorn-wsproto``, ``hypercorn``; $RTIO_ASGI_SERVER is the default.

uvicorn sends the lifespan shutdown only once every connection has ended (it closes
WebSockets with 1012 itself and waits for pending requests, a long poll included), so the
clients would not hear "server shutting down" from rtio: ``RtioUvicorn`` shuts the rtio
App down first, as docs/ASGI.md shows.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import rtio.asgi

SERVERS = ("uvicorn", "uvicorn-wsproto", "hypercorn")


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def default_server() -> str:
    return os.environ.get("RTIO_ASGI_SERVER", "uvicorn")


async def serve(
    app: Any,
    sio_app: rtio.asgi.App,
    sock: socket.socket,
    server: str,
    stop: asyncio.Event,
) -> None:
    """Serve ``app`` (whose rtio part is ``sio_app``) on ``sock`` until ``stop`` is set."""
    if server.startswith("uvicorn"):
        import uvicorn

        class RtioUvicorn(uvicorn.Server):
            async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
                await sio_app.shutdown()  # clients are told before uvicorn drops them
                await super().shutdown(sockets)

            def install_signal_handlers(self) -> None:  # (our caller owns the signals)
                pass

        config = uvicorn.Config(
            app,
            ws="wsproto" if server == "uvicorn-wsproto" else "auto",
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        userver = RtioUvicorn(config)

        async def stopper() -> None:
            await stop.wait()
            userver.should_exit = True

        task = asyncio.get_running_loop().create_task(stopper())
        try:
            await userver.serve(sockets=[sock])
        finally:
            task.cancel()
    elif server == "hypercorn":
        from hypercorn.asyncio import serve as hserve
        from hypercorn.config import Config

        hconfig = Config()
        # hypercorn makes its own socket object of the fd and closes it at shutdown: hand the
        # fd over (detach) so that ours does not close it a second time when collected, by
        # then maybe another test's socket (seen on 3.12: "Bad file descriptor", ENOENT)
        hconfig.bind = [f"fd://{sock.detach()}"]
        hconfig.loglevel = "WARNING"
        hconfig.graceful_timeout = 5

        async def trigger() -> None:
            await stop.wait()
            await sio_app.shutdown()

        await hserve(app, hconfig, shutdown_trigger=trigger)
    else:
        raise ValueError(f"unknown ASGI server {server!r}")


async def run_until_signal(
    app: Any,
    sio_app: rtio.asgi.App,
    host: str,
    port: int,
    server: str,
    ready: Callable[[int], Awaitable[None] | None],
) -> None:
    import signal

    sock = bind(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    result = ready(sock.getsockname()[1])
    if result is not None:
        await result
    await serve(app, sio_app, sock, server, stop)
