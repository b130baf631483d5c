"""OutboundQueue: the packets waiting for a session's transport (sans-I/O).

A bounded queue of encoded text packets (str) and binary messages (bytes), counting bytes
against ``limit``, with Node's per-packet ``compress`` flag, and cut into polling payloads
of at most about maxPayload bytes (``pop_batch``). Knows nothing of sessions or transports:
the session core (session.py) decides what goes in and when it comes out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

__all__ = ["OutboundQueue"]


class OutboundQueue:
    """Packets waiting for a transport: encoded text packets (str) and binary messages
    (bytes), with their byte count bounded by ``limit``, and whether each may be compressed
    (Node's per-packet ``compress`` option; only tracked once an item says no)."""

    __slots__ = ("_plain", "items", "limit", "size")

    def __init__(self, limit: int) -> None:
        #: the queued items; None when the queue is empty (most idle sessions never
        #: queue: an empty deque is 760 bytes), which is also the cheapest emptiness test
        self.items: deque[str | bytes] | None = None
        #: None while every queued item may be compressed (the usual case); else, parallel
        #: to ``items``, True for an item to send uncompressed
        self._plain: deque[bool] | None = None
        self.size = 0
        self.limit = limit

    def __len__(self) -> int:
        items = self.items
        return 0 if items is None else len(items)

    def __iter__(self) -> Iterator[str | bytes]:
        return iter(() if self.items is None else self.items)

    def push(self, item: str | bytes, *, force: bool = False, compress: bool = True) -> bool:
        """Queue ``item``; False (and nothing queued) if that would pass the limit. An item
        is always accepted into an empty queue, and with ``force`` (control packets).
        ``compress=False``: the transport must send it uncompressed."""
        size = len(item)
        items = self.items
        if items is None:
            items = self.items = deque()
        if self.size + size > self.limit and items and not force:
            return False
        plain = self._plain
        if plain is not None:
            plain.append(not compress)
        elif not compress:
            self._plain = deque([False] * len(items))
            self._plain.append(True)
        items.append(item)
        self.size += size
        return True

    def pop_all(self) -> tuple[list[str | bytes], list[bool] | None]:
        """Every item, and their compress flags (None: all may be compressed)."""
        items = [] if self.items is None else list(self.items)
        plain = self._plain
        self.items = None
        self._plain = None
        self.size = 0
        return items, (None if plain is None else [not p for p in plain])

    def pop_batch(self, max_bytes: int) -> tuple[list[str | bytes], bool]:
        """Items from the front up to about ``max_bytes`` of polling payload (at least one),
        and whether the payload may be compressed: unless every item in it said no (Node
        compresses a polling response if any of its packets allows it).

        Binary items count at their base64 size plus the "b" prefix."""
        items = self.items
        if items is None:
            return [], True
        plain = self._plain
        batch: list[str | bytes] = []
        compress = plain is None
        total = 0
        while items:
            item = items[0]
            size = len(item) if isinstance(item, str) else 1 + (len(item) + 2) // 3 * 4
            if batch and total + size + 1 > max_bytes:
                break
            batch.append(items.popleft())
            if plain is not None and not plain.popleft():
                compress = True
            self.size -= len(item)
            total += size + 1
        if not items:
            self.items = None
            self._plain = None
        return batch, compress

    def clear(self) -> None:
        self.items = None
        self._plain = None
        self.size = 0
