"""Compression in a worker thread, and the sends that wait their turn behind it.

With permessage-deflate, compressing a big message (``offload_size`` and more) on the loop
kept the loop busy in zlib while the socket sat idle; zlib releases the GIL, so a worker
thread compresses it while the loop goes on flushing and reading (bench_frames' ``send
1 MiB deflate``: 0.69x aiohttp's wall time before, 0.82-0.96x after, at equal CPU;
benchmarks/ws/README.md). Every send of the connection waits its turn behind a lock while
one is in flight, which keeps the messages and the compressor's state in order.

Owns the lock, the count of sends in line and the last synchronous send put in line; the
WebSocket says what a send does. Knows nothing of frames or transports. Created on a
connection's first offloaded send: rare (big messages with permessage-deflate only), so
none of this costs the hot path anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from .deflate import PerMessageDeflate
from .errors import ConnectionClosed

__all__ = ["SendQueue", "compress_in_thread"]

logger = logging.getLogger("rtio.ws")


async def compress_in_thread(deflate: PerMessageDeflate, payload: bytes) -> bytes:
    """``deflate.compress(payload)`` in the loop's default executor. Cancelling the caller
    does not cancel the compression (the compressor's state moves on either way)."""
    loop = asyncio.get_running_loop()
    return await asyncio.shield(loop.run_in_executor(None, deflate.compress, payload))


class SendQueue:
    """The sends of one connection that wait behind an offloaded compression, in order."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._waiting = 0
        # the latest synchronous send put in line (see later)
        self._last: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        """A send is in line: any new send must go behind it."""
        return self._waiting > 0

    async def run(self, send: Callable[[], Awaitable[None]]) -> None:
        """Await ``send()`` once every send in line before it is done."""
        self._waiting += 1
        try:
            async with self._lock:
                await send()
        finally:
            self._waiting -= 1

    def later(self, send: Callable[[], Awaitable[None]]) -> None:
        """A synchronous send (``send_now``): in line from now, run by a task; ``wait``
        waits for it. An exception other than ConnectionClosed is logged."""
        self._waiting += 1  # counted from now, so that the next send goes behind this one
        task = asyncio.get_running_loop().create_task(self._run_later(send))
        task.add_done_callback(_retrieve)
        self._last = task

    async def _run_later(self, send: Callable[[], Awaitable[None]]) -> None:
        try:
            await self.run(send)
        finally:
            self._waiting -= 1

    async def wait(self) -> None:
        """Wait until the last synchronous send put in line was written (or failed: the
        caller finds out from the connection's state)."""
        task = self._last
        if task is None:
            return
        with contextlib.suppress(ConnectionClosed):
            await asyncio.shield(task)
        if self._last is task:
            self._last = None


def _retrieve(task: asyncio.Task[None]) -> None:
    """Done callback of a send_now() that waited behind an offloaded compression."""
    if task.cancelled():
        return
    exc = task.exception()
    # ConnectionClosed: the connection closed meanwhile, which drain() or the next send
    # reports to the caller; anything else is a bug worth a log line
    if exc is not None and not isinstance(exc, ConnectionClosed):
        logger.error("send_now() behind a compression failed", exc_info=exc)
