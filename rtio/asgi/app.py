"""The ASGI 3 application: which request goes where, and the WebSocket requests.

:class:`App` routes each scope: ``http`` and ``websocket`` under its path to the engine
(polling.py answers the HTTP ones; a WebSocket is accepted by the engine through
request.py's ``accept_websocket`` and then fed by websocket.py's ``pump``), everything else
to ``other_app`` (404, or a WebSocket closed with 1000, without one), and ``lifespan`` to
lifespan.py. It counts the WebSockets open per session id on this front (upgrade probes):
the HTTP path then lets the probe's messages settle first (see polling.py). Errors: a
WebSocket the engine refuses gets the engine's HTTP answer where the ASGI server supports
``websocket.http.response``, else a close with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager

from rtio.engine import EngineServer, HttpResponse
from rtio.socketio import Server

from .endable import Endable, Ended
from .lifespan import Lifespan
from .polling import respond, serve_http
from .request import AsgiRequest
from .spec import ASGIApp, Hook, Receive, Scope, Send
from .websocket import pump

__all__ = ["App"]


class App:
    """An ASGI 3 application serving Socket.IO (an ``rtio.Server``) or bare Engine.IO (an
    ``rtio.engine.EngineServer``) at ``path`` (default: the server's, ``/socket.io/``)
    and handing every other request (HTTP, WebSocket and lifespan) to ``other_app``
    (404 without one).

    Lifespan: ``on_startup`` / ``on_shutdown`` hooks (sync or async) run at the server's
    startup and shutdown; at shutdown every client is told ("server shutting down", as
    with aiohttp) before ``other_app`` shuts down. Mounted inside FastAPI / Starlette
    (which send no lifespan to mounted apps), pass ``app.lifespan`` as the host app's
    lifespan.
    """

    def __init__(
        self,
        server: Server | EngineServer,
        other_app: ASGIApp | None = None,
        path: str | None = None,
        *,
        on_startup: Hook | Iterable[Hook] | None = None,
        on_shutdown: Hook | Iterable[Hook] | None = None,
    ) -> None:
        self.server = server
        self.engine, default_path = _engine_of(server)
        path = path or default_path
        self.path = "/" + path.strip("/") + "/" if path.strip("/") else "/"
        self.other_app = other_app
        self._life = Lifespan(self.engine, on_startup, on_shutdown)
        #: the hooks (lists: append to them before startup)
        self.on_startup: list[Hook] = self._life.on_startup
        self.on_shutdown: list[Hook] = self._life.on_shutdown
        #: sids with a WebSocket open on this front besides their polling (upgrade probes)
        self._probing: dict[str, int] = {}

    def _ours(self, scope: Scope) -> bool:
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "")
        if root and not path.startswith(root):
            path = root + path  # a server or framework that strips the mount prefix
        mine = self.path
        return path.startswith(mine) or path == mine[:-1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            if self._ours(scope):
                if kind == "http":
                    request = AsgiRequest(scope, receive, send)
                    probing = bool(self._probing) and request.query.get("sid") in self._probing
                    await serve_http(self.engine, request, probing=probing)
                else:
                    await self._websocket(scope, receive, send)
                return
            if self.other_app is not None:
                await self.other_app(scope, receive, send)
            elif kind == "http":
                await respond(send, HttpResponse(404, {"Content-Type": "text/plain"}, b"Not Found"))
            else:
                await send({"type": "websocket.close", "code": 1000})
        elif kind == "lifespan":
            await self._life.serve(scope, receive, send, self.other_app)

    # -- lifespan ----------------------------------------------------------------------------

    async def startup(self) -> None:
        """Run the startup hooks (once)."""
        await self._life.startup()

    async def shutdown(self) -> None:
        """Tell every client (close packets, then 1001 on WebSockets) and run the hooks."""
        await self._life.shutdown()

    def lifespan(self, app: object = None) -> AbstractAsyncContextManager[None]:
        """A lifespan context for a host app: ``FastAPI(lifespan=sio_app.lifespan)``."""
        return self._life.context(app)

    # -- WebSocket requests ------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        request = AsgiRequest(scope, receive, send)
        sid = request.query.get("sid")
        if sid is None:
            await self._serve_websocket(scope, request)
            return
        probing = self._probing
        probing[sid] = probing.get(sid, 0) + 1
        try:
            await self._serve_websocket(scope, request)
        finally:
            if probing[sid] == 1:
                del probing[sid]
            else:
                probing[sid] -= 1

    async def _serve_websocket(self, scope: Scope, request: AsgiRequest) -> None:
        send = request.send
        response = await self.engine.handle(request)
        ws = request.websocket
        if ws is None:
            assert response is not None
            if "websocket.http.response" in (scope.get("extensions") or {}):
                headers = [
                    (name.lower().encode("latin-1"), value.encode("latin-1"))
                    for name, value in response.headers.items()
                ]
                headers.append((b"content-length", str(len(response.body)).encode()))
                await send(
                    {
                        "type": "websocket.http.response.start",
                        "status": response.status,
                        "headers": headers,
                    }
                )
                await send({"type": "websocket.http.response.body", "body": response.body})
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        receiving = ws.pump = Endable(pump(request.receive, ws))
        if ws.close_code is not None and ws.writer is None:
            return
        with contextlib.suppress(Ended):
            await receiving
        writer = ws.writer
        if writer is not None:
            # the close (or the rest of the queue) is being written: finish it first
            with contextlib.suppress(Exception):
                await asyncio.shield(writer)


def _engine_of(server: Server | EngineServer) -> tuple[EngineServer, str]:
    if isinstance(server, EngineServer):
        return server, server.options.path
    return server.engine, server.path
