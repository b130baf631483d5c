"""The client role on asyncio: ``connect(url)`` opens a TCP (or TLS) connection, runs the
opening handshake (4.1) and returns the same WebSocket object the server side uses.

Glue only: the request bytes, the response parsing and every check of the server's answer
(status, Sec-WebSocket-Accept, subprotocol, extensions) are the sans-I/O handshake module's;
framing, masking and the close handshake are the protocol's. This module owns the socket,
the randomness (the handshake key and the mask keys, 5.3: "The masking key MUST be derived
from a strong source of entropy") and the open timeout.
"""

from __future__ import annotations

import asyncio
import os
import ssl as ssl_module
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import cast

from .connection import WebSocket
from .deflate import DeflateOptions
from .errors import InvalidHandshakeResponse
from .handshake import (
    HandshakeResponse,
    check_response,
    client_request_headers,
    generate_key,
    parse_response,
    serialize_request,
)
from .link import Link
from .options import ConnectionOptions, open_protocol
from .protocol import Side

__all__ = ["MaskKeys", "connect", "parse_url"]


class MaskKeys:
    """Fresh 4-byte mask keys from the OS's CSPRNG, drawn 4 KiB at a time (one system call
    per 1024 frames instead of one per frame). Every key is used once."""

    # slots: one per client connection
    # (~45 B less each than an instance dict: bench_tricks.py, per-connection objects)
    __slots__ = ("_pool", "_pos")

    _CHUNK = 4096

    def __init__(self) -> None:
        self._pool = b""
        self._pos = 0

    def __call__(self) -> bytes:
        pos = self._pos
        if pos >= len(self._pool):
            self._pool = os.urandom(self._CHUNK)
            pos = 0
        self._pos = pos + 4
        return self._pool[pos : pos + 4]


def parse_url(url: str) -> tuple[bool, str, int, str, str]:
    """(secure, host, port, request target, Host header) of a ws:// or wss:// URL (3)."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise ValueError(f"not a WebSocket URL: {url!r}")
    # 3: "Fragment identifiers are meaningless in the context of WebSocket URIs and MUST
    # NOT be used on these URIs."
    if parts.fragment:
        raise ValueError("a WebSocket URL has no fragment")
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in {url!r}")
    secure = scheme == "wss"
    default_port = 443 if secure else 80
    port = parts.port or default_port
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    host_header = f"[{host}]" if ":" in host else host
    if port != default_port:
        host_header += f":{port}"
    return secure, host, port, target, host_header


class _ClientConnection(asyncio.Protocol):
    """The transport's protocol: buffers the response head, then feeds the WebSocket."""

    def __init__(self, max_head: int) -> None:
        self.transport: asyncio.Transport | None = None
        self.link: Link | None = None  # flow control: pause/resume are forwarded to it
        self.ws: WebSocket | None = None
        self._buffer = bytearray()
        self._max_head = max_head
        self._lost = False
        self.head: asyncio.Future[tuple[HandshakeResponse, int]] = (
            asyncio.get_running_loop().create_future()
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        self.link = Link(self.transport)

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        if ws is not None:
            ws.receive_data(data)
            return
        self._buffer += data
        if self.head.done():
            return
        try:
            parsed = parse_response(self._buffer, self._max_head)
        except InvalidHandshakeResponse as exc:
            self.head.set_exception(exc)
            return
        if parsed is not None:
            self.head.set_result(parsed)

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if not self.head.done():
            self.head.set_exception(
                InvalidHandshakeResponse("the connection closed during the handshake")
            )
        if self.ws is not None:
            self.ws.receive_eof()
        elif self.link is not None:
            self.link.connection_lost()

    def pause_writing(self) -> None:
        if self.link is not None:
            self.link.pause_writing()

    def resume_writing(self) -> None:
        if self.link is not None:
            self.link.resume_writing()

    def attach(self, ws: WebSocket, consumed: int) -> None:
        """Hand the connection to ``ws``: the bytes that followed the response head (and
        any that arrived since) go to it first."""
        self.ws = ws
        tail = bytes(self._buffer[consumed:])
        self._buffer = bytearray()
        if tail:
            ws.receive_data(tail)
        if self._lost:
            ws.receive_eof()


async def connect(
    url: str,
    *,
    subprotocols: Sequence[str] = (),
    compression: DeflateOptions | None = None,
    origin: str | None = None,
    headers: Mapping[str, str] | None = None,
    options: ConnectionOptions | None = None,
    open_timeout: float | None = 10.0,
    ssl: ssl_module.SSLContext | None = None,
    max_response_head: int = 16384,
) -> WebSocket:
    """Open a WebSocket to ``url`` (ws:// or wss://) and return it once the server accepted.

    - subprotocols: offered in order of preference; the server's choice is ``.subprotocol``.
    - compression: offer permessage-deflate with these parameters (None: do not offer).
    - origin, headers: an Origin header and extra request headers.
    - options: limits and timers of the connection (ConnectionOptions).
    - open_timeout: limit on connecting plus the opening handshake (None: no limit).
    - ssl: the TLS context for wss:// (default: the system's default context).

    Raises InvalidHandshakeResponse when the server's answer is not an acceptable 101,
    OSError when the connection cannot be made, asyncio.TimeoutError after open_timeout.
    """
    secure, host, port, target, host_header = parse_url(url)
    if secure and ssl is None:
        ssl = ssl_module.create_default_context()
    elif not secure and ssl is not None:
        raise ValueError("an SSL context with a ws:// URL")
    coro = _open(
        host,
        port,
        target,
        host_header,
        subprotocols=tuple(subprotocols),
        compression=compression,
        origin=origin,
        headers=headers,
        options=options or ConnectionOptions(),
        ssl=ssl,
        max_head=max_response_head,
    )
    if open_timeout is None:
        return await coro
    return await asyncio.wait_for(coro, open_timeout)


async def _open(
    host: str,
    port: int,
    target: str,
    host_header: str,
    *,
    subprotocols: tuple[str, ...],
    compression: DeflateOptions | None,
    origin: str | None,
    headers: Mapping[str, str] | None,
    options: ConnectionOptions,
    ssl: ssl_module.SSLContext | None,
    max_head: int,
) -> WebSocket:
    loop = asyncio.get_running_loop()
    transport, conn = await loop.create_connection(
        lambda: _ClientConnection(max_head), host, port, ssl=ssl
    )
    try:
        key = generate_key(os.urandom(16))
        request_headers = client_request_headers(
            host_header, key, subprotocols=subprotocols, compression=compression, origin=origin
        )
        if headers:
            request_headers.extend(headers.items())
        transport.write(serialize_request(target, request_headers))
        response, consumed = await conn.head
        subprotocol, params = check_response(
            response.status,
            response.headers,
            key,
            subprotocols=subprotocols,
            compression=compression,
        )
        protocol = open_protocol(
            Side.CLIENT, options, params, compression, mask_key=MaskKeys()
        )
        assert conn.link is not None
        ws = WebSocket(protocol, conn.link, subprotocol=subprotocol, options=options)
        conn.attach(ws, consumed)
    except BaseException:
        transport.abort()
        raise
    return ws
