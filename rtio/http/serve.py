"""Listening with rtio's HTTP/1.1 front: ``FrontSite`` (an aiohttp site, so that
``runner.cleanup()`` stops it with the app) and ``start_server``.

The engines come from the app (``EngineServer.attach`` lists them under the engine's
``ENGINES_KEY``); every other request goes to the runner's aiohttp server. Owns the
wiring only: the connection handling is protocol.py's, the one aiohttp internal it needs
(giving the site its listening server) rtio.aiohttp_internals'.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from ssl import SSLContext

from aiohttp import web
from yarl import URL

from rtio.aiohttp_internals import set_site_server
from rtio.engine import ENGINES_KEY

from .options import FrontOptions, Handler, Redirect, Route
from .protocol import Front

__all__ = ["FrontSite", "engine_routes", "start_server"]


def engine_routes(app: web.Application) -> dict[str, Route]:
    """The paths the front answers itself: each attached engine's path, with and without
    its trailing slash (as ``attach`` routes them). An engine with an ``allow_request``
    hook (the application's async code, awaited before the engine's first suspension)
    gets its requests started in a task (Route.inline)."""
    routes: dict[str, Route] = {}
    for path, engine in app.get(ENGINES_KEY, []):
        handler: Handler = engine.handle
        route = Route(handler, inline=engine.options.allow_request is None)
        routes[path] = route
        bare = path.rstrip("/")
        if bare:
            routes.setdefault(bare, route)
    return routes


class FrontSite(web.BaseSite):
    """An aiohttp site whose connections the front reads first: use it instead of
    ``web.TCPSite`` (same arguments). The app's engines (or ``routes``) are answered by
    rtio, anything else by aiohttp. ``options`` are the connections' limits (FrontOptions:
    timeouts, head size...); ``keepalive_timeout``, when given, replaces theirs.
    ``runner.cleanup()`` stops it with the app."""

    __slots__ = (
        "_bound_port",
        "_host",
        "_listen_backlog",
        "_port",
        "_reuse_address",
        "_reuse_port",
        "_sock",
        "_ssl",
        "front",
        "runner",
    )

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str | None = None,
        port: int | None = None,
        *,
        routes: Mapping[str, Route | Handler] | None = None,
        keepalive_timeout: float | None = None,
        options: FrontOptions | None = None,
        ssl_context: SSLContext | None = None,
        backlog: int = 128,
        reuse_address: bool | None = None,
        reuse_port: bool | None = None,
        sock: socket.socket | None = None,
        redirect: Redirect | None = None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        server = runner.server
        assert server is not None  # BaseSite checked that setup() ran
        self.runner = runner
        self._host = host
        self._port = (8443 if ssl_context else 8080) if port is None else port
        self._bound_port: int | None = None
        # (BaseSite keeps ssl_context and backlog too, privately: these are the site's own)
        self._ssl = ssl_context
        self._listen_backlog = backlog
        self._reuse_address = reuse_address
        self._reuse_port = reuse_port
        #: a socket already listening (rtio.workers: the parent's), instead of host/port
        self._sock = sock
        if sock is not None:
            self._host, self._port = sock.getsockname()[:2]
        if routes is None:
            app = getattr(runner, "app", None)
            routes = engine_routes(app) if isinstance(app, web.Application) else {}
        self.front = Front(
            routes,
            server,
            keepalive_timeout=keepalive_timeout,
            scheme="https" if ssl_context is not None else "http",
            options=options,
        )
        self.front.redirect = redirect

    @property
    def port(self) -> int:
        """The port listened on: the bound one once started (``port=0`` asks for a free
        one), the requested one before."""
        return self._port if self._bound_port is None else self._bound_port

    @property
    def name(self) -> str:
        scheme = "https" if self.front.scheme == "https" else "http"
        return str(URL.build(scheme=scheme, host=self._host or "0.0.0.0", port=self.port))

    async def start(self) -> None:
        await super().start()  # registers the site with its runner
        loop = asyncio.get_running_loop()
        if self._sock is not None:
            server = await loop.create_server(
                self.front, sock=self._sock, ssl=self._ssl, backlog=self._listen_backlog
            )
        else:
            server = await loop.create_server(
                self.front,
                self._host,
                self._port,
                ssl=self._ssl,
                backlog=self._listen_backlog,
                reuse_address=self._reuse_address,
                reuse_port=self._reuse_port,
            )
        # BaseSite.stop closes it; runner.addresses lists its sockets
        set_site_server(self, server)
        sockets = server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port

    async def stop(self) -> None:
        """Stop listening and close the idle connections; a request in flight is answered
        (the app's shutdown, which runs next, answers pending polls with a close packet),
        then its connection closes."""
        await super().stop()
        self.front.close_idle()


async def start_server(
    runner_or_app: web.BaseRunner | web.Application,
    host: str | None = None,
    port: int = 8080,
    *,
    backlog: int = 128,
    ssl_context: SSLContext | None = None,
    reuse_address: bool | None = None,
    reuse_port: bool | None = None,
    keepalive_timeout: float | None = None,
    options: FrontOptions | None = None,
    sock: socket.socket | None = None,
    redirect: Redirect | None = None,
) -> FrontSite:
    """Listen on ``host:port`` with the front, for users who run their own loop; returns
    the started site (``site.port`` is the bound port). ``options``: the connections'
    limits (FrontOptions). ``sock``: a socket already listening, served instead of
    ``host:port``; ``redirect``: the front's Redirect hook (rtio.workers).

    Given an app, it makes an ``AppRunner`` and sets it up (the app's on_startup runs).
    Stop with ``await site.runner.cleanup()``: it stops the site, runs the app's shutdown
    (the engines send close packets, pending polls get them) and its cleanup."""
    if isinstance(runner_or_app, web.Application):
        runner: web.BaseRunner = web.AppRunner(runner_or_app, handle_signals=False)
        await runner.setup()
    else:
        runner = runner_or_app
    site = FrontSite(
        runner,
        host,
        port,
        backlog=backlog,
        ssl_context=ssl_context,
        reuse_address=reuse_address,
        reuse_port=reuse_port,
        keepalive_timeout=keepalive_timeout,
        options=options,
        sock=sock,
        redirect=redirect,
    )
    await site.start()
    return site
