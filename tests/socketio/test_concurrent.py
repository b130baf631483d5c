"""The default concurrency of one socket's handlers (issue 16; rtio/socketio/_concurrent.py):
started in arrival order, concurrent once they await, at most ``max_concurrent_handlers``
awaiting, plain functions inline without a task, the slow-handler watch and the disconnect
as before. The strict order (``ordered_handlers=True``) is tested in test_dispatch.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from sio_loopback import Peer, settle

import rtio


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait for ``condition`` (a bound on a loaded machine, not a timing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def _gated(**options: object) -> tuple[rtio.Server, dict[str, asyncio.Event], list[str]]:
    """A server whose ``wait`` handler awaits the gate named by its argument."""
    sio = rtio.Server(connect_timeout=None, **options)  # type: ignore[arg-type]
    gates: dict[str, asyncio.Event] = {}
    started: list[str] = []

    @sio.on("wait")
    async def wait(socket: rtio.Socket, name: str) -> str:
        started.append(name)
        await gates.setdefault(name, asyncio.Event()).wait()
        return name

    sio.on("plain", lambda socket: "plain")
    return sio, gates, started


async def test_handlers_start_in_arrival_order_and_overlap_once_they_await() -> None:
    """Issue 16: on 61f677b the answer to "b" and to "plain" waited for "a" to finish."""
    sio, gates, started = _gated()
    peer = Peer(sio)
    await peer.connect()
    tasks = len(asyncio.all_tasks())
    peer.feed('21["wait","a"]', '22["wait","b"]', '23["plain"]')
    assert started == ["a", "b"]  # both started at once, in order
    assert peer.take() == ['33["plain"]']  # inline, not behind the awaiting ones
    assert len(asyncio.all_tasks()) == tasks + 2  # a task per handler that awaits, no more
    gates["b"].set()
    await settle()
    assert peer.take() == ['32["b"]']
    gates["a"].set()
    await settle()
    assert peer.take() == ['31["a"]']
    assert rtio.Server().max_concurrent_handlers == 32 and not rtio.Server().ordered_handlers


async def test_past_max_concurrent_handlers_later_events_wait_in_order() -> None:
    sio, gates, started = _gated(max_concurrent_handlers=2)
    peer = Peer(sio)
    await peer.connect()
    peer.feed(*(f'2{k}["wait","{k}"]' for k in range(1, 5)), '25["plain"]')
    assert started == ["1", "2"]  # the bound: 2 awaiting, the rest wait
    assert peer.take() == []  # "plain" too: it arrived after events that wait
    gates["2"].set()
    await settle()
    assert started == ["1", "2", "3"] and peer.take() == ['32["2"]']
    gates["1"].set()
    await settle()
    # "4" took the free slot; "plain" still waits: it arrived after "4" (arrival order)
    assert started == ["1", "2", "3", "4"] and peer.take() == ['31["1"]']
    gates["3"].set()
    await settle()
    assert peer.take() == ['33["3"]', '35["plain"]']
    gates["4"].set()
    await settle()
    assert peer.take() == ['34["4"]']
    peer.feed('26["plain"]')  # nothing waits: straight through again
    assert peer.take() == ['36["plain"]']
    with pytest.raises(ValueError):
        rtio.Server(max_concurrent_handlers=0)


async def test_a_slow_handler_is_logged_and_the_disconnect_is_not_held(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sio, gates, _ = _gated(slow_handler_warning=0.05)
    reasons: list[str] = []
    sio.on("disconnect", lambda socket, reason: reasons.append(str(reason)))
    peer = Peer(sio)
    sid = await peer.connect()
    with caplog.at_level(logging.WARNING, logger="rtio.socketio"):
        peer.feed('21["wait","a"]', '22["wait","b"]')
        await _until(lambda: "slow_handler_warning" in caplog.text)
    warning = caplog.records[0].getMessage()
    assert "'wait'" in warning and sid in warning and "2 of the socket's handlers" in warning
    peer.feed("1")
    await settle()
    assert reasons == ["client namespace disconnect"] and sio.sockets == {}
    gates["a"].set()
    gates["b"].set()
    await settle()
    assert peer.take() == []  # no ack once disconnected


async def test_release_says_whether_jobs_run_in_tasks() -> None:
    """The runner itself: ``release`` of an inline claim starts what was submitted
    meanwhile and says whether a job is now suspended (the owner then watches it)."""
    from rtio.socketio._concurrent import ConcurrentRunner

    runner = ConcurrentRunner(limit=2)
    gate = asyncio.Event()
    order: list[str] = []

    async def waits() -> None:
        order.append("waits")
        await gate.wait()

    assert runner.claim() and not runner.claim()
    assert not runner.release() and runner.idle and not runner.busy
    assert runner.claim()
    runner.submit(waits())
    assert order == []  # behind the claimed job
    assert runner.release()  # it started and suspended: a task finishes it
    assert order == ["waits"] and runner.running_async and not runner.busy
    gate.set()
    await _until(lambda: runner.idle)
