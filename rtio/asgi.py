"""rtio.asgi: serve rtio under any ASGI 3 server (uvicorn, hypercorn, granian, ...) and
beside any ASGI app (FastAPI, Starlette, Django, ...).

    import rtio, rtio.asgi
    sio = rtio.Server()
    app = rtio.asgi.App(sio, other_app=fastapi_app)     # uvicorn module:app

or, inside a FastAPI / Starlette app (mounted apps get no lifespan: hand it the App's)::

    sio_app = rtio.asgi.App(sio)
    api = FastAPI(lifespan=sio_app.lifespan)
    api.mount("/socket.io", sio_app)

``App`` is the ASGI front of the engine, as aiohttp_front.py and rtio.http are its other
two: ``AsgiRequest`` presents an ASGI HTTP or WebSocket scope as the engine's HttpRequest
(rtio/engine/http.py), and ``AsgiWebSocket`` presents the ASGI WebSocket messages as what
the engine uses of an rtio.ws WebSocket (``set_receiver``, ``send_now``,
``send_prepared_now``, ``drain``, ``close``, ``wait_closed``, ``closed``, ``close_code``).
The ASGI server owns the WebSocket protocol itself (its handshake, frames, compression,
its own message size limit): rtio.ws is not used on this path.

Everything above the engine is the same server: handlers, rooms, adapters do not know
which front carries a session. Needs no third-party package.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
)
from typing import Any, cast
from urllib.parse import parse_qsl, unquote

from rtio.engine import EngineServer, HttpResponse, PayloadTooLarge
from rtio.socketio import Server
from rtio.ws import ConnectionClosed, Opcode, PreparedMessage, ServerOptions, WebSocket

__all__ = ["App", "AsgiRequest", "AsgiWebSocket"]

logger = logging.getLogger("rtio.asgi")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Hook = Callable[[], Any]

_TEXT = int(Opcode.TEXT)
#: how long a request for a session whose upgrade probe is open waits for the probe's
#: messages already on their way (see App._http)
_PROBE_SETTLE = 0.01


class _Ended(Exception):
    """An ``_Endable`` await was ended by its owner."""


class _Endable:
    """``await _Endable(coro)``: the coroutine's result, or ``_Ended`` once ``end()`` was
    called: it cancels the future the coroutine waits on (what ``Task.cancel`` does, without
    cancelling the task that runs us, which may be the ASGI server's or a framework's).
    Costs nothing when the coroutine finishes at its first step; ``on_wait`` is called when
    it does not (to start a watcher only for a request that waits: a long poll)."""

    __slots__ = ("_coro", "_waiting", "ended", "on_wait")

    def __init__(self, coro: Coroutine[Any, Any, Any], on_wait: Hook | None = None) -> None:
        self._coro = coro
        self._waiting: object = None
        self.ended = False
        self.on_wait = on_wait

    def end(self) -> None:
        self.ended = True
        waiting = self._waiting
        if isinstance(waiting, asyncio.Future) and not waiting.done():
            waiting.cancel()

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self._coro
        try:
            value = coro.send(None)
        except StopIteration as stop:
            return stop.value
        if self.on_wait is not None:
            self.on_wait()
        try:
            while True:
                self._waiting = value
                if self.ended and isinstance(value, asyncio.Future):
                    value.cancel()
                try:
                    sent = yield value
                except GeneratorExit:
                    coro.close()
                    raise
                except BaseException as exc:
                    value = coro.throw(exc)
                else:
                    value = coro.throw(asyncio.CancelledError()) if self.ended else coro.send(sent)
        except StopIteration as stop:
            return stop.value
        except asyncio.CancelledError:
            if self.ended:
                raise _Ended from None
            raise
        finally:
            self._waiting = None


class _Headers(Mapping[str, str]):
    """The request's headers: case-insensitive, the first value of each name."""

    __slots__ = ("_map",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        found: dict[str, str] = {}
        for name, value in raw:
            found.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        self._map = found

    def __getitem__(self, name: str) -> str:
        return self._map[name.lower()]

    def get(self, name: str, default: Any = None) -> Any:
        return self._map.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._map

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)


def _cookies(header: str | None) -> dict[str, str]:
    result: dict[str, str] = {}
    if not header:
        return result
    for pair in header.split(";"):
        name, eq, value = pair.partition("=")
        name = name.strip()
        if not eq or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        result.setdefault(name, unquote(value))
    return result


class _Presence(asyncio.BaseTransport):
    """What a pending poll checks of its connection (``is_closing``): the ASGI server
    reported ``http.disconnect``."""

    def __init__(self) -> None:
        super().__init__()
        self.gone = False

    def is_closing(self) -> bool:
        return self.gone

    def close(self) -> None:
        self.gone = True


class AsgiRequest:
    """An ASGI ``http`` or ``websocket`` scope as the engine's HttpRequest."""

    __slots__ = (
        "_cookies",
        "_presence",
        "headers",
        "method",
        "query",
        "receive",
        "scope",
        "send",
        "websocket",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.method: str = scope.get("method", "GET")
        self.headers: Mapping[str, str] = _Headers(scope.get("headers") or ())
        query: dict[str, str] = {}
        raw = scope.get("query_string") or b""
        if raw:
            for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
                query.setdefault(name, value)
        self.query: Mapping[str, str] = query
        self._cookies: dict[str, str] | None = None
        self._presence = _Presence()
        #: the WebSocket, once accept_websocket answered
        self.websocket: AsgiWebSocket | None = None

    def __repr__(self) -> str:
        return f"<AsgiRequest {self.method} {self.scope.get('path')}>"

    @property
    def path(self) -> str:
        path: str = self.scope.get("path", "/")
        return path

    @property
    def url(self) -> str:
        scope = self.scope
        scheme = scope.get("scheme") or ("ws" if scope["type"] == "websocket" else "http")
        host = self.headers.get("host")
        if host is None:
            server = scope.get("server")
            host = f"{server[0]}:{server[1]}" if server else "localhost"
        qs = scope.get("query_string") or b""
        tail = "?" + qs.decode("latin-1") if qs else ""
        return f"{scheme}://{host}{self.path}{tail}"

    @property
    def cookies(self) -> Mapping[str, str]:
        cookies = self._cookies
        if cookies is None:
            cookies = self._cookies = _cookies(self.headers.get("cookie"))
        return cookies

    @property
    def remote(self) -> str | None:
        client = self.scope.get("client")
        return str(client[0]) if client else None

    @property
    def transport(self) -> asyncio.BaseTransport | None:
        return self._presence

    @property
    def gone(self) -> bool:
        """The ASGI server reported ``http.disconnect``: nobody reads an answer."""
        return self._presence.gone

    def went_away(self) -> None:
        self._presence.gone = True

    @property
    def content_type(self) -> str:
        value: str | None = self.headers.get("content-type")
        if not value:
            return ""
        return value.partition(";")[0].strip().lower()

    async def read_body(self, limit: int) -> bytes:
        """The streamed body, refusing more than ``limit`` bytes before buffering them
        (PayloadTooLarge); ConnectionResetError if the client went away."""
        length = self.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(int(length), limit)
        chunks: list[bytes] = []
        size = 0
        receive = self.receive
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "http.request":
                body: bytes = message.get("body", b"")
                if body:
                    size += len(body)
                    if size > limit:
                        raise PayloadTooLarge(size, limit)
                    chunks.append(body)
                if not message.get("more_body", False):
                    break
            elif kind == "http.disconnect":
                self._presence.gone = True
                raise ConnectionResetError("the client went away during its request body")
        if len(chunks) == 1:
            return chunks[0]
        return b"".join(chunks)

    async def accept_websocket(
        self, options: ServerOptions, headers: Mapping[str, str] | None
    ) -> WebSocket:
        """Accept the ASGI WebSocket (the server writes the 101, with ``headers``). Returns
        an AsgiWebSocket: what the engine uses of an rtio.ws WebSocket (duck typing)."""
        message: Message = {"type": "websocket.accept"}
        if headers:
            message["headers"] = [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in headers.items()
            ]
        await self.send(message)
        ws = self.websocket = AsgiWebSocket(
            self.send, options.max_message_size, options.write_limit
        )
        return cast(WebSocket, ws)


def _drop(message: str | bytes) -> None:
    pass


def _nothing() -> None:
    pass


class AsgiWebSocket:
    """An accepted ASGI WebSocket, as the engine uses an rtio.ws WebSocket: push-mode
    receiving (``set_receiver``; the App's receive loop calls ``deliver``), synchronous
    sends (``send_now``: queued, written in order by one task while the queue is not empty;
    False above ``write_limit`` queued bytes), ``drain``, ``close``.

    A message over ``max_message_size`` closes with 1009, as rtio.ws does (the ASGI server
    has read it whole by then: its own limit, e.g. uvicorn's ``--ws-max-size``, bounds
    that)."""

    __slots__ = (
        "_closed_event",
        "_closing",
        "_drain_waiters",
        "_max_message",
        "_on_closed",
        "_on_message",
        "_queue",
        "_queued",
        "_send",
        "_write_limit",
        "_writer",
        "close_code",
        "close_reason",
        "pump",
        "subprotocol",
    )

    def __init__(self, send: Send, max_message: int | None, write_limit: int) -> None:
        self._send = send
        self._max_message = max_message
        self._write_limit = write_limit
        self._queue: deque[tuple[Message, int]] = deque()
        self._queued = 0
        self._writer: asyncio.Task[None] | None = None
        self._on_message: Callable[[str | bytes], None] = _drop
        self._on_closed: Callable[[], None] | None = _nothing
        self._closing = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._closed_event: asyncio.Event | None = None
        #: the App's receive loop (ended once the WebSocket is closed on our side)
        self.pump: _Endable | None = None
        self.subprotocol: str | None = None
        self.close_code: int | None = None
        self.close_reason = ""

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    @property
    def writer(self) -> asyncio.Task[None] | None:
        """The task writing the queue (None: nothing to write)."""
        return self._writer

    # -- receiving ---------------------------------------------------------------------------

    def set_receiver(
        self, on_message: Callable[[str | bytes], None], on_closed: Callable[[], None]
    ) -> None:
        self._on_message = on_message
        if self._on_closed is None:  # notified already: the new receiver hears it at once
            self._on_closed = on_closed
            self._notify_closed()
        else:
            self._on_closed = on_closed

    def deliver(self, message: str | bytes) -> None:
        """One message from the ASGI server."""
        if self.close_code is not None:
            return
        limit = self._max_message
        if limit is not None and len(message) * 4 > limit:
            size = len(message.encode()) if isinstance(message, str) else len(message)
            if size > limit:
                self._fail(1009, "message too big")
                return
        try:
            self._on_message(message)
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("WebSocket message handler raised")
            self._fail(1011, "message handler raised")

    def disconnected(self, code: int) -> None:
        """The ASGI server reported ``websocket.disconnect``."""
        if self.close_code is None:
            self.close_code = code
        self._closing = True
        self._queue.clear()
        self._queued = 0
        self._finish()

    def _fail(self, code: int, reason: str) -> None:
        self._on_message = _drop
        self._start_close(code, reason)
        self.close_code = code
        self._notify_closed()

    def _notify_closed(self) -> None:
        on_closed = self._on_closed
        if on_closed is None:
            return
        self._on_closed = None
        try:
            on_closed()
        except Exception:
            logger.exception("WebSocket on_closed handler raised")

    def _finish(self) -> None:
        self._wake_drain_waiters()
        if self._closed_event is not None:
            self._closed_event.set()
        self._notify_closed()
        pump = self.pump
        if pump is not None:
            pump.end()

    # -- sending -----------------------------------------------------------------------------

    def send_now(self, message: str | bytes, *, compress: bool = True) -> bool:
        """Queue ``message``; False once more than ``write_limit`` bytes wait (``drain``)."""
        if self._closing:
            raise ConnectionClosed(self.close_code or 1006, self.close_reason)
        if isinstance(message, str):
            return self._push({"type": "websocket.send", "text": message}, len(message))
        return self._push({"type": "websocket.send", "bytes": bytes(message)}, len(message))

    def send_prepared_now(self, prepared: PreparedMessage, *, compress: bool = True) -> bool:
        payload = prepared.payload
        if prepared.opcode == _TEXT:
            return self.send_now(payload.decode())
        return self.send_now(payload)

    def _push(self, message: Message, size: int) -> bool:
        self._queue.append((message, size))
        self._queued += size
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())
        return self._queued <= self._write_limit

    async def _write(self) -> None:
        queue = self._queue
        send = self._send
        low = self._write_limit // 4
        try:
            while queue:
                message, size = queue.popleft()
                self._queued -= size
                await send(message)
                if self._drain_waiters and self._queued <= low:
                    self._wake_drain_waiters()
                if message["type"] == "websocket.close":
                    self._finish()
                    break
        except Exception as exc:  # the connection is gone (each server has its own error)
            logger.debug("WebSocket write failed: %r", exc)
            queue.clear()
            self._queued = 0
            if self.close_code is None:
                self.close_code = 1006
            self._closing = True
            self._finish()
        finally:
            self._writer = None
            self._wake_drain_waiters()

    def _wake_drain_waiters(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def drain(self) -> None:
        """Wait until at most a quarter of ``write_limit`` bytes are queued."""
        while self._queued > self._write_limit // 4 and self._writer is not None:
            fut = asyncio.get_running_loop().create_future()
            self._drain_waiters.append(fut)
            await fut

    def _start_close(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        self.close_reason = reason
        message: Message = {"type": "websocket.close", "code": code}
        if reason:
            message["reason"] = reason
        self._queue.append((message, 0))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close after what is queued; done once the ASGI server has it."""
        if self.close_code is None:
            self._start_close(code, reason)
            if self.close_code is None:
                # our code, unless the peer's disconnect comes first
                self.close_code = code
        await self.wait_closed()

    async def wait_closed(self) -> None:
        writer = self._writer
        if writer is not None:
            await asyncio.shield(writer)
        if self._closed_event is None:
            self._closed_event = asyncio.Event()
            if self.close_code is not None and self._writer is None:
                self._closed_event.set()
        await self._closed_event.wait()


def _engine_of(server: Server | EngineServer) -> tuple[EngineServer, str]:
    if isinstance(server, EngineServer):
        return server, server.options.path
    return server.engine, server.path


async def _call(hook: Hook) -> None:
    result = hook()
    if inspect.isawaitable(result):
        await result


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
        self.on_startup: list[Hook] = _hooks(on_startup)
        self.on_shutdown: list[Hook] = _hooks(on_shutdown)
        #: sids with a WebSocket open on this front besides their polling (upgrade probes)
        self._probing: dict[str, int] = {}
        self._started = False
        self._stopped = False

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
                    await self._http(scope, receive, send)
                else:
                    await self._websocket(scope, receive, send)
                return
            if self.other_app is not None:
                await self.other_app(scope, receive, send)
            elif kind == "http":
                await _respond(
                    send, HttpResponse(404, {"Content-Type": "text/plain"}, b"Not Found")
                )
            else:
                await send({"type": "websocket.close", "code": 1000})
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)

    # -- lifespan ------------------------------------------------------------------------------

    async def startup(self) -> None:
        if self._started:
            return
        self._started = True
        for hook in self.on_startup:
            await _call(hook)

    async def shutdown(self) -> None:
        """Tell every client (close packets, then 1001 on WebSockets) and run the hooks."""
        if self._stopped:
            return
        self._stopped = True
        await self.engine.shutdown()
        for hook in self.on_shutdown:
            await _call(hook)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: object = None) -> AsyncIterator[None]:
        """A lifespan context for a host app: ``FastAPI(lifespan=sio_app.lifespan)``."""
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        other = self.other_app
        if other is None:
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    try:
                        await self.startup()
                    except Exception as exc:
                        await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                        return
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    try:
                        await self.shutdown()
                    except Exception as exc:
                        await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
                        return
                    await send({"type": "lifespan.shutdown.complete"})
                    return

        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
            return message

        await other(scope, wrapped, send)

    # -- requests ------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = AsgiRequest(scope, receive, send)
        if self._probing and request.query.get("sid") in self._probing:
            # The session is upgrading: the ASGI server queues a WebSocket's messages for
            # our receive loop (rtio.ws reads them inline), and two connections' reads
            # come in any order: a "5" (upgrade) the client sent before this request must
            # be seen first (the session then refuses a poll, as the official suite checks).
            # A client sends no request during its upgrade but the pending GET, so this
            # short wait costs nothing in practice.
            await asyncio.sleep(_PROBE_SETTLE)
        if request.method in ("POST", "PUT"):
            response = await self.engine.handle(request)
        else:
            # a GET may wait (a long poll): only then, watch for the client going away
            watcher: list[asyncio.Task[None]] = []
            step = _Endable(self.engine.handle(request))

            def watch() -> None:
                watcher.append(
                    asyncio.get_running_loop().create_task(_watch(receive, request, step))
                )

            step.on_wait = watch
            try:
                response = await step
            except _Ended:
                return  # the client is gone: nobody reads an answer
            finally:
                if watcher:
                    watcher[0].cancel()
        if response is None:
            return
        if request.gone:
            return
        await _respond(send, response)

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
        pump = ws.pump = _Endable(_pump(request.receive, ws))
        if ws.close_code is not None and ws.writer is None:
            return
        with contextlib.suppress(_Ended):
            await pump
        writer = ws.writer
        if writer is not None:
            # the close (or the rest of the queue) is being written: finish it first
            with contextlib.suppress(Exception):
                await asyncio.shield(writer)


def _hooks(hooks: Hook | Iterable[Hook] | None) -> list[Hook]:
    if hooks is None:
        return []
    if callable(hooks):
        return [hooks]
    return list(hooks)


async def _watch(receive: Receive, request: AsgiRequest, step: _Endable) -> None:
    """A long poll's watcher: its client going away ends it (the engine closes the session,
    as Node does when a poll closes early)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            request.went_away()
            step.end()
            return


async def _pump(receive: Receive, ws: AsgiWebSocket) -> None:
    deliver = ws.deliver
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            if text is not None:
                deliver(text)
            else:
                deliver(message.get("bytes") or b"")
        elif kind == "websocket.disconnect":
            code = int(message.get("code", 1005))
            if code == 1005 and "reason" not in message:
                # uvicorn reports a connection lost without a close frame as 1005 with no
                # reason (a close frame without a code has reason ""): rtio.ws says 1006
                code = 1006
            ws.disconnected(code)
            return


async def _respond(send: Send, response: HttpResponse) -> None:
    body = response.body
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.items()
    ]
    headers.append((b"content-length", str(len(body)).encode()))
    if response.close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
