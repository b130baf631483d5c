"""What the engine needs of an HTTP server, so that the same Engine.IO code runs behind
either front:

- aiohttp's web stack (``EngineServer.attach(app)``: a route; aiohttp_front.py adapts a
  ``web.Request``), or
- rtio's own HTTP/1.1 front (``rtio.http``): a small asyncio protocol that answers the
  Engine.IO path itself, with no Request/Response objects, and hands any other request of
  the connection to aiohttp.

The engine handles one request with ``await EngineServer.handle(request)`` and gets an
``HttpResponse`` back, or None once the request was switched to a WebSocket (the 101 was
written by ``request.accept_websocket``; nothing more is answered on that connection).

Contract of a front (tests/engine/test_http_contract.py checks both):
- ``query``: the first value of each query parameter, percent-decoded;
  ``headers``: case-insensitive lookup, the first value of each header.
- ``read_body(limit)`` raises PayloadTooLarge beyond ``limit`` bytes before buffering them.
- If the client's connection is lost while ``handle`` is awaiting (a long-poll GET), the
  task running ``handle`` is cancelled (aiohttp's handler cancellation does this).
- ``accept_websocket`` answers 101 with rtio.ws's handshake (raising HandshakeRefused when
  the handshake is invalid) and returns a WebSocket that lives on its own: returning from
  ``handle`` does not close it.
- The front adds Content-Length (and Date/Server if it wants) to ``HttpResponse.headers``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

from rtio.ws import ServerOptions, WebSocket

__all__ = ["HttpRequest", "HttpResponse"]


class HttpResponse:
    """An answer: status, headers (besides Content-Length), body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"HttpResponse({self.status}, {self.headers!r}, {self.body[:40]!r})"


class HttpRequest(Protocol):
    """One HTTP request, as a front gives it to the engine."""

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def query(self) -> Mapping[str, str]: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def cookies(self) -> Mapping[str, str]: ...

    @property
    def remote(self) -> str | None: ...

    @property
    def transport(self) -> asyncio.BaseTransport | None:
        """The connection (a pending poll checks ``is_closing()`` before it is answered)."""
        ...

    @property
    def content_type(self) -> str:
        """The media type of Content-Type, without parameters, lower-case ('' if none)."""
        ...

    async def read_body(self, limit: int) -> bytes: ...

    async def accept_websocket(
        self, options: ServerOptions, headers: Mapping[str, str] | None
    ) -> WebSocket: ...
