"""The acknowledgement table of one client socket (sans-I/O).

Owns the ack ids (a counter per socket, as the JS client's ``ids``), what waits for each
answer, and the deadlines of those that have one; the clock is an input (``now``) and the
glue arms one timer for :meth:`AckTable.next_deadline`. Bounded: more than ``max_pending``
unanswered acks is the application's mistake (:class:`TooManyPendingAcks`), not memory
that grows without end.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from .errors import TooManyPendingAcks

__all__ = ["AckCallback", "AckTable", "TooManyPendingAcks"]

#: called with the ack's arguments (a list), or with an exception (timeout, disconnect)
AckCallback = Callable[[list[Any] | BaseException], None]


class AckTable:
    """Ack id -> callback, plus the deadlines (a heap of (when, id); stale entries, whose
    ack was answered, are skipped when they surface)."""

    __slots__ = ("_deadlines", "_next_id", "_pending", "max_pending")

    def __init__(self, max_pending: int = 10_000) -> None:
        self.max_pending = max_pending
        self._next_id = 0
        self._pending: dict[int, tuple[AckCallback, float | None]] = {}
        self._deadlines: list[tuple[float, int]] = []

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, callback: AckCallback, deadline: float | None = None) -> int:
        """Register ``callback`` for the next id; ``deadline``: the clock value after which
        it gets a timeout. Raises TooManyPendingAcks."""
        if len(self._pending) >= self.max_pending:
            raise TooManyPendingAcks(f"{self.max_pending} acks are already pending")
        ack_id = self._next_id
        self._next_id += 1
        self._pending[ack_id] = (callback, deadline)
        if deadline is not None:
            heapq.heappush(self._deadlines, (deadline, ack_id))
        return ack_id

    def pop(self, ack_id: int) -> AckCallback | None:
        """The callback of an answered ack (None: unknown, answered or timed out already)."""
        entry = self._pending.pop(ack_id, None)
        return None if entry is None else entry[0]

    def next_deadline(self) -> float | None:
        """The earliest deadline of a pending ack."""
        heap = self._deadlines
        while heap and heap[0][1] not in self._pending:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def expire(self, now: float) -> list[AckCallback]:
        """Remove and return the callbacks whose deadline is ``<= now``."""
        heap = self._deadlines
        due: list[AckCallback] = []
        while heap and heap[0][0] <= now:
            _, ack_id = heapq.heappop(heap)
            entry = self._pending.get(ack_id)
            if entry is not None and entry[1] is not None and entry[1] <= now:
                del self._pending[ack_id]
                due.append(entry[0])
        return due

    def clear(self, keep: frozenset[int] = frozenset()) -> list[AckCallback]:
        """Forget the pending acks but those in ``keep`` and return their callbacks (the
        session ended: a packet that was sent can no longer be answered; one still
        waiting in the send buffer, ``keep``, can, once sent on the next connection)."""
        callbacks = [cb for ack_id, (cb, _) in self._pending.items() if ack_id not in keep]
        self._pending = {k: v for k, v in self._pending.items() if k in keep}
        self._deadlines = [entry for entry in self._deadlines if entry[1] in keep]
        heapq.heapify(self._deadlines)
        return callbacks
