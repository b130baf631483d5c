"""Tests of writes.py (LoopWrites: one end-of-iteration callback per loop for every
connection that held writes back)."""

from __future__ import annotations

import asyncio

from rtio.ws.writes import LoopWrites, loop_writes


class _Connection:
    def __init__(self) -> None:
        self.ends = 0

    def end_of_iteration(self) -> None:
        self.ends += 1


async def test_every_touched_connection_ends_its_iteration_once() -> None:
    writes = LoopWrites(asyncio.get_running_loop())
    a, b = _Connection(), _Connection()
    writes.touch(a)
    writes.touch(b)
    assert (a.ends, b.ends) == (0, 0)  # at the end of this iteration, not now
    await asyncio.sleep(0)
    assert (a.ends, b.ends) == (1, 1)
    await asyncio.sleep(0)
    assert (a.ends, b.ends) == (1, 1)  # nothing touched since
    writes.touch(a)
    await asyncio.sleep(0)
    assert (a.ends, b.ends) == (2, 1)


async def test_one_batcher_per_loop() -> None:
    loop = asyncio.get_running_loop()
    assert loop_writes(loop) is loop_writes(loop)
    assert loop_writes(loop).loop is loop


def test_another_loop_gets_its_own() -> None:
    async def get() -> LoopWrites:
        return loop_writes(asyncio.get_running_loop())

    first, second = asyncio.run(get()), asyncio.run(get())
    assert first is not second and first.loop is not second.loop
