"""What a peer can make the WebSocket layer hold is bounded (issue 12, defects 1 and 5):

- defect 1: a peer that sends pings and never reads cannot make the server buffer pongs
  without limit (reading pauses while the write buffer is above write_limit, pongs queued
  meanwhile collapse to the latest, and max_write_buffer aborts a connection whose
  application writes past it);
- defect 5: an endless fragmented message costs no memory per fragment, is cut off after
  max_fragments frames, and after message_timeout seconds.

Figures are asserted as bounds: bytes buffered for the peer, bytes allocated (tracemalloc),
the close code; none of them depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from rtio.ws import ConnectionClosed, ConnectionOptions, ServerOptions, WebSocket, accept
from rtio.ws.connection import Link, open_protocol
from rtio.ws.frames import FrameParser, Opcode, serialize_frame
from rtio.ws.handshake import accept_key, parse_response
from rtio.ws.protocol import Side, State, WebSocketProtocol

from .test_connection import MemoryTransport, make, masked

MASK = b"\x01\x02\x03\x04"

# -- defect 1: a ping flood from a peer that does not read ------------------------------


class _Echo:
    """An aiohttp app with one echo endpoint, in push mode on a detached WebSocket (the
    engine's way) or in iterator mode on an attached one (``async for`` + ``send``)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.options = ServerOptions(ping_interval=None, close_timeout=2)
        self.accepted: asyncio.Queue[WebSocket] = asyncio.Queue()
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.mode == "push":
            ws, response = await accept(request, options=self.options, detach=True)

            def on_message(message: str | bytes) -> None:
                ws.send_now(message)

            ws.set_receiver(on_message, lambda: None)
            self.accepted.put_nowait(ws)
            return response
        ws, response = await accept(request, options=self.options)
        self.accepted.put_nowait(ws)
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass
        return response


@pytest.fixture(params=["push", "iterator"])
async def echo(request: pytest.FixtureRequest) -> AsyncIterator[_Echo]:
    server = _Echo(request.param)
    app = web.Application()
    app.router.add_get("/ws", server.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield server
    await runner.cleanup()


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    buffer = b""
    while (parsed := parse_response(buffer)) is None:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        assert chunk
        buffer += chunk
    response, consumed = parsed
    assert response.status == 101
    assert dict(response.headers)["Sec-WebSocket-Accept"] == accept_key(key)
    return reader, writer, buffer[consumed:]


async def test_a_ping_flood_from_a_peer_that_does_not_read_is_bounded(echo: _Echo) -> None:
    """Issue 12 defect 1: 125-byte pings from a client that never reads. Before, every pong
    was buffered (8 MB of pings -> megabytes waiting in the server's write buffer); now
    the server stops reading once its write buffer passes write_limit, so what waits for
    the peer stays under write_limit plus one read of pongs; once the client reads, the
    connection goes on."""
    reader, writer, tail = await _open(echo.port)
    # the client does not read (its StreamReader stops reading from the socket once it
    # holds 128 kB; the kernel then holds what fits in its receive buffer)
    ws = await asyncio.wait_for(echo.accepted.get(), 5)
    ping = serialize_frame(Opcode.PING, b"p" * 125, mask_key=MASK)
    chunk = ping * 1000  # 131 kB
    loop = asyncio.get_running_loop()
    sent = peak = 0
    deadline = loop.time() + 4
    while sent < 8 << 20 and loop.time() < deadline:
        writer.write(chunk)
        try:
            await asyncio.wait_for(writer.drain(), 0.3)
        except TimeoutError:
            break  # the server stopped reading: the kernel buffers are full
        sent += len(chunk)
        peak = max(peak, ws.transport.get_write_buffer_size())
    # let the server read whatever it will read
    for _ in range(20):
        await asyncio.sleep(0.02)
        peak = max(peak, ws.transport.get_write_buffer_size())
    bound = echo.options.write_limit + (256 << 10) + len(ping)
    assert peak <= bound, f"{peak} bytes buffered for a peer that does not read"
    assert not ws.closed

    # the client reads again: the pongs drain, reading resumes, an echo comes back
    writer.write(serialize_frame(Opcode.TEXT, b"still there?", mask_key=MASK))
    parser = FrameParser(require_mask=False)
    parser.feed(tail)
    got = None
    end = loop.time() + 20
    while got is None and loop.time() < end:
        frame = parser.next_frame()
        if frame is None:
            data = await asyncio.wait_for(reader.read(1 << 20), 10)
            assert data, "the server closed the connection"
            parser.feed(data)
            continue
        if frame.opcode == Opcode.TEXT:
            got = frame.payload
        else:
            assert (frame.opcode, frame.payload) == (Opcode.PONG, b"p" * 125)
    assert got == b"still there?"
    writer.close()


class _BufferedTransport(MemoryTransport):
    """A MemoryTransport whose written bytes all stay in the write buffer (nobody reads)."""

    def get_write_buffer_size(self) -> int:
        return len(self.written)


def _make_buffered(**options: Any) -> tuple[WebSocket, _BufferedTransport]:
    transport = _BufferedTransport()
    proto = WebSocketProtocol(Side.SERVER, deliver_before_failing=True)
    opts = ConnectionOptions(**{"ping_interval": None, "coalesce_writes": False, **options})
    ws = WebSocket(proto, Link(transport), options=opts)
    transport.ws = ws
    return ws, transport


async def test_reading_pauses_while_writes_are_paused_and_pongs_collapse() -> None:
    """Issue 12 defect 1, in both receiving modes: with the write buffer above write_limit,
    the read that sees it is the last until the buffer drains, and a ping arriving
    meanwhile (bytes already read) replaces the pong still queued instead of adding one."""
    for push in (False, True):
        ws, transport, peer = make()
        if push:
            ws.set_receiver(lambda message: None, lambda: None)
        link = ws._link
        link.pause_writing()
        pings = [masked(Opcode.PING, b"%d" % i) for i in range(5)]
        ws.receive_data(b"".join(pings[:3]))
        assert not transport.reading  # paused for the writes
        assert [p for _, p in peer.frames()] == [b"0", b"1", b"2"]  # that read answered
        # bytes already read when reading paused: of the pongs queued together, only the
        # latest ping's goes out, in the place of the first (before the frame behind it)
        ws.receive_data(pings[3] + peer.send("behind") + pings[4])
        assert [p for _, p in peer.frames()] == [b"4"]
        link.resume_writing()
        for _ in range(3):
            await asyncio.sleep(0)
        assert transport.reading  # drained: reading again
        ws.receive_data(b"".join(pings[:2]))
        assert [p for _, p in peer.frames()][-2:] == [b"0", b"1"]  # every ping answered


async def test_queue_full_and_writes_paused_resume_reading_only_when_both_clear() -> None:
    ws, transport, peer = make(max_queue=2)
    link = ws._link
    ws.receive_data(peer.send("a") + peer.send("b"))
    assert not transport.reading  # the queue is full
    link.pause_writing()
    ws.receive_data(peer.send("c"))  # bytes read before the pause took effect
    assert [await ws.recv(), await ws.recv()] == ["a", "b"]
    assert not transport.reading  # the queue has room, the writes are still paused
    link.resume_writing()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert transport.reading


async def test_a_write_past_max_write_buffer_aborts_with_1008(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 12 defect 1: an application that ignores backpressure (send_now's False) can
    queue at most max_write_buffer bytes for a peer that does not read; the next write
    aborts the connection (no close frame: the peer would not read it), close_code 1008,
    with a warning naming the option."""
    ws, transport = _make_buffered(max_write_buffer=100_000, write_limit=10_000)
    ws._link.pause_writing()
    closed: list[int | None] = []
    ws.set_receiver(lambda message: None, lambda: closed.append(ws.close_code))
    with caplog.at_level(logging.WARNING, logger="rtio.ws"):
        for _ in range(100):
            if ws.closed or transport.aborted:
                break
            ws.send_now(b"x" * 10_000)
    assert transport.aborted
    # at most the limit, the frame that found it passed, and the one that found out
    assert len(transport.written) <= 100_000 + 2 * 10_010
    with pytest.raises(ConnectionClosed):
        ws.send_now(b"late")
    await asyncio.sleep(0)
    assert closed == [1008]
    assert ws.close_code == 1008
    assert "peer not reading" in ws.close_reason
    assert "max_write_buffer" in caplog.text
    assert len(caplog.records) == 1  # one line per connection


async def test_a_ping_flood_past_max_write_buffer_aborts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 12 defect 1: pongs count against max_write_buffer too (a peer flooding pings
    while the application's writes fill the buffer)."""
    ws, transport = _make_buffered(max_write_buffer=4096)
    ws._link.pause_writing()
    ws.send_now(b"y" * 5000)
    ping = masked(Opcode.PING, b"p" * 125)
    with caplog.at_level(logging.WARNING, logger="rtio.ws"):
        for _ in range(10):
            if transport.aborted:
                break
            ws.receive_data(ping)
        await asyncio.sleep(0)
    assert transport.aborted
    assert ws.close_code == 1008
    assert len(caplog.records) == 1 and "max_write_buffer" in caplog.text


async def test_max_fragments_on_a_connection_closes_with_1008_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 12 defect 5: the option reaches the protocol; the failure is logged once."""
    proto = open_protocol(Side.SERVER, ConnectionOptions(max_fragments=3), None, None)
    assert proto.max_fragments == 3
    ws, _transport, peer = make()  # (make builds its protocol itself)
    ws._proto.max_fragments = 3
    with caplog.at_level(logging.WARNING, logger="rtio.ws"):
        ws.receive_data(_first(Opcode.BINARY, b"a") + _cont(b"b") + _cont(b"c") + _cont(b"d"))
        await asyncio.sleep(0)
    assert ws.close_code == 1008
    closes = [payload for opcode, payload in peer.frames() if opcode == Opcode.CLOSE]
    assert closes and closes[0][:2] == (1008).to_bytes(2, "big")
    assert [r.getMessage() for r in caplog.records] == [
        "WebSocket failed with 1008: message in more than 3 fragments"
    ]


def test_default_limits() -> None:
    options = ConnectionOptions()
    assert options.max_write_buffer == 16 * 1024 * 1024  # Engine.IO's max_buffered_bytes
    # Autobahn 9.3.1/9.4.1: 4 MiB in 64-byte fragments
    assert options.max_fragments is not None and options.max_fragments >= (4 << 20) // 64
    assert options.message_timeout is not None and options.message_timeout >= 30


# -- defect 5: an endless fragmented message --------------------------------------------


def _feed_in_chunks(proto: WebSocketProtocol, frames: bytes, size: int = 1 << 16) -> list[Any]:
    events: list[Any] = []
    for i in range(0, len(frames), size):
        events += proto.receive_data(frames[i : i + size])
    return events


@pytest.mark.parametrize("opcode", [Opcode.BINARY, Opcode.TEXT])
def test_empty_fragments_cost_no_memory(opcode: Opcode) -> None:
    """Issue 12 defect 5: 50,000 empty continuation frames (no fragment limit) used to
    grow a list by 8 bytes each (+400 kB here, +74 MB for 10 M); now a message's
    fragments share one buffer: the growth is its bytes, whatever the frame count."""
    proto = WebSocketProtocol(Side.SERVER, max_message_size=1 << 20)
    assert proto.receive_data(_first(opcode, b"ab")) == []
    batch = _cont(b"") * 10_000
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(5):
            assert _feed_in_chunks(proto, batch) == []
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert proto.state is State.OPEN
    assert grown < 64 << 10, f"+{grown} bytes for 50,000 empty fragments"
    last = serialize_frame(Opcode.CONTINUATION, b"cd", mask_key=MASK)
    assert proto.receive_data(last) == (["abcd"] if opcode == Opcode.TEXT else [b"abcd"])


def _first(opcode: Opcode, payload: bytes) -> bytes:
    """The first frame of a fragmented message (FIN clear)."""
    frame = bytearray(serialize_frame(opcode, payload, mask_key=MASK))
    frame[0] &= 0x7F
    return bytes(frame)


def _cont(payload: bytes, fin: bool = False) -> bytes:
    frame = bytearray(serialize_frame(Opcode.CONTINUATION, payload, mask_key=MASK))
    if not fin:
        frame[0] &= 0x7F
    return bytes(frame)


@pytest.mark.parametrize("opcode", [Opcode.BINARY, Opcode.TEXT])
def test_tiny_fragments_cost_the_message_bytes_only(opcode: Opcode) -> None:
    """Issue 12 defect 5: 64 kB in 2-byte fragments used to cost ~25x its size (a bytes
    or str object per fragment: +26 MB per MB); now about its size (the buffer, the
    message)."""
    proto = WebSocketProtocol(Side.SERVER, max_message_size=1 << 20)  # no fragment limit
    size = 64 << 10
    frames = _first(opcode, b"ab") + _cont(b"ab") * (size // 2 - 2) + _cont(b"ab", fin=True)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        events = _feed_in_chunks(proto, frames)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(events) == 1 and len(events[0]) == size
    grown = peak - base
    assert grown < 4 * size, f"peak +{grown} bytes for a {size}-byte message in 2-byte pieces"


def test_max_fragments_fails_with_1008() -> None:
    """Issue 12 defect 5: the frames of one message are counted; one more than
    max_fragments fails the connection with 1008 and a reason naming the limit."""
    proto = WebSocketProtocol(Side.SERVER, max_fragments=10)
    events = proto.receive_data(_first(Opcode.BINARY, b"x") + _cont(b"x") * 9)
    assert events == [] and proto.state is State.OPEN  # 10 frames: at the limit
    proto.receive_data(_cont(b"x"))
    assert proto.state is State.CLOSED
    assert proto.close_code == 1008
    assert "more than 10 fragments" in proto.close_reason
    out = FrameParser(require_mask=False)
    out.feed(proto.data_to_send())
    frame = out.next_frame()
    assert frame is not None and frame.opcode == Opcode.CLOSE
    assert frame.payload[:2] == (1008).to_bytes(2, "big")
    # a message completed within the limit resets the count
    proto = WebSocketProtocol(Side.SERVER, max_fragments=3)
    for _ in range(5):
        msg = _first(Opcode.BINARY, b"a") + _cont(b"b") + _cont(b"c", fin=True)
        assert proto.receive_data(msg) == [b"abc"]


async def test_a_fragmented_message_left_open_fails_after_message_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 12 defect 5: a fragmented message may stay open message_timeout seconds (pings
    in between do not extend it), then the connection fails with 1008; a message that
    completes in time is not affected."""
    ws, transport, peer = make(message_timeout=0.05)
    ws.receive_data(_first(Opcode.TEXT, b"a") + _cont(b"b", fin=True))
    assert await ws.recv() == "ab"
    ws.receive_data(_first(Opcode.TEXT, b"a"))
    with caplog.at_level(logging.WARNING, logger="rtio.ws"):
        for _ in range(5):
            ws.receive_data(masked(Opcode.PING, b""))
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
    assert ws.closed
    assert ws.close_code == 1008
    assert "message_timeout" in ws.close_reason
    closes = [payload for opcode, payload in peer.frames() if opcode == Opcode.CLOSE]
    assert closes and closes[0][:2] == (1008).to_bytes(2, "big")
    assert "message_timeout" in caplog.text
    with pytest.raises(ConnectionClosed) as info:
        await ws.recv()
    assert info.value.code == 1008
    assert transport.closing
