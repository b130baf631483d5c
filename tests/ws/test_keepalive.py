"""Tests of keepalive.py (Pings: pings waiting for their pong, the keepalive timer)."""

from __future__ import annotations

import asyncio

import pytest

from rtio.ws import ConnectionClosed, InvalidState
from rtio.ws.frames import Opcode
from rtio.ws.keepalive import Pings

from .support import (
    make,
    masked,
)


async def test_keepalive_pings_and_their_pongs() -> None:
    ws, _transport, peer = make(ping_interval=0.02, ping_timeout=0.5)
    for _ in range(3):
        await asyncio.sleep(0.03)
        frames = peer.frames()
        assert [op for op, _ in frames] == [Opcode.PING]
        ws.receive_data(masked(Opcode.PONG, frames[0][1]))
    assert not ws.closed


async def test_ping_fails_when_the_connection_drops() -> None:
    ws, _, _ = make()
    pong = await ws.ping()
    ws.receive_eof()
    with pytest.raises(ConnectionClosed) as info:
        await pong
    assert info.value.code == 1006
    with pytest.raises(ConnectionClosed):
        await ws.ping()


class _Sent:
    def __init__(self, can_send: bool = True) -> None:
        self.payloads: list[bytes] = []
        self.can_send = can_send
        self.timed_out = 0
        self.sent_at: list[float] = []  # loop time of each ping
        self.timed_out_at: list[float] = []

    def send(self, payload: bytes) -> int:
        if not self.can_send:
            return 0
        self.payloads.append(payload)
        self.sent_at.append(asyncio.get_running_loop().time())
        return 6 + len(payload)

    def timeout(self) -> None:
        self.timed_out += 1
        self.timed_out_at.append(asyncio.get_running_loop().time())


def _pings(sent: _Sent, interval: float | None = None, timeout: float | None = None) -> Pings:
    return Pings(
        asyncio.get_running_loop(),
        interval=interval,
        timeout=timeout,
        send=sent.send,
        timed_out=sent.timeout,
    )


async def test_one_pong_answers_its_ping_and_the_earlier_ones() -> None:
    pings = _pings(_Sent())
    first, second, third = pings.add(b"1"), pings.add(b"2"), pings.add(b"3")
    pings.receive_pong(b"unsolicited")  # 5.5.3: ignored
    assert not first.done()
    pings.receive_pong(b"2")
    assert first.done() and second.done() and not third.done()
    with pytest.raises(InvalidState):
        pings.add(b"3")
    pings.close(ConnectionClosed(1006))
    with pytest.raises(ConnectionClosed):
        third.result()


async def test_new_payloads_differ() -> None:
    pings = _pings(_Sent())
    assert len({pings.new_payload() for _ in range(100)}) == 100


async def test_keepalive_pings_then_times_out_without_a_pong() -> None:
    # (times read from the loop, not slept: on a loaded machine a sleep overshoots)
    sent = _Sent()
    pings = _pings(sent, interval=0.01, timeout=0.05)
    pings.start_keepalive()
    for _ in range(500):
        if sent.timed_out:
            break
        await asyncio.sleep(0.01)
    assert sent.timed_out == 1
    assert len(sent.payloads) == 1  # no second ping while the first waits for its pong
    assert sent.timed_out_at[0] - sent.sent_at[0] >= 0.05  # not before its timeout


async def test_keepalive_without_a_timeout_goes_on_pinging() -> None:
    sent = _Sent()
    pings = _pings(sent, interval=0.005)
    pings.start_keepalive()
    for _ in range(500):
        if len(sent.payloads) >= 2:
            break
        await asyncio.sleep(0.01)
    assert len(sent.payloads) >= 2
    pings.stop_keepalive()


async def test_no_keepalive_ping_on_a_connection_that_cannot_send() -> None:
    sent = _Sent(can_send=False)
    pings = _pings(sent, interval=0.005, timeout=0.005)
    pings.start_keepalive()
    await asyncio.sleep(0.03)
    assert sent.payloads == [] and sent.timed_out == 0
