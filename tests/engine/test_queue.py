"""The outbound queue: byte bound, forced control packets, polling batches, compress flags."""

from __future__ import annotations

from rtio.engine.queue import OutboundQueue


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


def test_len_iter_and_binary_sizes() -> None:
    q = OutboundQueue(limit=100)
    assert len(q) == 0 and list(q) == [] and not q
    assert q.pop_batch(max_bytes=10) == ([], True)
    q.push(b"\x00" * 6)  # 1 + 8 base64 characters in a payload
    q.push("4a")
    assert list(q) == [b"\x00" * 6, "4a"] and len(q) == 2
    assert q.pop_batch(max_bytes=10) == ([b"\x00" * 6], True)
