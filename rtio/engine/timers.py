"""TimerQueue: the deadlines of all of a server's sessions on one loop timer.

A session asks for one deadline at a time (its sans-I/O core says when: session.py); the
queue keeps ``(when, key)`` entries in a heap and arms a single ``loop.call_at`` for the
earliest. This is the event loop's own scheduler, shared: every deadline fires at its time,
as with a TimerHandle per session, but an idle session costs a 56-byte tuple instead of
a ~540-byte TimerHandle (a tracemalloc figure: handle, libuv timer, bound method).

Entries are never removed: an entry whose deadline the owner moved or dropped is stale, and
``fire(key, when)`` is told of it anyway; the owner ignores a ``when`` that is not its
current deadline. Stale entries are swept out when they outnumber the live ones, so a
churn of short sessions does not grow the heap. Knows nothing of sessions.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable

__all__ = ["TimerQueue"]

logger = logging.getLogger("rtio.engine")


class TimerQueue:
    """``schedule(when, key)``: call ``fire(key, when)`` at ``when`` (loop time).
    ``is_current(key, when)`` says whether an entry still matters (for the sweep)."""

    __slots__ = ("_fire", "_handle", "_handle_when", "_heap", "_is_current", "_live", "_loop")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fire: Callable[[str, float], None],
        is_current: Callable[[str, float], bool],
    ) -> None:
        self._loop = loop
        self._fire = fire
        self._is_current = is_current
        self._heap: list[tuple[float, str]] = []
        self._handle: asyncio.TimerHandle | None = None
        self._handle_when: float | None = None
        #: entries at the last sweep (a sweep is due when the heap doubles)
        self._live = 0

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, when: float, key: str) -> None:
        heap = self._heap
        heapq.heappush(heap, (when, key))
        if len(heap) > 2 * self._live + 64:
            self._sweep()
        current = self._handle_when
        if current is None or when < current:
            self._arm(when)

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_at(when, self._run)
        self._handle_when = when

    def _sweep(self) -> None:
        is_current = self._is_current
        heap = self._heap
        heap[:] = [entry for entry in heap if is_current(entry[1], entry[0])]
        heapq.heapify(heap)
        self._live = len(heap)

    def _run(self) -> None:
        self._handle = None
        # while the due entries fire, a schedule() must not arm the loop timer: it is
        # armed once, for the earliest entry left, at the end
        self._handle_when = float("-inf")
        heap = self._heap
        now = self._loop.time()
        fire = self._fire
        try:
            while heap and heap[0][0] <= now:
                when, key = heapq.heappop(heap)
                try:
                    fire(key, when)
                except Exception:
                    logger.exception("engine timer of %s failed", key)
        finally:
            self._handle_when = None
            if heap:
                self._arm(heap[0][0])
