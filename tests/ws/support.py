"""Test doubles shared by the rtio.ws test modules (no tests here): an in-memory transport,
the peer at its other end, and WebSockets built over them."""

from __future__ import annotations

import asyncio
from typing import Any

from rtio.ws import ConnectionOptions, WebSocket
from rtio.ws.connection import Link
from rtio.ws.deflate import DeflateParams, PerMessageDeflate
from rtio.ws.frames import FrameParser, Opcode, serialize_frame
from rtio.ws.protocol import Side, WebSocketProtocol

MASK = b"\x11\x22\x33\x44"


class MemoryTransport(asyncio.Transport):
    """Records writes; close() ends the connection on the next loop turn unless
    ``hang_on_close`` (a peer that never reads), abort() always does."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.reading = True
        self.closing = False
        self.aborted = False
        self.hang_on_close = False
        self.high: int | None = None
        self.ws: WebSocket | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closing, "write after close"
        self.written += data

    def close(self) -> None:
        if self.closing:
            return
        self.closing = True
        if not self.hang_on_close:
            asyncio.get_running_loop().call_soon(self._lost)

    def abort(self) -> None:
        self.closing = self.aborted = True
        asyncio.get_running_loop().call_soon(self._lost)

    def _lost(self) -> None:
        assert self.ws is not None
        self.ws.receive_eof()

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.high = high

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class Peer:
    """The other end: a client protocol that reads what the WebSocket wrote."""

    def __init__(self, transport: MemoryTransport) -> None:
        self.transport = transport
        self.proto = WebSocketProtocol(Side.CLIENT, mask_key=lambda: MASK)
        self.parser = FrameParser(require_mask=False)
        self._read = 0

    def frames(self) -> list[tuple[int, bytes]]:
        """The frames written since the last call."""
        data = bytes(self.transport.written[self._read :])
        self._read += len(data)
        self.parser.feed(data)
        out = []
        while (frame := self.parser.next_frame()) is not None:
            out.append((frame.opcode, frame.payload))
        return out

    def send(self, message: str | bytes) -> bytes:
        self.proto.send_message(message)
        return self.proto.data_to_send()


def make(side: Side = Side.SERVER, **options: Any) -> tuple[WebSocket, MemoryTransport, Peer]:
    transport = MemoryTransport()
    mask = (lambda: MASK) if side is Side.CLIENT else None
    proto = WebSocketProtocol(side, mask_key=mask, deliver_before_failing=True)
    # most tests read each frame right after its send: write-through unless they ask
    opts = ConnectionOptions(**{"ping_interval": None, "coalesce_writes": False, **options})
    ws = WebSocket(proto, Link(transport), subprotocol="chat", options=opts)
    transport.ws = ws
    return ws, transport, Peer(transport)


def masked(opcode: int, payload: bytes, rsv: int = 0) -> bytes:
    return serialize_frame(opcode, payload, rsv=rsv, mask_key=MASK)


def make_deflate() -> tuple[WebSocket, MemoryTransport, WebSocketProtocol]:
    """A server WebSocket with permessage-deflate, and a client protocol reading its bytes."""
    transport = MemoryTransport()
    params = DeflateParams()
    proto = WebSocketProtocol(
        Side.SERVER, deflate=PerMessageDeflate(params, is_server=True, threshold=0)
    )
    ws = WebSocket(proto, Link(transport), options=ConnectionOptions(ping_interval=None))
    transport.ws = ws
    peer = WebSocketProtocol(
        Side.CLIENT,
        mask_key=lambda: MASK,
        deflate=PerMessageDeflate(params, is_server=False),
        max_message_size=None,
    )
    return ws, transport, peer


class Receiver:
    """A push-mode consumer that records what it gets and answers each message at once."""

    def __init__(self, ws: WebSocket, *, echo: bool = True) -> None:
        self.ws = ws
        self.echo = echo
        self.messages: list[str | bytes] = []
        self.closed: list[int | None] = []
        ws.set_receiver(self.on_message, self.on_closed)

    def on_message(self, message: str | bytes) -> None:
        self.messages.append(message)
        if message == "raise":
            raise RuntimeError("handler bug")
        if self.echo:
            self.ws.send_now(message)

    def on_closed(self) -> None:
        self.closed.append(self.ws.close_code)


class BufferedTransport(MemoryTransport):
    """A MemoryTransport whose written bytes all stay in the write buffer (nobody reads)."""

    def get_write_buffer_size(self) -> int:
        return len(self.written)


def make_buffered(**options: Any) -> tuple[WebSocket, BufferedTransport]:
    transport = BufferedTransport()
    proto = WebSocketProtocol(Side.SERVER, deliver_before_failing=True)
    opts = ConnectionOptions(**{"ping_interval": None, "coalesce_writes": False, **options})
    ws = WebSocket(proto, Link(transport), options=opts)
    transport.ws = ws
    return ws, transport


def first_fragment(opcode: Opcode, payload: bytes) -> bytes:
    """The first frame of a fragmented message (FIN clear)."""
    frame = bytearray(serialize_frame(opcode, payload, mask_key=MASK))
    frame[0] &= 0x7F
    return bytes(frame)


def continuation(payload: bytes, fin: bool = False) -> bytes:
    frame = bytearray(serialize_frame(Opcode.CONTINUATION, payload, mask_key=MASK))
    if not fin:
        frame[0] &= 0x7F
    return bytes(frame)
