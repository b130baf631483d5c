"""The process-wide write batcher: one callback per loop iteration ends every connection's
batch of writes.

Owns the per-loop ``LoopWrites`` and how a connection finds its loop's. Knows nothing of
WebSocket frames: a ``Batched`` (a ``Link``) is told when its loop iteration ends and writes
what it held back (see ``Link.write``).

Why: the first frame a connection writes in an iteration goes to the transport at once (an
echo's answer leaves with no delay); later ones wait in the connection's batch until the
end of the iteration, when each batch is written with a single ``transport.write``. A burst
of N messages to one connection (a broadcast loop) costs two write syscalls instead of N;
the order of the bytes is unchanged. Measured: bench_frames' ``echo 32 B`` with
``coalesce_writes`` needs 14-25 % less server CPU per echo than without
(benchmarks/ws/README.md, 2026-11-25).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Protocol

__all__ = ["Batched", "LoopWrites", "loop_writes"]


class Batched(Protocol):
    """A connection with writes held back until the end of the loop iteration."""

    def end_of_iteration(self) -> None: ...


class LoopWrites:
    """The connections of one loop that hold writes back in this iteration."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._touched: list[Batched] = []
        self._scheduled = False

    def touch(self, connection: Batched) -> None:
        """``connection.end_of_iteration()`` at the end of this loop iteration."""
        self._touched.append(connection)
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._end_of_iteration)

    def _end_of_iteration(self) -> None:
        self._scheduled = False
        touched, self._touched = self._touched, []
        for connection in touched:
            connection.end_of_iteration()


# (a "last loop's batcher" shortcut in front of this lookup saved ~65-85 ns per connection
# set-up, bench_tricks.py: noise next to a connection's set-up, so it went)
_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopWrites] = (
    weakref.WeakKeyDictionary()
)


def loop_writes(loop: asyncio.AbstractEventLoop) -> LoopWrites:
    """The batcher of ``loop`` (created on first use)."""
    writes = _by_loop.get(loop)
    if writes is None:
        writes = _by_loop[loop] = LoopWrites(loop)
    return writes
