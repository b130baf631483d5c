"""The one place rtio touches aiohttp's private internals: each touch, why, and the aiohttp
versions it is tested on (3.10 and the newest below 3.15).

Every function here names the private member it uses and what rtio needs it for; its
contract test in tests/test_aiohttp_internals.py checks that aiohttp still behaves that
way, so an aiohttp upgrade that breaks a contract breaks one test, not the product. This is
the only rtio module exempt from ruff's private-member rule (SLF001). It is a top-level
module, not a layer: rtio.ws and rtio.http may import it; it imports no part of rtio.

The touches, and why:

- The WebSocket takeover (rtio.ws): ``is_upgrade``, ``writing_paused``, ``drain``,
  ``feed_to``, ``hand_over``, ``let_go``, ``UpgradedResponse`` (see the section below).
- The HTTP front (rtio.http):

  - ``set_site_server``: ``rtio.http.FrontSite`` listens with rtio's own protocol factory, so
  it creates its listening server itself, then sets ``BaseSite._server`` to it, as aiohttp's
  own sites do in ``start()``: ``BaseSite.stop()`` closes that server, and
  ``BaseRunner.addresses`` lists its sockets. (aiohttp has no public way to give a site a
  server it did not create.)
- ``hand_off``: a connection the front has started reading (its bytes already received)
  is given to aiohttp's protocol for the rest of its life: a fresh ``RequestHandler`` from
  ``runner.server`` (a ``web.Server``, aiohttp's protocol factory) is attached to the
  transport with ``connection_made`` and fed the bytes read so far. aiohttp documents
  ``web.Server`` as a protocol factory for ``loop.create_server``, not a handler that
  takes over a connection mid-stream; this relies on ``RequestHandler`` parsing from
  whatever ``data_received`` gives it first and honouring ``pause_writing`` at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, Protocol

from aiohttp import web

__all__ = [
    "Handover",
    "UpgradedResponse",
    "drain",
    "feed_to",
    "hand_off",
    "hand_over",
    "is_upgrade",
    "let_go",
    "set_site_server",
    "writing_paused",
]


# -- WebSocket takeover (rtio.ws) ------------------------------------------------------
#
# After rtio.ws answered an upgrade request with its own 101 (aiohttp_adapter.py), the
# connection is taken over from aiohttp's RequestHandler (web_protocol.py, read for this in
# 3.10 and 3.14.5) in one of two ways:
# - attached: aiohttp goes on reading the socket and feeds every later byte to our parser,
#   as aiohttp's own web_ws.py does (``feed_to``); flow control goes through the handler
#   (``writing_paused``, ``drain``);
# - detached: the transport gets rtio's own protocol and aiohttp lets go of the connection
#   (``hand_over`` then ``let_go``), so that its RequestHandler, request, HTTP parser and
#   handler task (~9 kB per connection, benchmarks/ws/bench_idle.py) are freed.


class Feed(Protocol):
    """What RequestHandler.set_parser needs (it duck-types aiohttp's WebSocketReader)."""

    def feed_data(self, data: bytes) -> tuple[bool, bytes]: ...

    def feed_eof(self) -> None: ...


def is_upgrade(request: web.Request) -> bool:
    """aiohttp's HTTP parser agrees that ``request`` is an upgrade (``_message.upgrade``):
    otherwise it would go on parsing the bytes behind it as HTTP."""
    return bool(request._message.upgrade)


def writing_paused(handler: Any) -> bool:
    """The transport paused the handler's writes (``BaseProtocol._paused``: the public
    ``writing_paused`` property is 3.12+ only)."""
    return bool(handler._paused)


def drain(handler: Any) -> Awaitable[None]:
    """Resolves once the handler's writes resume (``BaseProtocol._drain_helper``: aiohttp's
    drain waiter is the only signal of its ``resume_writing``), or once the connection is
    lost (resolved, or a ConnectionError: the caller checks its own state after it)."""
    return handler._drain_helper()  # type: ignore[no-any-return]


def feed_to(handler: Any, feed: Feed) -> None:
    """Attached takeover: from now on the handler feeds every byte it reads (starting with
    any bytes pipelined right behind the upgrade request) to ``feed.feed_data`` and calls
    ``feed.feed_eof`` when the connection is lost (``set_parser``); ``keep_alive(False)``
    keeps it from reading another HTTP request afterwards."""
    handler.set_parser(feed)
    handler.keep_alive(False)


class Handover(NamedTuple):
    """What a detached takeover takes from the handler."""

    tail: bytes  # bytes read behind the upgrade request: the first WebSocket frames
    reading_paused: bool  # the handler paused reading, and nobody else would resume it
    writing_paused: bool  # the transport paused writes: its resume will come to us


def hand_over(handler: Any) -> Handover:
    """Detached takeover, before our protocol goes on the transport: what the handler read
    and paused."""
    # data_received keeps the bytes behind the upgrade request in _message_tail until a
    # payload parser is set; they are ours
    tail = handler._message_tail
    handler._message_tail = b""
    # no keep-alive timer, no next request: the handler's loop ends with this response
    handler.keep_alive(False)
    # the tail buffer (3.14: _buffer_paused) or flow control may have paused reading
    reading_paused = bool(handler._reading_paused or getattr(handler, "_buffer_paused", False))
    return Handover(tail, reading_paused, writing_paused(handler))


def let_go(handler: Any) -> None:
    """Detached takeover, after our protocol went on the transport: the handler forgets
    the connection."""
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


class UpgradedResponse(web.StreamResponse):
    """The 101 response. aiohttp calls ``write_eof()`` when the handler returns it, which
    is where ``on_eof`` (the close handshake of a WebSocket the handler left open) runs;
    ``_eof_sent`` is how StreamResponse itself makes write_eof run once."""

    on_eof: Callable[[], Awaitable[None]] | None = None

    async def write_eof(self, data: bytes = b"") -> None:
        if self._eof_sent:
            return
        self._eof_sent = True
        if self.on_eof is not None:
            await self.on_eof()


# -- the HTTP front (rtio.http) ------------------------------------------------------


def set_site_server(site: web.BaseSite, server: asyncio.AbstractServer) -> None:
    """Make ``server`` the listening server of ``site`` (what ``TCPSite.start`` does with
    the server it creates): ``site.stop()`` closes it, ``runner.addresses`` lists it."""
    site._server = server  # (BaseSite's server slot: no public setter)


def hand_off(
    protocol_factory: Callable[[], asyncio.Protocol],
    transport: asyncio.Transport,
    received: bytes,
    *,
    writing_paused: bool,
) -> asyncio.Protocol:
    """Give ``transport`` to a new protocol of ``protocol_factory`` (aiohttp's
    ``web.Server``): it is attached, told that writing is paused when it is, then fed
    ``received`` (the bytes read so far, from the start of a request). Returns it."""
    protocol = protocol_factory()
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    if writing_paused:
        protocol.pause_writing()
    protocol.data_received(received)
    return protocol
