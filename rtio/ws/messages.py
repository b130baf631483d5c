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
    __slots__ = ("_high", "_link", "_waiter", "full", "messages")

    def __init__(self, link: Link, max_queue: int) -> None:
        # a list, not a deque: at most max_queue items, and an empty deque costs 760 bytes
        # (an empty list, 56)
        self.messages: list[str | bytes] = []
        self._link = link
        self._high = max(max_queue, 1)
        self.full = False  # reading is held for it
        self._waiter: asyncio.Future[None] | None = None

    def added(self) -> None:
        """Messages were appended: wake the reader; hold reading if the queue is full."""
        self.wake()
        if len(self.messages) >= self._high and not self.full:
            self.full = True
            self._link.hold_reading(ReadHold.QUEUE_FULL)

    def pop(self) -> str | bytes:
        """The oldest message (there is one); reading resumes at half the queue."""
        messages = self.messages
        message = messages.pop(0)
        if self.full and len(messages) <= self._high >> 1:
            self._release()
        return message

    def take_all(self) -> list[str | bytes]:
        """Every message, the queue emptied (the connection goes to push mode)."""
        messages, self.messages = self.messages, []
        if self.full:
            self._release()
        return messages

    def _release(self) -> None:
        self.full = False
        self._link.release_reading(ReadHold.QUEUE_FULL)

    async def wait(self) -> None:
        """Until ``wake()``: a message arrived or the connection changed."""
        if self._waiter is not None:
            raise InvalidState("recv() is already being awaited")
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
