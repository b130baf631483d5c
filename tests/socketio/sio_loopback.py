"""A loopback harness for the Socket.IO layer: no sockets, no HTTP.

:class:`Peer` plays one Engine.IO session: it drives the server's engine handler the way
rtio.engine does (on_connect / on_message / on_disconnect) and records the Engine.IO
messages the server sends, so tests read the Socket.IO packets exactly as they would
travel on the wire.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from multidict import CIMultiDict

import rtio
from rtio.engine import CloseReason, HandshakeRequest, PreparedPacket

_ids = itertools.count()


class FakeSession:
    """The part of rtio.engine's EngineSession the Socket.IO layer uses."""

    def __init__(self, handler: Any, headers: dict[str, str], query: dict[str, str]) -> None:
        self.sid = f"eio{next(_ids)}"
        self.request = HandshakeRequest(
            method="GET",
            url="http://127.0.0.1/socket.io/?EIO=4&transport=websocket",
            path="/socket.io/",
            headers=CIMultiDict(headers),
            query=query,
            remote="127.0.0.1",
        )
        self.transport = "websocket"
        self.state: object = None
        #: every message sent, as the engine would put it on the wire (text without "4")
        self.sent: list[str | bytes] = []
        #: the very objects passed to send() (to check a broadcast is encoded once)
        self.raw: list[object] = []
        #: the compress flag each message was sent with
        self.compressed: list[bool] = []
        self.connected = True
        self.closed = False
        #: what the engine's writable reports (a test sets it False: a paused transport)
        self.writable = True
        self._handler = handler

    def send(self, data: str | bytes | PreparedPacket, compress: bool = True) -> None:
        if not self.connected:
            return
        self.raw.append(data)
        self.compressed.append(compress)
        if isinstance(data, PreparedPacket):
            item = data.item
            self.sent.append(item[1:] if isinstance(item, str) else item)
        else:
            self.sent.append(data)

    def close(self) -> None:
        """The engine's server close: reported at once, as over WebSocket."""
        self.end(CloseReason.FORCED_CLOSE)

    def end(self, reason: CloseReason) -> None:
        if self.closed:
            return
        self.closed = True
        self.connected = False
        self.writable = False
        self._handler.on_disconnect(self, reason, reason.value)


class Peer:
    """One client connection to ``sio``, packets in and out as wire messages."""

    def __init__(
        self,
        sio: rtio.Server,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> None:
        self.handler = sio.engine.handler
        self.session = FakeSession(self.handler, headers or {}, query or {})
        self.handler.on_connect(self.session)  # type: ignore[arg-type]

    def feed(self, *messages: str | bytes) -> None:
        for message in messages:
            self.handler.on_message(self.session, message)  # type: ignore[arg-type]

    def take(self) -> list[str | bytes]:
        out, self.session.sent = self.session.sent, []
        self.session.compressed = []
        return out

    async def connect(self, nsp: str = "/", auth: str = "") -> str:
        """CONNECT and return the socket id from the reply."""
        prefix = "" if nsp == "/" else nsp + ","
        self.feed(f"0{prefix}{auth}")
        await settle()
        for k, message in enumerate(self.session.sent):
            if isinstance(message, str) and message.startswith(f"0{prefix}{{"):
                del self.session.sent[k]
                import json

                sid: str = json.loads(message[1 + len(prefix) :])["sid"]
                return sid
        raise AssertionError(f"no CONNECT reply in {self.session.sent}")


async def settle(rounds: int = 20) -> None:
    """Let every ready task run (handlers that awaited nothing slow)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def record(sio: rtio.Server, nsp: str = "/") -> list[tuple[str, Any, Any]]:
    log: list[tuple[str, Any, Any]] = []

    @sio.on("disconnecting", namespace=nsp)
    async def disconnecting(socket: rtio.Socket, reason: rtio.DisconnectReason) -> None:
        log.append(("disconnecting", reason, socket.rooms))

    @sio.on("disconnect", namespace=nsp)
    async def disconnect(socket: rtio.Socket, reason: rtio.DisconnectReason) -> None:
        log.append(("disconnect", reason, socket.rooms))

    return log


def echo_server(parser: object | None = None) -> rtio.Server:
    sio = rtio.Server(connect_timeout=None, parser=parser)  # type: ignore[arg-type]

    @sio.on("echo")
    def echo(socket: rtio.Socket, *args: object) -> object:
        return args  # a tuple: each argument back

    @sio.on("aecho")
    async def aecho(socket: rtio.Socket, *args: object) -> object:
        await asyncio.sleep(0)
        return args

    @sio.on("obj")
    def obj(socket: rtio.Socket) -> object:
        return object()

    @sio.on("callback")
    async def callback(socket: rtio.Socket, *, ack: Callable[..., None]) -> None:
        await asyncio.sleep(0)
        ack({"x": object()})

    return sio


async def crowd(sio: rtio.Server, n: int) -> list[tuple[Peer, rtio.Socket]]:
    out = []
    for _ in range(n):
        peer = Peer(sio)
        sid = await peer.connect()
        peer.take()
        out.append((peer, sio.sockets[sid]))
    return out
