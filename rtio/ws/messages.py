"""The messages a WebSocket received and the application has not read yet.

``Inbox`` is the queue behind ``recv()`` / ``async for`` (iterator mode): messages wait in
order, at most ``max_queue`` before reading from the peer pauses (through the connection's
``Link``), and reading resumes once the application took half of them. One ``recv()`` at a
time waits for the next message. Knows nothing of frames or of how messages arrive (the
WebSocket appends them); push mode (``set_receiver``) has no inbox at all.
"""

from __future__ import annotations

import asyncio

from .errors import InvalidState
from .link import Link, ReadHold

__all__ = ["Inbox"]


class Inbox:
    """Received messages, oldest first (``messages``: the WebSocket appends, then calls
    ``added``)."""

    # slots: one per connection in iterator mode, ~41 B less than a dict (bench_tricks.py)
    __slots__ = ("_high", "_link", "_loop", "_waiter", "full", "messages")

    def __init__(self, loop: asyncio.AbstractEventLoop, link: Link, max_queue: int) -> None:
        # a list, not a deque: at most max_queue items, and an empty deque costs 760 bytes
        # (an empty list, 56)
        self.messages: list[str | bytes] = []
        self._link = link
        self._high = max(max_queue, 1)
        self.full = False  # reading is held for it
        self._loop = loop
        self._waiter: asyncio.Future[None] | None = None

    def added(self) -> None:
        """Messages were appended: wake the reader; hold reading if the queue is full."""
        waiter = self._waiter
        if waiter is not None:  # wake(), inline: once per read in iterator mode
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if len(self.messages) >= self._high and not self.full:
            self.full = True
            self._link.hold_reading(ReadHold.QUEUE_FULL)

    def taken(self) -> None:
        """The reader took messages out of a full queue (``messages.pop(0)``, inline in
        recv(): no call per message while the queue is not full): reading resumes at half
        the queue."""
        if self.full and len(self.messages) <= self._high >> 1:
            self._release()

    def take_all(self) -> list[str | bytes]:
        """Every message, the queue emptied (the connection goes to push mode)."""
        messages, self.messages = self.messages, []
        if self.full:
            self._release()
        return messages

    def _release(self) -> None:
        self.full = False
        self._link.release_reading(ReadHold.QUEUE_FULL)

    def wait(self) -> asyncio.Future[None]:
        """A future resolved by ``wake()`` (a message arrived or the connection changed).
        A future, not a coroutine: one less frame per message a reader waits for."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            raise InvalidState("recv() is already being awaited")
        waiter = self._waiter = self._loop.create_future()
        return waiter

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
