"""The aiohttp front of the engine: an aiohttp route whose requests the engine answers.

``attach(engine, app, path)`` (also ``EngineServer.attach``) adds the route and shuts the
engine down with the app; ``AiohttpRequest`` presents a ``web.Request`` as the engine's
HttpRequest (http.py);
``respond`` runs ``EngineServer.handle`` on it and turns the HttpResponse into a
``web.Response``, or returns the 101 response that rtio.ws's ``accept`` prepared once the
request became a WebSocket: at once, the WebSocket being detached from aiohttp (it lives
on rtio.ws's own protocol; the engine closes it at shutdown). ``ENGINES_KEY`` is where
``attach`` records the engines of an app (path, server), so that a runner can find them;
``drain_in_flight(app)`` drains them all while the runner still listens (rtio.run_app at
SIGTERM).

Owns nothing of Engine.IO itself (server.py, which it knows only as an ``Engine``) nor of
the WebSocket (rtio.ws).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from aiohttp import web

from rtio.ws import ServerOptions, WebSocket, accept

from .errors import PayloadTooLarge
from .http import HttpRequest, HttpResponse
from .options import EngineOptions

__all__ = ["ENGINES_KEY", "AiohttpRequest", "Engine", "attach", "drain_in_flight", "respond"]


class Engine(Protocol):
    """What a front needs of an EngineServer."""

    @property
    def options(self) -> EngineOptions: ...

    async def handle(self, request: HttpRequest) -> HttpResponse | None: ...

    async def drain_in_flight(self) -> None: ...

    async def shutdown(self, *, polls_can_arrive: bool = True) -> None: ...


#: the engines attached to an app: (route path, server), in the order of attach()
ENGINES_KEY: web.AppKey[list[tuple[str, Engine]]] = web.AppKey("rtio.engines")


def attach(engine: Engine, app: web.Application, path: str | None = None) -> None:
    """Route ``path`` (default ``options.path``) of ``app`` to ``engine`` and shut it down
    with the app. The app lists its engines under ``ENGINES_KEY``."""
    path = path or engine.options.path
    route = path.rstrip("/")
    handler = functools.partial(respond, engine.handle)
    app.router.add_route("*", route + "/", handler)
    if route:
        app.router.add_route("*", route, handler)
    app.setdefault(ENGINES_KEY, []).append((route + "/", engine))

    async def on_shutdown(_app: web.Application) -> None:
        # aiohttp runs this once it has stopped listening and stopped reading its idle
        # keep-alive connections: a polling client whose GET is not pending by now
        # cannot send one (it is dropped unread), so only the WebSockets' closing
        # handshakes are worth the grace; such sessions close at once, and aiohttp
        # then closes their connections (the client sees its next poll fail)
        await engine.shutdown(polls_can_arrive=False)

    app.on_shutdown.append(on_shutdown)


async def drain_in_flight(app: web.Application) -> None:
    """Each engine attached to ``app`` refuses new sessions and lets the handlers at work
    finish (``shutdown_drain``), while the site still listens: what rtio.run_app does at
    SIGTERM before aiohttp's cleanup, which stops listening first and runs on_shutdown
    (the engines' shutdown) after, so a polling client, whose every POST and next GET may
    need a new connection, would be cut off before its handler answered."""
    engines = [engine for _, engine in app.get(ENGINES_KEY, ())]
    await asyncio.gather(*(engine.drain_in_flight() for engine in engines))


class AiohttpRequest:
    """A ``web.Request`` as the engine's HttpRequest."""

    __slots__ = ("_request", "upgrade_response")

    def __init__(self, request: web.Request) -> None:
        self._request = request
        #: set by accept_websocket: the 101 the route returns
        self.upgrade_response: web.StreamResponse | None = None

    @property
    def method(self) -> str:
        return self._request.method

    @property
    def path(self) -> str:
        return self._request.path

    @property
    def url(self) -> str:
        return str(self._request.url)

    @property
    def query(self) -> Mapping[str, str]:
        return self._request.query

    @property
    def headers(self) -> Mapping[str, str]:
        return self._request.headers

    @property
    def cookies(self) -> Mapping[str, str]:
        return self._request.cookies

    @property
    def remote(self) -> str | None:
        return self._request.remote

    @property
    def transport(self) -> asyncio.BaseTransport | None:
        return self._request.transport

    @property
    def content_type(self) -> str:
        # aiohttp reports a missing Content-Type as application/octet-stream (RFC 9110's
        # "MAY assume"); the engine must tell it apart (v4 refuses octet-stream bodies,
        # Node accepts a POST without Content-Type)
        if "Content-Type" not in self._request.headers:
            return ""
        return self._request.content_type

    async def read_body(self, limit: int) -> bytes:
        """The request body, refusing more than ``limit`` bytes before buffering them."""
        request = self._request
        length = request.content_length
        if length is not None:
            if length > limit:
                raise PayloadTooLarge(length, limit)
            # the usual case (clients send Content-Length): one read, no chunk list
            return await request.content.readexactly(length)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(size, limit)
            chunks.append(chunk)
        return b"".join(chunks)

    async def accept_websocket(
        self, options: ServerOptions, headers: Mapping[str, str] | None
    ) -> WebSocket:
        # detached: the WebSocket lives on its own protocol, and the route returns at once,
        # which frees aiohttp's request, handler and parser (~9 kB per idle connection);
        # untracked: the engine closes its own WebSockets at shutdown
        ws, response = await accept(
            self._request, options=options, headers=headers, detach=True, track=False
        )
        self.upgrade_response = response
        return ws


async def respond(
    handle: Callable[[HttpRequest], Awaitable[HttpResponse | None]], request: web.Request
) -> web.StreamResponse:
    """The aiohttp answer to ``request``, as ``handle`` (``EngineServer.handle``) decides."""
    front = AiohttpRequest(request)
    response = await handle(front)  # (mypy checks that AiohttpRequest is an HttpRequest)
    upgraded = front.upgrade_response
    if upgraded is not None:
        return upgraded  # after a 101, the connection is the WebSocket's
    assert response is not None, "handle returned None without a 101"
    answer = web.Response(status=response.status, headers=response.headers, body=response.body)
    if response.close:
        # the request's body was not read (a refused or timed-out POST): write the answer
        # and close now, rather than let aiohttp linger up to 10 s reading the body
        answer.force_close()
        await answer.prepare(request)
        await answer.write_eof()
        request.protocol.force_close()
    return answer
