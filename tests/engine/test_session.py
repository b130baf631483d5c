"""The sans-I/O session: lifecycle transitions, heartbeat and upgrade deadlines as f(now)."""

from __future__ import annotations

import pytest

from rtio.engine import PacketDecodeError
from rtio.engine.packet import Packet, PacketType
from rtio.engine.session import (
    InvalidTransition,
    OutboundQueue,
    Received,
    Session,
    SessionState,
    TimerEvent,
)


def make(now: float = 100.0, transport: str = "polling") -> Session:
    return Session(
        "sid",
        transport=transport,
        now=now,
        ping_interval=0.3,
        ping_timeout=0.2,
        upgrade_timeout=1.0,
    )


def test_heartbeat_pings_then_times_out() -> None:
    s = make()
    assert s.deadline() == pytest.approx(100.3)
    assert s.on_timer(100.299) is None
    assert s.on_timer(100.3) is TimerEvent.SEND_PING
    assert s.deadline() == pytest.approx(100.5)
    assert s.on_timer(100.4) is None
    assert s.on_timer(100.5) is TimerEvent.PING_TIMEOUT


def test_a_late_ping_gets_its_whole_ping_timeout() -> None:
    """Issue 12, defect 4: after a loop stall the ping goes out late, and the pong is due
    ping_timeout after it was sent (the ``now`` of the call), not after it was due: a stall
    longer than pingTimeout must not drop a client that answers at once (on 0d24665 the
    deadline was 100.5, already past when the late ping went out)."""
    s = make()
    # the timer fires 0.7 s late (a stall longer than the 0.2 s pingTimeout)
    assert s.on_timer(101.0) is TimerEvent.SEND_PING
    assert s.deadline() == pytest.approx(101.2)
    assert s.on_timer(101.0) is None  # not a timeout in the same call sequence
    assert s.on_timer(101.19) is None
    s.receive_pong(101.05)  # the client answered 50 ms after the ping was sent
    assert s.deadline() == pytest.approx(101.35)  # the next ping, not a timeout
    # a client that does not answer still times out, ping_timeout after the late ping
    s = make()
    assert s.on_timer(101.0) is TimerEvent.SEND_PING
    assert s.on_timer(101.2) is TimerEvent.PING_TIMEOUT


def test_closing_keeps_the_heartbeat_bound() -> None:
    """Issue 12, defect 8: a session the server closes is closed at the latest when its
    heartbeat would have closed it, not close_timeout later (on 0d24665: 30 s, heartbeat
    off)."""
    s = make()  # opened at 100.0: ping due at 100.3, pong by 100.5
    assert s.start_closing(100.1, 30.0)
    assert s.deadline() == pytest.approx(100.5)
    assert s.on_timer(100.5) is TimerEvent.CLOSE_TIMEOUT
    s = make()
    assert s.on_timer(100.3) is TimerEvent.SEND_PING  # a pong is awaited until 100.5
    assert s.start_closing(100.4, 30.0)
    assert s.deadline() == pytest.approx(100.5)
    s = make()
    assert s.start_closing(100.1, 0.1)  # a short close_timeout comes first
    assert s.deadline() == pytest.approx(100.2)


def test_pong_rearms_the_next_ping_from_its_arrival() -> None:
    s = make()
    assert s.on_timer(100.3) is TimerEvent.SEND_PING
    assert s.receive_packet(Packet(PacketType.PONG), 100.35) is Received.NOTHING
    assert s.deadline() == pytest.approx(100.65)
    assert s.on_timer(100.5) is None
    assert s.on_timer(100.65) is TimerEvent.SEND_PING


def test_client_ping_is_the_wrong_direction() -> None:
    with pytest.raises(PacketDecodeError):
        make().receive_packet(Packet(PacketType.PING), 100.0)
    with pytest.raises(PacketDecodeError):
        make().receive_packet(Packet(PacketType.OPEN), 100.0)


def test_close_noop_and_upgrade_packets() -> None:
    s = make()
    assert s.receive_packet(Packet(PacketType.CLOSE), 100.0) is Received.CLIENT_CLOSE
    assert s.receive_packet(Packet(PacketType.NOOP), 100.0) is Received.NOTHING
    assert s.receive_packet(Packet(PacketType.UPGRADE), 100.0) is Received.NOTHING


def test_upgrade_success() -> None:
    s = make()
    assert s.can_upgrade()
    s.start_upgrade(100.1)
    assert s.state is SessionState.UPGRADING
    assert s.is_open
    assert s.deadline() == pytest.approx(100.3)  # the ping comes first
    s.finish_upgrade()
    assert (s.state, s.transport, s.upgraded) == (SessionState.OPEN, "websocket", True)
    assert not s.can_upgrade()
    with pytest.raises(InvalidTransition):
        s.start_upgrade(100.2)


def test_upgrade_timeout() -> None:
    s = make()
    s.start_upgrade(100.0)
    s.receive_pong(100.0)  # keep the heartbeat out of the way
    s.receive_pong(100.9)
    assert s.deadline() == pytest.approx(101.0)
    assert s.on_timer(101.0) is TimerEvent.UPGRADE_TIMEOUT
    s.abort_upgrade()
    assert s.state is SessionState.OPEN
    assert s.transport == "polling"
    assert s.deadline() == pytest.approx(101.2)


def test_closing_then_closed() -> None:
    s = make()
    assert s.start_closing(100.0, 0.1)
    assert not s.is_open
    assert not s.start_closing(100.0, 0.1)
    assert s.deadline() == pytest.approx(100.1)
    assert s.on_timer(100.05) is None
    assert s.on_timer(100.1) is TimerEvent.CLOSE_TIMEOUT
    assert s.close()
    assert not s.close()
    assert s.deadline() is None
    assert s.on_timer(1e9) is None
    with pytest.raises(InvalidTransition):
        s.finish_upgrade()


def test_websocket_session_cannot_upgrade() -> None:
    assert not make(transport="websocket").can_upgrade()


def test_queue_bounds_and_batches() -> None:
    q = OutboundQueue(limit=10)
    assert q.push("4hello")
    assert not q.push("4world")  # 12 > 10
    assert q.push(b"abc")
    assert len(q) == 2 and q.size == 9
    assert q.pop_batch(max_bytes=7) == (["4hello"], True)
    assert q.pop_batch(max_bytes=7) == ([b"abc"], True)
    assert q.size == 0
    big = OutboundQueue(limit=1)
    assert big.push("4" * 50)  # one item always fits an empty queue
    assert big.pop_all() == (["4" * 50], None)


def test_control_packets_are_forced_into_a_full_queue() -> None:
    q = OutboundQueue(limit=10)
    assert q.push("4" + "x" * 9)
    assert not q.push("2")
    assert q.push("2", force=True)
    assert q.pop_all() == (["4" + "x" * 9, "2"], None)


def test_queue_remembers_which_items_must_not_be_compressed() -> None:
    q = OutboundQueue(limit=100)
    q.push("4a")
    q.push("4b", compress=False)
    q.push(b"c", compress=False)
    q.push("2")
    assert q.pop_all() == (["4a", "4b", b"c", "2"], [True, False, False, True])
    # a polling payload may be compressed unless every packet in it said no (Node)
    q.push("4plain", compress=False)
    q.push(b"raw", compress=False)
    q.push("4zip")
    assert q.pop_batch(max_bytes=13) == (["4plain", b"raw"], False)
    assert q.pop_batch(max_bytes=12) == (["4zip"], True)
    q.push("4x", compress=False)
    q.clear()
    q.push("4y")
    assert q.pop_batch(max_bytes=12) == (["4y"], True) and len(q) == 0
