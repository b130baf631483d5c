"""The decisions of the Redis link, sans-I/O: when to retry, what to keep while Redis is
down, and when a subscription has gone deaf. Time and randomness are inputs.

Owns: :class:`LinkState`, :class:`Backoff`, :class:`PublishBuffer`, :class:`Canary`.
Does not know: Redis, sockets, asyncio, or what the messages mean.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Backoff", "BufferedPublish", "Canary", "LinkState", "PublishBuffer"]


class LinkState(enum.Enum):
    """The link's lifecycle.

    ::

        CONNECTING --ok--> CONNECTED --error / deaf--> DISCONNECTED --backoff--> CONNECTING
             \\--error--> DISCONNECTED                     any --close()--> CLOSED
    """

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    CLOSED = "closed"


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits ``uniform(0, min(cap, base*2^n))``,
    never less than ``floor``. ``random()`` is injected (``random.random`` in the glue).
    """

    base: float = 0.1
    cap: float = 10.0
    floor: float = 0.05

    def delay(self, attempt: int, random: Callable[[], float]) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt, 32))
        return max(self.floor, ceiling * random())


@dataclass(frozen=True, slots=True)
class BufferedPublish:
    """A publish that waits for Redis: ``sharded``: SPUBLISH rather than PUBLISH."""

    channel: str
    payload: bytes
    sharded: bool = False

    @property
    def size(self) -> int:
        return len(self.channel) + len(self.payload)


class PublishBuffer:
    """What was published while Redis was down, bounded by bytes, oldest first.

    At the bound the oldest messages are dropped to make room (a late broadcast is worth
    less than a recent one); a message larger than the whole bound is dropped itself.
    The counts of what was dropped are kept for one log line per outage.
    """

    __slots__ = ("_items", "dropped_bytes", "dropped_messages", "limit", "size")

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("the buffer limit must be >= 0")
        self.limit = limit
        self.size = 0
        self.dropped_messages = 0
        self.dropped_bytes = 0
        self._items: deque[BufferedPublish] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def append(self, item: BufferedPublish) -> bool:
        """Keep ``item``; False when it was dropped (larger than the bound).

        Checked before keeping anything: the buffer never holds more than ``limit`` bytes.
        """
        size = item.size
        if size > self.limit:
            self._drop(size)
            return False
        while self.size + size > self.limit:
            oldest = self._items.popleft()
            self.size -= oldest.size
            self._drop(oldest.size)
        self._items.append(item)
        self.size += size
        return True

    def _drop(self, size: int) -> None:
        self.dropped_messages += 1
        self.dropped_bytes += size

    def peek(self) -> BufferedPublish | None:
        return self._items[0] if self._items else None

    def pop(self) -> BufferedPublish:
        item = self._items.popleft()
        self.size -= item.size
        return item

    def take_drop_counts(self) -> tuple[int, int]:
        """(messages, bytes) dropped since the last call."""
        counts = (self.dropped_messages, self.dropped_bytes)
        self.dropped_messages = self.dropped_bytes = 0
        return counts


class Canary:
    """Detects a deaf subscription: a canary published on a channel of the node's own must
    come back through the subscription within ``timeout`` seconds.

    ``due(now)``: time to publish one (every ``interval`` seconds); ``sent(token, now)``;
    ``received(token)``; ``deaf(now)``: the outstanding canary is overdue.
    """

    __slots__ = ("_next_at", "_outstanding", "_sent_at", "interval", "round_trip", "timeout")

    def __init__(self, interval: float, timeout: float) -> None:
        self.interval = interval
        self.timeout = timeout
        self._outstanding: bytes | None = None
        self._sent_at = 0.0
        self._next_at = 0.0
        #: seconds the last canary took to come back (the link's lag), None before one did
        self.round_trip: float | None = None

    def reset(self, now: float) -> None:
        """A new subscription: the first canary right away."""
        self._outstanding = None
        self._next_at = now

    def due(self, now: float) -> bool:
        return self._outstanding is None and now >= self._next_at

    def sent(self, token: bytes, now: float) -> None:
        self._outstanding = token
        self._sent_at = now
        self._next_at = now + self.interval

    def received(self, token: bytes, now: float | None = None) -> bool:
        """Whether ``token`` is the canary awaited (a stale one is ignored); with ``now``,
        its round trip is noted."""
        if token != self._outstanding:
            return False
        self._outstanding = None
        if now is not None:
            self.round_trip = now - self._sent_at
        return True

    def deaf(self, now: float) -> bool:
        return self._outstanding is not None and now - self._sent_at > self.timeout

    def next_deadline(self, now: float) -> float:
        """Seconds until the canary needs attention (to send one, or to call it late)."""
        if self._outstanding is not None:
            return max(0.0, self._sent_at + self.timeout - now)
        return max(0.0, self._next_at - now)
