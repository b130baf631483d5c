"""rtio.cluster.redis.policy, sans-I/O: backoff, the outage buffer's bound, the canary."""

from __future__ import annotations

import pytest

from rtio.cluster.redis.policy import Backoff, BufferedPublish, Canary, PublishBuffer


def test_backoff_grows_to_its_cap_with_full_jitter() -> None:
    backoff = Backoff(base=0.1, cap=2.0, floor=0.05)
    assert [backoff.delay(n, lambda: 1.0) for n in range(7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert backoff.delay(3, lambda: 0.5) == 0.4
    assert backoff.delay(0, lambda: 0.0) == 0.05  # never a busy loop
    assert backoff.delay(10_000, lambda: 1.0) == 2.0  # no overflow


def item(n: int, size: int = 10) -> BufferedPublish:
    return BufferedPublish("c", bytes([n]) * (size - 1))  # 1 byte of channel


def test_the_buffer_never_holds_more_than_its_bound_and_drops_the_oldest() -> None:
    buffer = PublishBuffer(limit=35)
    for n in range(10):
        assert buffer.append(item(n))
        assert buffer.size <= 35
    assert len(buffer) == 3 and buffer.size == 30
    assert [buffer.pop().payload[0] for _ in range(3)] == [7, 8, 9]
    assert buffer.take_drop_counts() == (7, 70)
    assert buffer.take_drop_counts() == (0, 0)


def test_a_message_larger_than_the_bound_is_dropped_itself() -> None:
    buffer = PublishBuffer(limit=35)
    assert buffer.append(item(1))
    assert not buffer.append(item(2, size=36))
    assert len(buffer) == 1 and buffer.peek() == item(1)
    assert buffer.take_drop_counts() == (1, 36)
    assert not PublishBuffer(limit=0).append(item(1))
    with pytest.raises(ValueError):
        PublishBuffer(limit=-1)


def test_canary_due_sent_received_and_deaf() -> None:
    canary = Canary(interval=5.0, timeout=3.0)
    canary.reset(now=100.0)
    assert canary.due(100.0) and not canary.deaf(100.0)
    canary.sent(b"t1", 100.0)
    assert not canary.due(101.0)
    assert canary.next_deadline(101.0) == 2.0
    assert not canary.deaf(103.0) and canary.deaf(103.5)
    assert not canary.received(b"stale")
    assert canary.received(b"t1") and not canary.deaf(200.0)
    assert not canary.due(104.0) and canary.due(105.0)
    assert canary.next_deadline(104.0) == 1.0
