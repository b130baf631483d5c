"""A WebSocket that owns its transport: no HTTP server stays behind it after the 101.

``WebSocketStream`` is the transport's asyncio protocol once the opening handshake is done:
it feeds received bytes to ``WebSocket.receive_data``, the end of the connection to
``receive_eof``, and takes the transport's write pause/resume (it is the WebSocket's
``Link``, one object per connection). ``detach`` puts it on a transport some HTTP server
read the request from; ``serve_upgrade`` does the whole server side of the handshake on a
raw transport for rtio's own HTTP/1.1 front: validate, write the 101, detach.

Knows nothing of aiohttp (aiohttp_adapter.py hands its connections over through
``detach``) nor of how the request head was parsed (the caller's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping

from .connection import WebSocket
from .deflate import DeflateParams
from .handshake import server_handshake
from .link import Link
from .options import ServerOptions, open_protocol
from .protocol import Side

__all__ = ["WebSocketStream", "detach", "serialize_101", "serve_upgrade"]


class WebSocketStream(Link, asyncio.Protocol):
    """The protocol of a transport that carries one WebSocket, and that WebSocket's Link:
    bytes in, end of connection, write flow control."""

    # slots: like Link's (one per detached connection)
    __slots__ = ("ws",)

    def __init__(self, transport: asyncio.Transport, *, writing_paused: bool = False) -> None:
        super().__init__(transport)
        self.writing_paused = writing_paused
        self.ws: WebSocket | None = None

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        if ws is not None:
            ws.receive_data(data)

    def eof_received(self) -> bool:
        # The peer half-closed: a WebSocket has no use for a half-open connection (the close
        # handshake runs on frames), so returning False lets the transport close itself,
        # which calls connection_lost.
        return False

    def connection_lost(self, exc: BaseException | None = None) -> None:
        # Both asyncio's callback (the TCP connection is gone) and Link's (the WebSocket
        # says so from receive_eof, which calls it back here): the first call does it all.
        super().connection_lost()  # wakes the drain waiters
        ws, self.ws = self.ws, None
        if ws is not None:
            ws.receive_eof()


def detach(
    transport: asyncio.Transport,
    options: ServerOptions,
    deflate: DeflateParams | None,
    *,
    subprotocol: str | None,
    tail: bytes = b"",
    writing_paused: bool = False,
    resume_reading: bool = False,
    head: bytes = b"",
) -> WebSocket:
    """Make ``transport`` (the 101 written on it, or ``head``) carry a server WebSocket on
    its own, with the negotiated permessage-deflate ``deflate`` (None: none): our protocol
    on the transport, ``tail`` (bytes already read behind the request) fed first.
    ``head``: the 101 not written yet; it becomes the WebSocket's first write, which goes
    out with whatever the WebSocket writes in the same loop iteration (see
    ``Link.write_first``).
    ``writing_paused``: the transport had paused the previous protocol's writes (its resume
    will come to us); ``resume_reading``: the previous protocol had paused
    reading, which nobody else would resume."""
    stream = WebSocketStream(transport, writing_paused=writing_paused)
    # ours before the WebSocket sets the transport's write limit, which may pause writing
    # at once: that pause must come to us, not to the previous protocol
    transport.set_protocol(stream)
    ws = WebSocket(
        open_protocol(Side.SERVER, options, deflate, options.compression),
        stream,
        subprotocol=subprotocol,
        options=options,
    )
    stream.ws = ws
    if head:
        stream.write_first(head)
    if resume_reading:
        stream.resume_reading()
    if tail:
        ws.receive_data(bytes(tail))  # a copy: the caller's buffer may be a bytearray
    return ws


def serve_upgrade(
    transport: asyncio.Transport,
    method: str,
    version: tuple[int, int],
    headers: Iterable[tuple[str, str]],
    *,
    options: ServerOptions,
    origin_check: Callable[[str | None], bool] | None = None,
    extra_headers: Mapping[str, str] | None = None,
    tail: bytes = b"",
    writing_paused: bool = False,
) -> WebSocket:
    """Validate the opening handshake (raises HandshakeRefused with status/reason/headers,
    having written nothing), write the 101 (plus extra_headers), put our protocol on the
    transport, feed ``tail`` (bytes already read behind the request) and return the
    WebSocket (detached: nothing of the HTTP front stays behind it)."""
    accepted = server_handshake(
        method,
        version,
        headers,
        subprotocols=options.subprotocols,
        compression=options.compression,
        origin_check=origin_check,
    )
    response = accepted.headers
    if extra_headers:
        response = [*response, *extra_headers.items()]
    # the 101 leaves with the frames written behind it in this loop iteration (an
    # Engine.IO open packet): one write syscall for both
    return detach(
        transport,
        options,
        accepted.deflate,
        subprotocol=accepted.subprotocol,
        tail=tail,
        writing_paused=writing_paused,
        head=serialize_101(response),
    )


def serialize_101(headers: Iterable[tuple[str, str]]) -> bytes:
    """The head of a 101 Switching Protocols response (4.2.2)."""
    lines = ["HTTP/1.1 101 Switching Protocols"]
    for name, value in headers:
        # a CR or LF in a header would end the head early: response splitting
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value or ":" in name:
            raise ValueError(f"invalid response header {name!r}")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")
