"""The sans-I/O parts of rtio.client with byte vectors and an injected clock: the
Engine.IO codec and session, the backoff, the ack table."""

from __future__ import annotations

import pytest

from rtio.client.acks import AckTable
from rtio.client.backoff import Backoff
from rtio.client.engine_core import (
    EngineClientCore,
    EngineClientState,
    EngineProtocolError,
    OpenInfo,
    SendQueueFull,
    decode_frame,
    decode_payload,
    encode_frame,
    encode_payload,
)
from rtio.client.errors import TooManyPendingAcks
from rtio.engine import Packet, PacketType

OPEN = '{"sid":"abc","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":20}'


def test_payload_vectors() -> None:
    assert encode_payload(["4hello", b"\x01\x02\x03\x04", "2"]) == "4hello\x1ebAQIDBA==\x1e2"
    assert decode_payload("4hello\x1ebAQIDBA==\x1e6") == [
        Packet(PacketType.MESSAGE, "hello"),
        Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04"),
        Packet(PacketType.NOOP, ""),
    ]
    with pytest.raises(EngineProtocolError):
        decode_payload("b!!!")
    with pytest.raises(EngineProtocolError):
        decode_payload("9x")
    with pytest.raises(EngineProtocolError):
        decode_payload("\x1e".join(["6"] * 11), max_packets=10)


def test_frame_vectors() -> None:
    assert encode_frame(Packet(PacketType.PONG, "probe")) == "3probe"
    assert encode_frame(Packet(PacketType.MESSAGE, b"\xff")) == b"\xff"
    assert decode_frame(b"\x00") == Packet(PacketType.MESSAGE, b"\x00")
    assert decode_frame("40") == Packet(PacketType.MESSAGE, "0")


def test_open_packet() -> None:
    info = OpenInfo.parse(OPEN)
    assert info == OpenInfo("abc", ("websocket",), 0.3, 0.2, 20)
    for bad in ("{", '{"sid":""}', '{"sid":"a","pingInterval":-1,"pingTimeout":1}', "[]"):
        with pytest.raises(EngineProtocolError):
            OpenInfo.parse(bad)


def test_session_answers_pings_and_tracks_the_deadline() -> None:
    core = EngineClientCore()
    with pytest.raises(EngineProtocolError):
        EngineClientCore().receive(Packet(PacketType.MESSAGE, "x"), 0.0)
    assert core.receive(Packet(PacketType.OPEN, OPEN), now=10.0) == []
    assert core.state is EngineClientState.OPEN and core.sid == "abc"
    assert core.ping_deadline == pytest.approx(10.5)
    assert not core.expired(10.49) and core.expired(10.5)
    assert core.receive(Packet(PacketType.PING, ""), now=10.4) == []
    assert core.take_all() == ["3"]  # the pong, queued by the core itself
    assert core.ping_deadline == pytest.approx(10.9)
    assert not core.expired(10.6)
    assert core.receive(Packet(PacketType.MESSAGE, b"\x01"), 10.6) == [b"\x01"]
    assert core.receive(Packet(PacketType.NOOP, ""), 10.6) == []
    with pytest.raises(EngineProtocolError):
        core.receive(Packet(PacketType.UPGRADE, ""), 10.6)
    core.receive(Packet(PacketType.CLOSE, ""), 10.7)
    assert core.closed_by_server and core.state is EngineClientState.CLOSED
    assert not core.expired(99.0)


def test_batches_fit_max_payload_and_the_queue_is_bounded() -> None:
    core = EngineClientCore(max_queued=3)
    core.receive(Packet(PacketType.OPEN, OPEN), 0.0)  # maxPayload 20
    core.send("a" * 9)  # "4aaaaaaaaa" + separator: 11
    core.send("b" * 5)  # 7
    core.send(b"\x00" * 30)  # b + 40 base64: alone beyond 20, still sent alone
    with pytest.raises(SendQueueFull):
        core.send("x")
    assert core.take_batch() == ["4" + "a" * 9, "4" + "b" * 5]
    assert core.take_batch() == [b"\x00" * 30]
    assert core.take_batch() == []
    core.send_close()
    assert core.take_all() == ["1"] and core.state is EngineClientState.CLOSED


def test_backoff_as_socket_io_client() -> None:
    """backo2: ms * 2**attempts; rand decides the sign (floor(rand*10) even: minus) and
    the size (floor(rand * factor * ms)) of the jitter; capped at the max."""
    backoff = Backoff(delay=1.0, delay_max=5.0, randomization_factor=0.5)
    assert backoff.duration(0.0) == 1.0
    assert backoff.duration(0.15) == 2.15  # 2000 + floor(0.15 * 0.5 * 2000) = 2150
    assert backoff.duration(0.2) == 3.6  # 4000 - 400
    assert backoff.duration(0.0) == 5.0  # 8000, capped
    assert backoff.attempts == 4
    backoff.reset()
    assert backoff.duration(0.99) == 1.495  # 1000 + floor(0.99 * 0.5 * 1000), 9 is odd
    plain = Backoff(delay=0.1, delay_max=1.0, randomization_factor=0)
    assert [plain.duration(0.7) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    with pytest.raises(ValueError):
        Backoff(randomization_factor=2)
    with pytest.raises(ValueError, match="negative"):
        Backoff(delay=-1)


def test_ack_table() -> None:
    table = AckTable(max_pending=3)
    seen: list[object] = []
    a = table.add(seen.append, deadline=5.0)
    b = table.add(seen.append)
    c = table.add(seen.append, deadline=3.0)
    assert (a, b, c) == (0, 1, 2)
    with pytest.raises(TooManyPendingAcks):
        table.add(seen.append)
    assert table.next_deadline() == 3.0
    callback = table.pop(c)
    assert callback is not None
    assert table.pop(c) is None  # answered once
    assert table.next_deadline() == 5.0  # the stale 3.0 entry is skipped
    assert table.expire(4.9) == []
    assert len(table.expire(5.0)) == 1 and len(table) == 1
    assert table.next_deadline() is None
    assert len(table.clear()) == 1 and len(table) == 0
    assert table.add(seen.append) == 3  # ids are never reused


def test_ack_table_keeps_the_acks_of_buffered_packets() -> None:
    """A disconnect fails the acks of packets already sent, not of those still buffered
    (they are sent on the next connection), as socket.io-client 4.8's _clearAcks."""
    table = AckTable()
    sent = table.add(lambda r: None, deadline=1.0)
    buffered = table.add(lambda r: None, deadline=2.0)
    assert len(table.clear(keep=frozenset({buffered}))) == 1
    assert table.pop(sent) is None and table.next_deadline() == 2.0
    assert table.pop(buffered) is not None
