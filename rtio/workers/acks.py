"""Gathering the acks of a broadcast with acks (``emit_with_ack`` to many) across workers.

rtio's operator (``BroadcastOperator.emit_with_ack``) is told the number of clients
reached through ``on_client_count(n)`` (any number of calls, summed) and each answer
through ``on_ack(sid, args)``; it decides it is done when an answer arrives and the
answers equal the count. The other workers report their counts later than this one's, so
:class:`AckGather` holds the operator open with a placeholder count of 1 until every
worker asked has reported (or left, or the wait ended), and holds back the latest answer
so that removing the placeholder can be followed by an answer (which makes the operator
look again). With no answer at all anywhere, the operator ends at its timeout.

The clients of other workers that did not answer are reported by their workers a little
before the timeout; they are held (:meth:`AckGather.silent`) and given to the operator at
its own timeout (:meth:`AckGather.release`), so that it returns then, as on one worker,
with them in ``timed_out``.

States: GATHERING (counts still expected) -> FINAL (the placeholder removed).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

__all__ = ["AckGather", "GatherState"]


class GatherState(enum.Enum):
    GATHERING = "gathering"
    FINAL = "final"


class AckGather:
    """The acks of one broadcast: ``waiting`` holds the workers whose count is expected."""

    __slots__ = ("_held", "_on_ack", "_on_count", "_silent", "acked", "reached", "state",
                 "waiting")  # fmt: skip

    def __init__(
        self,
        waiting: set[int],
        on_count: Callable[[int], None],
        on_ack: Callable[[str, list[Any] | None], None],
    ) -> None:
        self.waiting = waiting
        self._on_count = on_count
        self._on_ack = on_ack
        self._held: tuple[str, list[Any] | None] | None = None
        self._silent: list[str] = []
        self.state = GatherState.GATHERING
        #: clients reached (every worker), and their answers so far
        self.reached = 0
        self.acked = 0
        on_count(1)  # the placeholder

    @property
    def complete(self) -> bool:
        """Final, and every client reached has answered."""
        return self.state is GatherState.FINAL and self.acked >= self.reached

    def count(self, n: int, worker: int | None = None) -> None:
        """``n`` clients reached on ``worker`` (None: this one)."""
        if worker is not None:
            if worker not in self.waiting:
                return
            self.waiting.discard(worker)
        self.reached += n
        if n:
            self._on_count(n)
        if not self.waiting and worker is not None:
            self.finish()

    def ack(self, sid: str, args: list[Any] | None) -> None:
        self.acked += 1
        if self.state is GatherState.FINAL:
            self._on_ack(sid, args)
            return
        held, self._held = self._held, (sid, args)
        if held is not None:
            self._on_ack(*held)

    def silent(self, sid: str) -> None:
        """A client of another worker did not answer (told before the timeout)."""
        self._silent.append(sid)

    def release(self) -> None:
        """The timeout: final counts, and the silent clients given as timed out."""
        self.finish()
        silent, self._silent = self._silent, []
        for sid in silent:
            self.ack(sid, None)

    def left(self, members: frozenset[int]) -> None:
        """The live workers changed: stop waiting for the counts of the dead."""
        self.waiting &= members
        if not self.waiting:
            self.finish()

    def finish(self) -> None:
        """The counts are final: remove the placeholder (and give the held answer)."""
        if self.state is GatherState.FINAL:
            return
        self.state = GatherState.FINAL
        self._on_count(-1)
        held, self._held = self._held, None
        if held is not None:
            self._on_ack(*held)
