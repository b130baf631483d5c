"""TimerQueue on a hand-driven clock: deadlines fire in order at their time, re-arming
from a firing deadline, stale entries swept, a raising owner logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

import pytest

from rtio.engine.timers import TimerQueue


class _Handle:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ClockLoop:
    """The two things TimerQueue asks of a loop, on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0
        self.handles: list[_Handle] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> _Handle:
        handle = _Handle(when, callback)
        self.handles.append(handle)
        return handle

    def advance(self, to: float) -> None:
        """Move the clock to ``to``, running the loop timers due on the way, in order."""
        while True:
            due = [h for h in self.handles if not h.cancelled and h.when <= to]
            if not due:
                break
            handle = min(due, key=lambda h: h.when)
            self.handles.remove(handle)
            self.now = max(self.now, handle.when)
            handle.callback()
        self.now = to

    @property
    def armed(self) -> list[float]:
        return [h.when for h in self.handles if not h.cancelled]


def make(
    fire: Callable[[str, float], None], is_current: Callable[[str, float], bool] | None = None
) -> tuple[TimerQueue, ClockLoop]:
    loop = ClockLoop()
    queue = TimerQueue(
        cast(asyncio.AbstractEventLoop, loop), fire, is_current or (lambda key, when: True)
    )
    return queue, loop


def test_deadlines_fire_in_order_at_their_time_on_one_loop_timer() -> None:
    fired: list[tuple[str, float, float]] = []
    loop: Any = None

    def fire(key: str, when: float) -> None:
        fired.append((key, when, loop.now))

    queue, loop = make(fire)
    queue.schedule(130.0, "c")
    queue.schedule(110.0, "a")
    queue.schedule(120.0, "b")
    queue.schedule(120.0, "b2")
    assert loop.armed == [110.0]  # one loop timer, for the earliest
    loop.advance(119.0)
    assert fired == [("a", 110.0, 110.0)]
    assert loop.armed == [120.0]
    loop.advance(200.0)
    assert fired[1:] == [("b", 120.0, 120.0), ("b2", 120.0, 120.0), ("c", 130.0, 130.0)]
    assert loop.armed == [] and len(queue) == 0


def test_a_deadline_scheduled_while_firing_fires_later() -> None:
    fired: list[tuple[str, float]] = []
    queue: Any = None

    def fire(key: str, when: float) -> None:
        fired.append((key, when))
        if key == "ping":
            queue.schedule(when + 20.0, "pong-deadline")

    queue, loop = make(fire)
    queue.schedule(125.0, "ping")
    loop.advance(125.0)
    assert fired == [("ping", 125.0)]
    assert loop.armed == [145.0]
    loop.advance(150.0)
    assert fired == [("ping", 125.0), ("pong-deadline", 145.0)]


def test_an_earlier_deadline_rearms_the_loop_timer() -> None:
    queue, loop = make(lambda key, when: None)
    queue.schedule(150.0, "late")
    queue.schedule(105.0, "early")
    assert loop.armed == [105.0]


def test_stale_entries_are_swept() -> None:
    current: dict[str, float] = {}
    queue, _ = make(lambda key, when: None, lambda key, when: current.get(key) == when)
    # a churn of sessions that close before their deadline: their entries go stale
    for i in range(10_000):
        queue.schedule(200.0 + i, f"s{i}")
    assert len(queue) <= 2 * 64 + 1
    # live entries survive a sweep
    current.update({f"live{i}": 300.0 + i for i in range(100)})
    for i in range(100):
        queue.schedule(300.0 + i, f"live{i}")
    for i in range(1000):
        queue.schedule(500.0 + i, f"gone{i}")
    assert 100 <= len(queue) <= 2 * (100 + 64) + 1


def test_a_raising_owner_is_logged_and_the_others_fire(caplog: pytest.LogCaptureFixture) -> None:
    fired: list[str] = []

    def fire(key: str, when: float) -> None:
        if key == "bad":
            raise RuntimeError("bug")
        fired.append(key)

    queue, loop = make(fire)
    queue.schedule(110.0, "bad")
    queue.schedule(110.0, "good")
    queue.schedule(150.0, "later")
    with caplog.at_level(logging.ERROR, logger="rtio.engine"):
        loop.advance(110.0)
    assert fired == ["good"]
    assert any("timer of bad failed" in r.getMessage() for r in caplog.records)
    assert loop.armed == [150.0]
