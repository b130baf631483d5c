"""FrontRequest: one request read by rtio's HTTP/1.1 front, as the engine's HttpRequest
(rtio/engine/http.py) describes it.

A thin view over the parsed head (parser.RequestHead) and the connection that read it
(``Connection``, which protocol.FrontProtocol is): query and cookies are parsed on first
use, the body is read by the connection (``read_body``), the WebSocket switch is rtio.ws's
(``accept_websocket``). Knows the connection only through ``Connection`` (protocol.py
imports this module, not the other way round).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any, Protocol
from urllib.parse import unquote

from rtio.ws import ServerOptions, WebSocket

from .parser import RequestHead

__all__ = ["Connection", "FrontRequest", "parse_cookies"]


class Connection(Protocol):
    """What a request needs of the connection that read it (protocol.FrontProtocol)."""

    @property
    def transport(self) -> asyncio.Transport | None: ...

    @property
    def scheme(self) -> str: ...

    def read_body(self, request: FrontRequest, limit: int) -> Coroutine[Any, Any, bytes]: ...

    def accept_websocket(
        self, request: FrontRequest, options: ServerOptions, headers: Mapping[str, str] | None
    ) -> WebSocket: ...


def parse_cookies(header: str | None) -> dict[str, str]:
    """The cookies of a Cookie header (RFC 6265 5.4): name=value pairs separated by ';';
    a double-quoted value is unquoted; the first of a repeated name wins."""
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


class FrontRequest:
    """One request of the front, as the engine sees it."""

    __slots__ = (
        "_cookies",
        "_remote",
        "body_read",
        "connection",
        "head",
        "headers",
        "method",
        "query",
    )

    def __init__(self, connection: Connection, head: RequestHead) -> None:
        self.connection = connection
        self.head = head
        # plain attributes: the engine reads these several times per request
        self.method: str = head.method
        self.query: Mapping[str, str] = head.query
        self.headers: Mapping[str, str] = head.headers
        #: whether the body was consumed (else the connection skips or drops it)
        self.body_read = False
        self._cookies: dict[str, str] | None = None
        self._remote: str | None = None

    def __repr__(self) -> str:
        return f"<FrontRequest {self.head.method} {self.head.target}>"

    @property
    def path(self) -> str:
        return self.head.path

    @property
    def url(self) -> str:
        host = self.head.headers.get("Host") or "localhost"
        return f"{self.connection.scheme}://{host}{self.head.target}"

    @property
    def cookies(self) -> Mapping[str, str]:
        cookies = self._cookies
        if cookies is None:
            cookies = self._cookies = parse_cookies(self.head.headers.get("Cookie"))
        return cookies

    @property
    def remote(self) -> str | None:
        if self._remote is None:
            transport = self.connection.transport
            peer = transport.get_extra_info("peername") if transport is not None else None
            if isinstance(peer, tuple | list) and peer:
                self._remote = str(peer[0])
        return self._remote

    @property
    def transport(self) -> asyncio.BaseTransport | None:
        return self.connection.transport

    @property
    def content_type(self) -> str:
        return self.head.content_type

    def read_body(self, limit: int) -> Coroutine[Any, Any, bytes]:
        """The body (Content-Length or chunked), refusing more than ``limit`` bytes with
        the engine's PayloadTooLarge before buffering them. (The connection's coroutine
        itself, not one more frame around it.)"""
        return self.connection.read_body(self, limit)

    async def accept_websocket(
        self, options: ServerOptions, headers: Mapping[str, str] | None
    ) -> WebSocket:
        """Answer 101 (rtio.ws validates the handshake; HandshakeRefused when invalid) and
        give the connection to the WebSocket."""
        return self.connection.accept_websocket(self, options, headers)
