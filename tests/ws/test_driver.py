"""Tests of driver.py (WebSocketDriver: the network side of a WebSocket): the protocol's
answers, the close handshake and its timers, held failures, push-mode delivery, and the
bounds on what a peer can make the glue hold (issue 12, defects 1 and 5):

- a peer that sends pings and never reads cannot make the server buffer pongs without
  limit (reading pauses while the write buffer is above write_limit, pongs queued
  meanwhile collapse to the latest, and max_write_buffer aborts a connection whose
  application writes past it);
- an endless fragmented message is cut off after max_fragments frames, and after
  message_timeout seconds.

Figures are asserted as bounds (bytes buffered for the peer, the close code); none of them
depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from rtio.ws import ConnectionClosed, ConnectionOptions, ServerOptions, WebSocket, accept
from rtio.ws.frames import RSV2, FrameParser, Opcode, serialize_frame
from rtio.ws.handshake import accept_key, parse_response
from rtio.ws.options import open_protocol
from rtio.ws.protocol import Close, Ping, Side, WebSocketProtocol

from .support import (
    MASK,
    Receiver,
    continuation,
    first_fragment,
    make,
    make_buffered,
    masked,
)


async def test_automatic_pong() -> None:
    ws, _, peer = make()
    ws.receive_data(masked(Opcode.PING, b"abc"))
    assert peer.frames() == [(Opcode.PONG, b"abc")]


async def test_close_started_by_the_peer() -> None:
    ws, transport, peer = make()
    ws.receive_data(peer.send("last") + masked(Opcode.CLOSE, b"\x03\xe8bye"))
    # the reply goes out and the server closes the TCP connection first (7.1.1)
    assert peer.frames() == [(Opcode.CLOSE, b"\x03\xe8")]
    assert transport.closing
    messages = [message async for message in ws]  # ends cleanly on 1000
    assert messages == ["last"]
    await ws.wait_closed()
    assert (ws.close_code, ws.close_reason) == (1000, "bye")
    with pytest.raises(ConnectionClosed) as info:
        await ws.send("x")
    assert info.value.code == 1000


async def test_client_waits_for_the_server_to_close_tcp() -> None:
    ws, transport, _ = make(Side.CLIENT, close_timeout=0.05)
    closing = asyncio.ensure_future(ws.close())
    await asyncio.sleep(0)
    ws.receive_data(b"\x88\x02\x03\xe8")  # the server's reply (unmasked)
    await asyncio.sleep(0.01)
    assert not transport.closing  # 7.1.1: the server closes first...
    await closing  # ...or the client gives up after close_timeout
    assert transport.aborted


async def test_close_timeout_when_the_peer_never_answers() -> None:
    ws, transport, peer = make(close_timeout=0.05)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await ws.close()
    assert 0.04 < loop.time() - start < 1
    assert transport.aborted
    assert peer.frames() == [(Opcode.CLOSE, b"\x03\xe8")]
    assert ws.close_code == 1006  # no close frame came back


async def test_close_timeout_when_the_peer_does_not_read() -> None:
    ws, transport, _ = make(close_timeout=0.05)
    transport.hang_on_close = True  # the flush behind close() never ends
    ws.receive_data(masked(Opcode.CLOSE, b"\x03\xe8"))
    assert transport.closing and not transport.aborted
    await asyncio.wait_for(ws.wait_closed(), 1)
    assert transport.aborted


async def test_keepalive_timeout_closes() -> None:
    ws, _transport, peer = make(ping_interval=0.02, ping_timeout=0.02)
    recv = asyncio.ensure_future(ws.recv())
    await asyncio.wait_for(ws.wait_closed(), 1)
    frames = peer.frames()
    assert frames[0][0] == Opcode.PING
    assert frames[-1] == (Opcode.CLOSE, b"\x03\xf3keepalive ping timeout")
    assert ws.close_code == 1006
    with pytest.raises(ConnectionClosed) as info:
        await recv
    assert info.value.code == 1006


async def test_dropped_connection() -> None:
    ws, _, peer = make()
    ws.receive_data(peer.send("queued"))
    ws.receive_eof()
    ws.receive_eof()  # idempotent
    assert ws.closed and ws.close_code == 1006
    it = aiter(ws)
    assert await anext(it) == "queued"  # what arrived before is still delivered
    with pytest.raises(ConnectionClosed) as info:
        await anext(it)  # 1006 is not a normal end: the iteration raises
    assert info.value.code == 1006


async def test_reading_pauses_when_the_queue_is_full() -> None:
    ws, transport, peer = make(max_queue=4)
    for i in range(3):
        ws.receive_data(peer.send(str(i)))
    assert transport.reading
    ws.receive_data(peer.send("3"))
    assert not transport.reading  # 4 waiting messages: stop reading from the socket
    assert await ws.recv() == "0"
    assert not transport.reading
    assert await ws.recv() == "1"
    assert transport.reading  # down to half the queue: read again
    assert [await ws.recv(), await ws.recv()] == ["2", "3"]


async def test_the_answer_goes_before_the_failure_it_preceded() -> None:
    # Autobahn 3.2: text, a frame with RSV2, a ping, all in one chunk
    ws, transport, peer = make()
    data = peer.send("hello") + masked(Opcode.TEXT, b"bad", RSV2) + masked(Opcode.PING, b"")
    ws.receive_data(data)
    assert peer.frames() == []  # nothing yet: the app first sees "hello"
    received = []
    with pytest.raises(ConnectionClosed) as info:
        async for message in ws:
            received.append(message)
            await ws.send(message)
    assert received == ["hello"]
    assert info.value.code == 1002
    frames = peer.frames()
    assert [op for op, _ in frames] == [Opcode.TEXT, Opcode.CLOSE]
    assert frames[1][1][:2] == b"\x03\xea"
    assert transport.closing


async def test_a_held_failure_applies_without_another_recv() -> None:
    ws, _, peer = make(close_timeout=0.05)
    ws.receive_data(peer.send("hello") + masked(3, b""))
    assert await ws.recv() == "hello"
    await asyncio.sleep(0)  # the app does something else: the failure goes on
    assert ws.closed and ws.close_code == 1002
    # and for an app that never reads, at the latest after close_timeout
    ws2, _, peer2 = make(close_timeout=0.05)
    ws2.receive_data(peer2.send("hello") + masked(3, b""))
    await asyncio.wait_for(ws2.wait_closed(), 1)
    assert ws2.close_code == 1002


async def test_failure_is_reported_to_the_reader() -> None:
    ws, _, _ = make()
    ws.receive_data(masked(Opcode.TEXT, b"\xff"))
    with pytest.raises(ConnectionClosed) as info:
        await ws.recv()
    assert info.value.code == 1007


async def test_peer_close_event_reaches_the_protocol() -> None:
    # the sans-I/O side of the same exchange, for the record: Close is an event
    proto = WebSocketProtocol(Side.SERVER)
    events = proto.receive_data(masked(Opcode.PING, b"") + masked(Opcode.CLOSE, b""))
    assert events == [Ping(b""), Close(1005, "")]


async def test_push_mode_delivers_before_the_violation_in_the_same_call() -> None:
    # Autobahn 3.2 in push mode: text, a frame with RSV2, a ping, all in one chunk
    ws, transport, peer = make()
    receiver = Receiver(ws)
    ws.receive_data(peer.send("hello") + masked(Opcode.TEXT, b"bad", RSV2) + masked(9, b""))
    assert receiver.messages == ["hello"]
    assert receiver.closed == [1002]
    frames = peer.frames()
    assert [op for op, _ in frames] == [Opcode.TEXT, Opcode.CLOSE]  # the answer first
    assert frames[1][1][:2] == b"\x03\xea"
    assert transport.closing


async def test_push_mode_handler_error_fails_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    ws, transport, peer = make()
    receiver = Receiver(ws)
    ws.receive_data(peer.send("ok") + peer.send("raise") + peer.send("never"))
    assert receiver.messages == ["ok", "raise"]  # nothing after the failing message
    assert receiver.closed == [1011]
    frames = peer.frames()
    assert [op for op, _ in frames] == [Opcode.TEXT, Opcode.CLOSE]
    assert frames[1][1][:2] == b"\x03\xf3"
    assert transport.closing
    assert "WebSocket message handler raised" in caplog.text
    assert caplog.records[0].name == "rtio.ws"
    ws.receive_data(peer.send("after"))  # ignored: the connection failed
    assert receiver.messages == ["ok", "raise"]


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
    ws, transport = make_buffered(max_write_buffer=100_000, write_limit=10_000)
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
    ws, transport = make_buffered(max_write_buffer=4096)
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
        ws.receive_data(
            first_fragment(Opcode.BINARY, b"a")
            + continuation(b"b")
            + continuation(b"c")
            + continuation(b"d")
        )
        await asyncio.sleep(0)
    assert ws.close_code == 1008
    closes = [payload for opcode, payload in peer.frames() if opcode == Opcode.CLOSE]
    assert closes and closes[0][:2] == (1008).to_bytes(2, "big")
    assert [r.getMessage() for r in caplog.records] == [
        "WebSocket failed with 1008: message in more than 3 fragments"
    ]


async def test_a_fragmented_message_left_open_fails_after_message_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 12 defect 5: a fragmented message may stay open message_timeout seconds (pings
    in between do not extend it), then the connection fails with 1008; a message that
    completes in time is not affected."""
    ws, transport, peer = make(message_timeout=0.05)
    ws.receive_data(first_fragment(Opcode.TEXT, b"a") + continuation(b"b", fin=True))
    assert await ws.recv() == "ab"
    ws.receive_data(first_fragment(Opcode.TEXT, b"a"))
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
