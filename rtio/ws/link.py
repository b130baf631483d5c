"""The transport side of one WebSocket: its writes and both directions of flow control.

``Link`` owns every write to the transport (held back per loop iteration when
``coalesce_writes`` is on, see writes.py), the write pause/resume and drain, the read
pause/resume, and ending the transport (close after a flush, or abort). The adapters give
one to each WebSocket: this base works on a plain asyncio transport whose protocol forwards
``pause_writing`` / ``resume_writing`` here (stream.py's ``WebSocketStream`` is both);
aiohttp_adapter.py subclasses it for a connection that stays with aiohttp. Knows nothing of
WebSocket frames.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable

from .writes import LoopWrites, loop_writes

__all__ = ["Link", "ReadHold"]


class ReadHold(enum.Flag):
    """Why reading from the peer is paused; it resumes once no reason is left."""

    QUEUE_FULL = enum.auto()  # max_queue received messages wait for the application
    WRITE_BLOCKED = enum.auto()  # the transport's write buffer is above write_limit
    LOST = enum.auto()  # the connection is gone: nothing to resume, ever


class Link:
    """What a WebSocket needs from the connection below it."""

    # slots: one per connection (WebSocketStream, a Link, lives as long as it): ~49 B less
    # each than an instance dict (bench_tricks.py)
    __slots__ = (
        "_batch",
        "_batch_size",
        "_drain_waiters",
        "_read_holds",
        "_touched",
        "_write_limit",
        "_writes",
        "transport",
        "writing_paused",
    )

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        # the transport paused our writes (its buffer is over the write limit). An
        # attribute, not a property: read twice per echo (ws/driver.py, ws/connection.py).
        # aiohttp_adapter.py's subclass shadows it with a property (aiohttp's is the truth).
        self.writing_paused = False
        # created on first use: most connections never wait for a drain
        self._drain_waiters: list[asyncio.Future[None]] | None = None
        # writes of this loop iteration (see writes.py); None: each write goes out at once
        self._writes: LoopWrites | None = None
        self._touched = False
        self._batch: list[bytes] | None = None
        self._batch_size = 0
        self._write_limit = 1 << 16
        self._read_holds = ReadHold(0)

    def set_write_limit(self, limit: int, *, coalesce: bool) -> None:
        """The transport's write buffer high-water mark (``drain`` waits above it), and
        whether writes are coalesced per loop iteration."""
        self._write_limit = limit
        if coalesce:
            self._writes = loop_writes(asyncio.get_running_loop())
        # not contextlib.suppress: its object costs ~0.3 us per connection
        try:  # noqa: SIM105
            self.transport.set_write_buffer_limits(high=limit)
        except (AttributeError, NotImplementedError):
            pass  # a transport without flow control (a test's)

    # -- writes --------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Every write to the transport goes through here: the first of a loop iteration
        at once, later ones together at its end (one ``transport.write``)."""
        if not self._touched:
            writes = self._writes
            if writes is not None:
                self._touched = True
                writes.touch(self)
            self.transport.write(data)
            return
        batch = self._batch
        if batch is None:
            self._batch = [data]
            self._batch_size = len(data)
        else:
            batch.append(data)
            self._batch_size += len(data)
        if self._batch_size >= self._write_limit:
            self.flush()  # the transport's own buffer limit applies from here

    def write_first(self, data: bytes) -> None:
        """The connection's first bytes, before any frame (the 101 of ``stream.detach``):
        held until the end of this loop iteration, so that the frames written meanwhile
        (an Engine.IO open packet) leave in the same write syscall; written at once when
        writes are not coalesced. Backpressure (a batch above the write limit) and the
        close path flush it like any batch, always ahead of what came after it."""
        writes = self._writes
        if writes is None or self._touched or self._batch is not None:
            self.write(data)
            return
        self._touched = True
        writes.touch(self)
        self._batch = [data]
        self._batch_size = len(data)

    def flush(self) -> None:
        """Write what this loop iteration held back."""
        batch = self._batch
        if batch is None:
            return
        self._batch = None
        self._batch_size = 0
        if self.transport.is_closing():
            return
        self.transport.write(batch[0] if len(batch) == 1 else b"".join(batch))

    def end_of_iteration(self) -> None:
        """Called by the loop's batcher (writes.py)."""
        self._touched = False
        if self._batch is not None:
            self.flush()

    def close(self) -> None:
        """Flush, then close the transport (which writes what it buffers first)."""
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        """Drop what is held back and abort the transport (the peer is not reading)."""
        self._batch = None
        self.transport.abort()

    def write_buffer_size(self) -> int | None:
        """Bytes waiting in the transport for the peer (None: no flow control)."""
        try:
            return self.transport.get_write_buffer_size()
        except (AttributeError, NotImplementedError):
            return None  # a transport without flow control (a test's)

    # -- write flow control --------------------------------------------------------------

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        waiters, self._drain_waiters = self._drain_waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    async def drain(self) -> None:
        if not self.writing_paused:
            return
        waiter = asyncio.get_running_loop().create_future()
        if self._drain_waiters is None:
            self._drain_waiters = []
        self._drain_waiters.append(waiter)
        await waiter

    def call_when_writable(self, callback: Callable[[], None]) -> None:
        """``callback()`` once writing is no longer paused (or the connection is lost)."""
        if not self.writing_paused:
            callback()
            return
        waiter = asyncio.get_running_loop().create_future()
        waiter.add_done_callback(lambda _: callback())
        if self._drain_waiters is None:
            self._drain_waiters = []
        self._drain_waiters.append(waiter)

    def connection_lost(self) -> None:
        """The TCP connection is gone: nobody will read what is held back; wake the drain
        waiters; reading never resumes."""
        self._batch = None
        self._read_holds |= ReadHold.LOST
        self.wake_writers()

    def wake_writers(self) -> None:
        """Writing resumes or can no longer happen: wake whoever waits for a drain."""
        self.resume_writing()

    # -- read flow control ---------------------------------------------------------------

    def hold_reading(self, reason: ReadHold) -> None:
        """Pause reading from the peer for ``reason`` (until ``release_reading(reason)``)."""
        if not self._read_holds:
            self.pause_reading()
        self._read_holds |= reason

    def release_reading(self, reason: ReadHold) -> None:
        """``reason`` to pause reading is gone: resume if it was the last one."""
        if self._read_holds & reason:
            self._read_holds &= ~reason
            if not self._read_holds:
                self.resume_reading()

    def reading_held(self, reason: ReadHold) -> bool:
        return bool(self._read_holds & reason)

    # pause_reading / resume_reading: the transport's (an adapter may override them)

    def pause_reading(self) -> None:
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        self.transport.resume_reading()
