"""The one place that touches aiohttp internals: answer an aiohttp request with our 101 and
take the connection over. Two ways, both checked by tests/ws/test_aiohttp_adapter.py (so an
aiohttp upgrade that breaks a contract breaks one test):

- attached (``detach=False``), as aiohttp's own web_ws.py does: after the 101,
  ``request.protocol.set_parser(parser)`` makes aiohttp's RequestHandler feed every later
  byte (starting with any bytes pipelined right behind the upgrade request) to
  ``parser.feed_data`` and call ``parser.feed_eof`` when the connection is lost;
  ``keep_alive(False)`` keeps aiohttp from reading another HTTP request afterwards. Write
  backpressure comes from the same RequestHandler (``writing_paused`` /
  ``_drain_helper``), read backpressure from its ``pause_reading`` / ``resume_reading``.
  The handler must stay in its request handler until the WebSocket is closed.
- detached (``detach=True``): after the 101 the transport gets our own protocol
  (stream.py) and aiohttp lets go of the connection, so that its RequestHandler, request,
  HTTP parser and handler task (about 9 kB per connection) are freed once the handler
  returns; see ``_detach`` for what that takes from aiohttp 3.14's web_protocol.py.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from .connection import Link, ServerOptions, WebSocket, open_protocol
from .deflate import DeflateParams
from .errors import HandshakeRefused
from .frames import CloseCode
from .handshake import server_handshake
from .protocol import Side
from .stream import detach as detach_transport

__all__ = ["accept", "close_all_on_shutdown"]

_open_sockets: weakref.WeakKeyDictionary[web.Application, weakref.WeakSet[WebSocket]] = (
    weakref.WeakKeyDictionary()
)


class _RequestHandlerLink(Link):
    """Flow control through aiohttp's RequestHandler (the transport's protocol)."""

    def __init__(self, handler: Any, transport: asyncio.Transport) -> None:
        super().__init__(transport)
        self._handler = handler

    @property
    def writing_paused(self) -> bool:
        # BaseProtocol._paused: the public writing_paused property is 3.12+ only
        return bool(self._handler._paused)

    async def drain(self) -> None:
        await self._handler._drain_helper()

    def call_when_writable(self, callback: Callable[[], None]) -> None:
        if not self._handler._paused:
            callback()
            return
        # aiohttp's drain waiter is the only signal of its resume_writing
        task = asyncio.ensure_future(self._handler._drain_helper())
        task.add_done_callback(lambda t: _then(t, callback))

    def pause_reading(self) -> None:
        self._handler.pause_reading()

    def resume_reading(self) -> None:
        self._handler.resume_reading()

    def connection_lost(self) -> None:
        pass  # aiohttp wakes its own drain waiter


def _then(task: asyncio.Future[None], callback: Callable[[], None]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a lost connection is reported by feed_eof
    callback()


class _Feed:
    """Duck-types aiohttp's WebSocketReader for RequestHandler.set_parser."""

    __slots__ = ("_ws",)

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._ws.receive_data(data)
        return False, b""

    def feed_eof(self) -> None:
        self._ws.receive_eof()


class _UpgradedResponse(web.StreamResponse):
    """The 101 response; aiohttp calls write_eof() when the handler returns it, which is
    where a WebSocket the handler left open gets its close handshake."""

    _ws: WebSocket | None = None

    async def write_eof(self, data: bytes = b"") -> None:
        if self._eof_sent:
            return
        self._eof_sent = True
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close(CloseCode.NORMAL_CLOSURE)


async def accept(
    request: web.Request,
    *,
    options: ServerOptions | None = None,
    origin_check: Callable[[str | None], bool] | None = None,
    headers: Mapping[str, str] | None = None,
    detach: bool = False,
    track: bool = True,
) -> tuple[WebSocket, web.StreamResponse]:
    """Validate the opening handshake of ``request``, answer 101 (plus any extra
    ``headers``, e.g. a Set-Cookie) and return the WebSocket with the response the handler
    returns. Raises HandshakeRefused (``.response()`` is the aiohttp answer to return
    instead).

    ``detach=False``: the handler returns the response once done with the WebSocket
    (returning it with the WebSocket open runs the close handshake). ``detach=True``: the
    WebSocket lives on its own, free of aiohttp; the handler returns the response at once
    (returning it does not close the WebSocket) and aiohttp's request and handler objects
    are freed. Either way ``close_all_on_shutdown`` closes it when the app shuts down,
    unless ``track=False``: for a caller that closes its own WebSockets at shutdown (the
    app's WeakSet entry costs ~150 bytes per connection, bench_idle.py)."""
    options = options or ServerOptions()
    version = request.version
    accepted = server_handshake(
        request.method,
        (version.major, version.minor),
        request.headers.items(),
        subprotocols=options.subprotocols,
        compression=options.compression,
        origin_check=origin_check,
    )
    if not request._message.upgrade:
        # aiohttp's HTTP parser must agree that this is an upgrade, or it would go on
        # parsing the following bytes as HTTP.
        raise HandshakeRefused(400, "not an upgrade request")
    handler = request.protocol
    transport = request.transport
    if handler is None or transport is None:
        raise ConnectionResetError("the connection was lost before the handshake completed")

    response_headers = list(accepted.headers)
    if headers:
        response_headers.extend(headers.items())
    response = _UpgradedResponse(status=101, headers=response_headers)
    response.force_close()
    await response.prepare(request)

    if detach:
        if handler.transport is None:  # lost while the 101 was written
            raise ConnectionResetError("the connection was lost during the handshake")
        ws = _detach(handler, transport, options, accepted.deflate, accepted.subprotocol)
        if track:
            _track(request.app, ws)
        return ws, response

    protocol = open_protocol(Side.SERVER, options, accepted.deflate, options.compression)
    ws = WebSocket(
        protocol,
        _RequestHandlerLink(handler, transport),
        subprotocol=accepted.subprotocol,
        options=options,
    )
    response._ws = ws
    if track:
        _track(request.app, ws)
    # From here on aiohttp hands every byte to us, starting with the pipelined tail.
    handler.set_parser(_Feed(ws))  # type: ignore[arg-type]
    handler.keep_alive(False)
    return ws, response


def _track(app: web.Application, ws: WebSocket) -> None:
    """For close_all_on_shutdown."""
    sockets = _open_sockets.get(app)
    if sockets is None:
        sockets = _open_sockets[app] = weakref.WeakSet()
    sockets.add(ws)


def _detach(
    handler: Any,
    transport: asyncio.Transport,
    options: ServerOptions,
    deflate: DeflateParams | None,
    subprotocol: str | None,
) -> WebSocket:
    """Take the connection away from aiohttp's RequestHandler (aiohttp 3.14.5's
    web_protocol.py, read for this) right after our 101 went out through it."""
    # Bytes the HTTP parser read behind the upgrade request (data_received keeps them in
    # _message_tail until a payload parser is set): they are the first WebSocket frames.
    tail = handler._message_tail
    handler._message_tail = b""
    # No keep-alive timer, no next request: the handler's loop ends with this response.
    handler.keep_alive(False)
    # The tail buffer (3.14: _buffer_paused) or flow control may have paused reading;
    # nobody would resume it.
    reading_paused = bool(handler._reading_paused or getattr(handler, "_buffer_paused", False))
    ws = detach_transport(
        transport,
        options,
        deflate,
        subprotocol=subprotocol,
        tail=tail,
        writing_paused=bool(handler._paused),
        resume_reading=reading_paused,
    )
    # With no transport, the handler's loop does not close the connection when it ends
    # (start(): "if self.transport is not None: self.transport.close()"), nor does
    # force_close(), which ends that loop after this response (3.10's loop would otherwise
    # wait for another request forever, keeping the handler alive).
    handler.transport = None
    handler.force_close()
    # Out of the server's connection list (once the handler task ends): its shutdown()
    # would wait on and then cancel this handler, and the list would keep it alive.
    manager = handler._manager
    if manager is not None:
        manager.connection_lost(handler, None)
    return ws


def close_all_on_shutdown(
    app: web.Application,
    code: int = CloseCode.GOING_AWAY,
    reason: str = "server shutting down",
) -> None:
    """Register (before the app starts) an on_shutdown hook that runs the close handshake
    of every WebSocket this app accepted and still has open."""

    async def _close_all(app: web.Application) -> None:
        sockets = [ws for ws in _open_sockets.get(app, ()) if not ws.closed]
        if sockets:
            await asyncio.gather(*(ws.close(code, reason) for ws in sockets))

    app.on_shutdown.append(_close_all)
