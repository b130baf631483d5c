"""rtio.ws on aiohttp: answer an aiohttp request with our 101 and take the connection over.

Two ways (the aiohttp internals each one touches are rtio/aiohttp_internals.py's, with
their contract tests in tests/test_aiohttp_internals.py):

- attached (``detach=False``), as aiohttp's own web_ws.py does: after the 101 aiohttp's
  RequestHandler feeds every later byte (starting with any bytes pipelined right behind
  the upgrade request) to the WebSocket and reports the connection's end; write and read
  backpressure go through the same RequestHandler. The handler must stay in its request
  handler until the WebSocket is closed.
- detached (``detach=True``): after the 101 the transport gets our own protocol
  (stream.py) and aiohttp lets go of the connection, so that its RequestHandler, request,
  HTTP parser and handler task (about 9 kB per connection) are freed once the handler
  returns.

Also owns ``close_all_on_shutdown`` (the app's WebSockets closed on its on_shutdown).
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

import rtio.aiohttp_internals as internals

from .connection import WebSocket
from .deflate import DeflateParams
from .errors import ConnectionLost, HandshakeRefused
from .frames import CloseCode
from .handshake import server_handshake
from .link import Link
from .options import ServerOptions, open_protocol
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

    @property  # Link has a plain attribute: here it is read through aiohttp
    def writing_paused(self) -> bool:
        return internals.writing_paused(self._handler)

    @writing_paused.setter
    def writing_paused(self, value: bool) -> None:
        pass  # aiohttp's handler holds this state: the transport pauses it, not this Link

    async def drain(self) -> None:
        await internals.drain(self._handler)

    def call_when_writable(self, callback: Callable[[], None]) -> None:
        if not internals.writing_paused(self._handler):
            callback()
            return
        task = asyncio.ensure_future(internals.drain(self._handler))
        task.add_done_callback(lambda t: _then(t, callback))

    def pause_reading(self) -> None:
        self._handler.pause_reading()

    def resume_reading(self) -> None:
        self._handler.resume_reading()

    def wake_writers(self) -> None:
        pass  # aiohttp wakes its own drain waiter


def _then(task: asyncio.Future[None], callback: Callable[[], None]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a lost connection is reported by feed_eof
    callback()


class _Feed:
    """Duck-types aiohttp's WebSocketReader for RequestHandler.set_parser."""

    # slots: one per attached connection
    # (~45 B less each than an instance dict: bench_tricks.py, per-connection objects)
    __slots__ = ("_ws",)

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._ws.receive_data(data)
        return False, b""

    def feed_eof(self) -> None:
        self._ws.receive_eof()


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
    if not internals.is_upgrade(request):
        # aiohttp's HTTP parser must agree that this is an upgrade, or it would go on
        # parsing the following bytes as HTTP.
        raise HandshakeRefused(400, "not an upgrade request")
    handler = request.protocol
    transport = request.transport
    if handler is None or transport is None:
        raise ConnectionLost("the connection was lost before the handshake completed")

    response_headers = list(accepted.headers)
    if headers:
        response_headers.extend(headers.items())
    response = internals.UpgradedResponse(status=101, headers=response_headers)
    response.force_close()
    await response.prepare(request)

    if detach:
        if handler.transport is None:  # lost while the 101 was written
            raise ConnectionLost("the connection was lost during the handshake")
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
    response.on_eof = functools.partial(_close_left_open, ws)
    if track:
        _track(request.app, ws)
    # From here on aiohttp hands every byte to us, starting with the pipelined tail.
    internals.feed_to(handler, _Feed(ws))
    return ws, response


async def _close_left_open(ws: WebSocket) -> None:
    """The handler returned the response of a WebSocket it left open: close it."""
    if not ws.closed:
        await ws.close(CloseCode.NORMAL_CLOSURE)


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
    """Take the connection away from aiohttp's RequestHandler right after our 101 went out
    through it."""
    handover = internals.hand_over(handler)
    ws = detach_transport(
        transport,
        options,
        deflate,
        subprotocol=subprotocol,
        tail=handover.tail,
        writing_paused=handover.writing_paused,
        resume_reading=handover.reading_paused,
    )
    internals.let_go(handler)
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
