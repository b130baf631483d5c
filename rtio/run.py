"""``rtio.run_app``: serve an aiohttp app (or an ``rtio.Server``) until SIGINT/SIGTERM, like
``aiohttp.web.run_app``, but listening with rtio's HTTP/1.1 front (rtio.http): the
Engine.IO requests of the engines attached to the app are answered by rtio directly, every
other request by aiohttp as usual.

Owns the process lifecycle only (loop, signals, startup and graceful shutdown order).
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import signal
from collections.abc import Awaitable, Callable
from ssl import SSLContext
from typing import Any, Protocol

from aiohttp import web

from .http import start_server

__all__ = ["run_app"]


class Server(Protocol):
    """What run_app needs of an ``rtio.Server`` (not imported: rtio.socketio's
    ``Server.run`` imports this module)."""

    def make_app(self) -> web.Application: ...


def run_app(
    app_or_server: web.Application | Server | Awaitable[web.Application],
    host: str | None = None,
    port: int = 8080,
    *,
    backlog: int = 128,
    ssl_context: SSLContext | None = None,
    reuse_address: bool | None = None,
    reuse_port: bool | None = None,
    keepalive_timeout: float = 75.0,
    shutdown_timeout: float = 60.0,
    handle_signals: bool = True,
    print: Callable[..., None] | None = builtins.print,
    **runner_kwargs: Any,
) -> None:
    """Serve until SIGINT or SIGTERM (or ``KeyboardInterrupt``), then shut down gracefully:
    stop listening, close idle connections, run the app's on_shutdown (the engines send
    close packets; a pending poll gets its close packet), wait up to ``shutdown_timeout``
    for aiohttp's requests in flight, run on_cleanup. The app's on_startup runs first.

    ``host`` None listens on every interface. ``runner_kwargs`` go to ``web.AppRunner``
    (``access_log``, ``client_max_size``...). An ``rtio.Server`` is served with its
    ``make_app()``; an awaitable (a coroutine making the app, as aiohttp's run_app takes)
    is awaited in the server's loop. Runs its own event loop (``asyncio.run``): set a loop
    policy such as uvloop's before calling it."""
    app: web.Application | Awaitable[web.Application]
    if isinstance(app_or_server, web.Application) or inspect.isawaitable(app_or_server):
        app = app_or_server
    else:
        app = app_or_server.make_app()
    asyncio.run(
        _serve(
            app,
            host,
            port,
            backlog=backlog,
            ssl_context=ssl_context,
            reuse_address=reuse_address,
            reuse_port=reuse_port,
            keepalive_timeout=keepalive_timeout,
            shutdown_timeout=shutdown_timeout,
            handle_signals=handle_signals,
            print=print,
            runner_kwargs=runner_kwargs,
        )
    )


async def _serve(
    app: web.Application | Awaitable[web.Application],
    host: str | None,
    port: int,
    *,
    backlog: int,
    ssl_context: SSLContext | None,
    reuse_address: bool | None,
    reuse_port: bool | None,
    keepalive_timeout: float,
    shutdown_timeout: float,
    handle_signals: bool,
    print: Callable[..., None] | None,
    runner_kwargs: dict[str, Any],
) -> None:
    if not isinstance(app, web.Application):
        app = await app
    runner = web.AppRunner(
        app, handle_signals=False, shutdown_timeout=shutdown_timeout, **runner_kwargs
    )
    await runner.setup()
    try:
        site = await start_server(
            runner,
            host,
            port,
            backlog=backlog,
            ssl_context=ssl_context,
            reuse_address=reuse_address,
            reuse_port=reuse_port,
            keepalive_timeout=keepalive_timeout,
        )
        if print is not None:
            print(f"======== Running on {site.name} (rtio) ========\n(Press CTRL+C to quit)")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
    finally:
        # stops the site (FrontSite.stop: idle connections closed), runs on_shutdown
        # (engines close their sessions), waits for aiohttp's handlers, runs on_cleanup
        await runner.cleanup()
