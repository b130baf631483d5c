"""rtio.workers.peers without processes: three workers' datagram sockets in one loop
(order, messages larger than a datagram, a receiver slower than the socket's queue,
a sender restarted mid-message, the bound on what waits)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from rtio.workers.frames import FrameKind, encode_frame
from rtio.workers.peers import Peers


@pytest.fixture
def pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    made = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(3)]
    yield made
    for receive, send in made:
        receive.close()
        send.close()


def _peers(pairs: list[tuple[socket.socket, socket.socket]], index: int,
           got: list[tuple[int, bytes]], **options: int) -> Peers:  # fmt: skip
    outboxes = [send for _receive, send in pairs]
    return Peers(index, outboxes, pairs[index][0], lambda s, p: got.append((s, p)), **options)


async def _until(check: object, seconds: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not check() and loop.time() < end:  # type: ignore[operator]
        await asyncio.sleep(0.005)


async def test_messages_arrive_in_order_whole_and_from_their_sender(pairs: list) -> None:
    got1: list[tuple[int, bytes]] = []
    got2: list[tuple[int, bytes]] = []
    for _receive, send in pairs:  # a small buffer: the sender waits for the socket often
        send.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    sender = _peers(pairs, 0, [], datagram=1024)
    one, two = _peers(pairs, 1, got1), _peers(pairs, 2, got2)
    for peers in (sender, one, two):
        peers.start()
    big = bytes(range(256)) * 40  # 10 KiB: cut over 11 datagrams
    expected = []
    for n in range(300):  # more datagrams than the socket queues (max_dgram_qlen)
        payload = big if n % 50 == 7 else b"m%d" % n
        expected.append((0, payload))
        sender.send(payload, [1, 2] if n % 3 else [2])
        if n % 40 == 0:
            await asyncio.sleep(0)  # several loop iterations, several batches
    await _until(lambda: len(got2) == 300 and len(got1) == 200)
    assert got2 == expected
    assert got1 == [m for n, m in enumerate(expected) if n % 3]
    assert sender.sent == 500 and sender.dropped == 0
    for peers in (sender, one, two):
        peers.close()


async def test_a_receiver_starts_at_a_message_boundary_and_a_restart_drops_the_partial(
    pairs: list,
) -> None:
    got: list[tuple[int, bytes]] = []
    receiver = _peers(pairs, 1, got)
    receiver.start()
    frame = encode_frame(FrameKind.DELIVER, 0, b"whole")
    to_1 = pairs[1][1]
    to_1.send(b"\x00\x00" + frame[3:])  # the middle of a message of a previous life: skipped
    to_1.send(b"\x00\x01" + frame[:6])  # START, then the sender dies mid-message...
    to_1.send(b"\x00\x01" + frame)  # ...its replacement starts again
    to_1.send(b"\x00\x00" + frame)  # (and goes on)
    to_1.send(b"\x02\x01" + encode_frame(FrameKind.DELIVER, 2, b"from 2"))
    await _until(lambda: len(got) == 3)
    assert got == [(0, b"whole"), (0, b"whole"), (2, b"from 2")]
    receiver.close()


async def test_what_waits_for_a_worker_that_does_not_read_is_bounded(pairs: list) -> None:
    sender = _peers(pairs, 0, [], max_backlog=64 * 1024, datagram=4096)
    sender.start()  # worker 1 never reads
    for _ in range(200):
        sender.send(b"x" * 2000, [1])
        await asyncio.sleep(0)
    assert sender.dropped > 0
    sender.close()
