"""The asyncio glue (WebSocket) over an in-memory transport, with a sans-I/O client protocol
as the peer: receiving and sending, keepalive, the close timeout, backpressure in both
directions, ping/pong awaiting, and the order of an answer and a held-back failure."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rtio.ws import ConnectionClosed, ConnectionOptions, InvalidState, WebSocket
from rtio.ws.connection import Link
from rtio.ws.deflate import DeflateParams, PerMessageDeflate
from rtio.ws.frames import RSV2, FrameParser, Opcode, serialize_frame
from rtio.ws.options import DEFAULT_OPTIONS
from rtio.ws.protocol import Close, Ping, Side, WebSocketProtocol, prepare_message

OFFLOAD_SIZE = DEFAULT_OPTIONS.offload_size

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


def test_writes_are_coalesced_by_default() -> None:
    assert ConnectionOptions().coalesce_writes


async def test_coalesced_writes_send_the_first_frame_at_once_and_the_rest_after_the_tick() -> None:
    ws, transport, peer = make(coalesce_writes=True)
    writes: list[bytes] = []
    record = transport.write

    def write(data: bytes | bytearray | memoryview) -> None:
        writes.append(bytes(data))
        record(data)

    transport.write = write  # type: ignore[method-assign]
    await ws.send("one")
    await ws.send("two")
    await ws.send(b"three")
    assert len(writes) == 1  # the first frame went out at once, the burst waits
    assert peer.frames() == [(Opcode.TEXT, b"one")]
    await asyncio.sleep(0)  # the end of this loop iteration flushes the burst in one write
    await asyncio.sleep(0)
    assert len(writes) == 2
    assert peer.frames() == [(Opcode.TEXT, b"two"), (Opcode.BINARY, b"three")]


async def test_receive_and_send() -> None:
    ws, transport, peer = make(write_limit=12345)
    assert transport.high == 12345
    assert ws.subprotocol == "chat"
    ws.receive_data(peer.send("hello") + peer.send(b"\x00\x01"))
    assert await ws.recv() == "hello"
    assert await ws.recv() == b"\x00\x01"
    await ws.send("back")
    await ws.send(b"bin")
    assert peer.frames() == [(Opcode.TEXT, b"back"), (Opcode.BINARY, b"bin")]
    assert not ws.closed and ws.close_code is None


async def test_recv_waits_for_data() -> None:
    ws, _, peer = make()
    task = asyncio.ensure_future(ws.recv())
    await asyncio.sleep(0)
    with pytest.raises(InvalidState, match="already"):
        await ws.recv()
    ws.receive_data(peer.send("late"))
    assert await task == "late"


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


async def test_close_started_by_us() -> None:
    ws, transport, peer = make()
    closing = asyncio.ensure_future(ws.close(4000, "done"))
    await asyncio.sleep(0)
    assert peer.frames() == [(Opcode.CLOSE, b"\x0f\xa0done")]
    with pytest.raises(ConnectionClosed, match="in progress"):
        await ws.send("x")
    ws.receive_data(masked(Opcode.CLOSE, b"\x0f\xa0"))
    await closing
    assert transport.closing and not transport.aborted
    assert ws.closed and ws.close_code == 4000


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


async def test_keepalive_pings_and_their_pongs() -> None:
    ws, _transport, peer = make(ping_interval=0.02, ping_timeout=0.5)
    for _ in range(3):
        await asyncio.sleep(0.03)
        frames = peer.frames()
        assert [op for op, _ in frames] == [Opcode.PING]
        ws.receive_data(masked(Opcode.PONG, frames[0][1]))
    assert not ws.closed


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


async def test_ping_awaits_its_pong() -> None:
    ws, _, peer = make()
    first = await ws.ping(b"one")
    second = await ws.ping()
    frames = peer.frames()
    assert frames[0] == (Opcode.PING, b"one")
    with pytest.raises(InvalidState):
        await ws.ping(b"one")
    # one pong for the later ping answers both (5.5.3)
    ws.receive_data(masked(Opcode.PONG, frames[1][1]))
    assert await first >= 0
    assert await second >= 0
    ws.receive_data(masked(Opcode.PONG, b"unsolicited"))  # ignored


async def test_ping_fails_when_the_connection_drops() -> None:
    ws, _, _ = make()
    pong = await ws.ping()
    ws.receive_eof()
    with pytest.raises(ConnectionClosed) as info:
        await pong
    assert info.value.code == 1006
    with pytest.raises(ConnectionClosed):
        await ws.ping()


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


async def test_writes_wait_while_the_transport_is_paused() -> None:
    ws, _transport, peer = make()
    link = ws._link
    link.pause_writing()
    send = asyncio.ensure_future(ws.send("x" * 100))
    await asyncio.sleep(0.01)
    assert not send.done()
    assert peer.frames() == [(Opcode.TEXT, b"x" * 100)]  # written at once all the same
    link.resume_writing()
    await asyncio.wait_for(send, 1)
    # a drop while waiting ends the wait with ConnectionClosed
    link.pause_writing()
    send = asyncio.ensure_future(ws.send("y"))
    await asyncio.sleep(0)
    ws.receive_eof()
    with pytest.raises(ConnectionClosed):
        await send


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


async def test_close_with_a_held_failure_uses_its_code() -> None:
    ws, _, peer = make(close_timeout=0.05)
    ws.receive_data(peer.send("hello") + masked(3, b""))
    await ws.close(1000)
    assert ws.close_code == 1002
    assert peer.frames()[-1][1][:2] == b"\x03\xea"


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


async def test_big_messages_are_compressed_in_a_thread_and_stay_in_order() -> None:
    ws, transport, peer = make_deflate()
    big = b"0123456789abcdef" * (OFFLOAD_SIZE // 8)
    first = asyncio.ensure_future(ws.send(big))
    await asyncio.sleep(0)  # compressing in a worker thread...
    second = asyncio.ensure_future(ws.send("small, sent later"))
    third = asyncio.ensure_future(ws.send_prepared(prepare_message("prepared, later still")))
    await asyncio.wait_for(asyncio.gather(first, second, third), 5)
    events = peer.receive_data(bytes(transport.written))
    assert events == [big, "small, sent later", "prepared, later still"]
    assert len(transport.written) < len(big) // 4  # it was compressed
    start = len(transport.written)
    await ws.send("é" * OFFLOAD_SIZE)  # a str, alone: the same path
    assert peer.receive_data(bytes(transport.written[start:])) == ["é" * OFFLOAD_SIZE]


async def test_a_send_cancelled_while_compressing_closes_with_1011() -> None:
    ws, transport, peer = make_deflate()
    send = asyncio.ensure_future(ws.send(b"z" * OFFLOAD_SIZE * 4))
    await asyncio.sleep(0)
    send.cancel()
    with pytest.raises(asyncio.CancelledError):
        await send
    events = peer.receive_data(bytes(transport.written))
    assert events == [Close(1011, "send cancelled while compressing")]
    with pytest.raises(ConnectionClosed):
        await ws.send("after")


# -- push mode and synchronous sends ---------------------------------------------------


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


async def test_push_mode_delivers_in_order_from_receive_data() -> None:
    ws, _, peer = make()
    receiver = Receiver(ws)
    ws.receive_data(peer.send("one") + peer.send(b"two") + masked(Opcode.PING, b"p"))
    assert receiver.messages == ["one", b"two"]  # synchronously, no loop turn
    assert peer.frames() == [(Opcode.PONG, b"p"), (Opcode.TEXT, b"one"), (Opcode.BINARY, b"two")]
    with pytest.raises(InvalidState):
        await ws.recv()
    with pytest.raises(InvalidState):
        await anext(aiter(ws))


async def test_push_mode_hands_over_the_queued_messages_first() -> None:
    ws, transport, peer = make(max_queue=2)
    ws.receive_data(peer.send("a") + peer.send("b"))
    assert not transport.reading  # the queue was full
    receiver = Receiver(ws, echo=False)
    assert receiver.messages == ["a", "b"]
    assert transport.reading  # push mode does not pause for a consumer
    for i in range(5):
        ws.receive_data(peer.send(str(i)))
    assert transport.reading
    assert receiver.messages == ["a", "b", "0", "1", "2", "3", "4"]


async def test_a_pending_recv_raises_when_push_mode_starts() -> None:
    ws, _, _ = make()
    recv = asyncio.ensure_future(ws.recv())
    await asyncio.sleep(0)
    Receiver(ws)
    with pytest.raises(InvalidState):
        await recv


async def test_push_mode_on_closed_once_on_a_close_handshake() -> None:
    ws, transport, peer = make()
    receiver = Receiver(ws)
    # a message and the close frame in one chunk: the message is delivered, its answer
    # cannot go out any more (the protocol already replied to the close)
    last = peer.send("last")
    peer.proto.send_close(1000, "bye")
    ws.receive_data(last + peer.proto.data_to_send())
    assert receiver.messages == ["last"]
    assert receiver.closed == [1000]
    assert peer.frames() == [(Opcode.CLOSE, b"\x03\xe8")]  # and no error: not a 1011
    assert transport.closing
    await ws.wait_closed()
    assert receiver.closed == [1000]  # the TCP close does not call it again


async def test_push_mode_on_closed_on_a_drop_and_when_already_closed() -> None:
    ws, _, _ = make()
    receiver = Receiver(ws)
    ws.receive_eof()
    assert receiver.closed == [1006]
    ws.receive_eof()
    assert receiver.closed == [1006]
    late = Receiver(ws)  # set after the close: told at once
    assert late.closed == [1006]


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


async def test_push_mode_handler_error_on_a_queued_message() -> None:
    ws, _, peer = make()
    ws.receive_data(peer.send("raise") + peer.send("never"))
    receiver = Receiver(ws)
    assert receiver.messages == ["raise"]
    assert receiver.closed == [1011]


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


async def test_push_mode_a_queued_violation_fails_after_the_handover() -> None:
    ws, _, peer = make()
    ws.receive_data(peer.send("hello") + masked(3, b""))
    receiver = Receiver(ws)
    assert receiver.messages == ["hello"]
    assert receiver.closed == [1002]
    assert [op for op, _ in peer.frames()] == [Opcode.TEXT, Opcode.CLOSE]


async def test_send_now_writes_at_once_and_reports_backpressure() -> None:
    ws, _, peer = make()
    assert ws.send_now("a") is True
    assert ws.send_prepared_now(prepare_message(b"b")) is True
    assert peer.frames() == [(Opcode.TEXT, b"a"), (Opcode.BINARY, b"b")]
    ws._link.pause_writing()  # the transport's buffer went above write_limit
    assert ws.send_now("c") is False
    assert ws.send_prepared_now(prepare_message("d")) is False
    assert peer.frames() == [(Opcode.TEXT, b"c"), (Opcode.TEXT, b"d")]  # written all the same
    drain = asyncio.ensure_future(ws.drain())
    await asyncio.sleep(0)
    assert not drain.done()
    ws._link.resume_writing()
    await asyncio.wait_for(drain, 1)
    await ws.drain()  # not paused: returns at once


async def test_send_now_and_drain_on_a_closed_connection() -> None:
    ws, _, _ = make()
    ws._link.pause_writing()
    drain = asyncio.ensure_future(ws.drain())
    await asyncio.sleep(0)
    ws.receive_eof()
    with pytest.raises(ConnectionClosed):
        await drain
    with pytest.raises(ConnectionClosed):
        ws.send_now("x")
    with pytest.raises(ConnectionClosed):
        ws.send_prepared_now(prepare_message("x"))
    with pytest.raises(ConnectionClosed):
        await ws.drain()
    ws2, _, _ = make()
    await ws2.close()  # closing: sends are refused during the handshake too
    with pytest.raises(ConnectionClosed):
        ws2.send_now("x")


async def test_send_now_goes_behind_an_offloaded_compression() -> None:
    ws, transport, peer = make_deflate()
    big = b"0123456789abcdef" * (OFFLOAD_SIZE // 8)
    assert ws.send_now(big) is False  # compressed in a worker thread
    assert ws.send_now("small") is False  # behind it
    assert ws.send_prepared_now(prepare_message("prepared")) is False
    assert transport.written == b""
    await asyncio.wait_for(ws.drain(), 5)
    assert peer.receive_data(bytes(transport.written)) == [big, "small", "prepared"]
    assert ws.send_now("alone") is True  # nothing in flight any more
    assert peer.receive_data(bytes(transport.written)).pop() == "alone"


async def test_send_now_behind_a_compression_when_the_connection_drops() -> None:
    ws, _, _ = make_deflate()
    assert ws.send_now(b"z" * OFFLOAD_SIZE) is False
    assert ws.send_now("small") is False
    ws.receive_eof()
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.drain(), 5)


async def test_push_mode_echo_makes_no_future_or_task_per_message() -> None:
    ws, _, peer = make(coalesce_writes=True)
    Receiver(ws)
    loop = asyncio.get_running_loop()
    made: list[str] = []
    create_future, create_task = loop.create_future, loop.create_task
    loop.create_future = lambda: made.append("future") or create_future()  # type: ignore[method-assign]
    loop.create_task = lambda *a, **k: made.append("task") or create_task(*a, **k)  # type: ignore[method-assign]
    try:
        for i in range(100):
            ws.receive_data(peer.send(f"m{i}"))
        await asyncio.sleep(0)  # the end-of-iteration write
    finally:
        del loop.create_future, loop.create_task
    assert made == []
    assert [payload for _, payload in peer.frames()] == [f"m{i}".encode() for i in range(100)]
