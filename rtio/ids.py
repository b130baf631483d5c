"""Random ids shared by every layer: Engine.IO session ids and Socket.IO socket ids.

Both are Node's ``base64id``: 15 random bytes as 20 url-safe base64 characters (the Redis
adapters tell a socket id from a room name by its length of 20, so the length is part of the
wire). Knows nothing of the protocols that use the ids.

Speed: ids are drawn from the OS 64 at a time, one ``os.urandom`` call and one encoding for
64 connections instead of one each (benchmarks/RESULTS.md, stop 10: part of the connect
path's 560 -> 113 µs).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable

__all__ = ["IdPool", "new_id"]

ID_BYTES = 15  # exactly 20 base64 characters, no padding
ID_LENGTH = 20


class IdPool:
    """A callable that returns a fresh 20-character id each call.

    ``random_bytes`` is injectable (a test passes a seeded source); the pool is emptied in a
    forked child, which must not hand out the ids its parent may still hand out.
    """

    __slots__ = ("_ids", "_per_draw", "_prefix", "_random_bytes")

    def __init__(
        self, random_bytes: Callable[[int], bytes] = os.urandom, per_draw: int = 64
    ) -> None:
        self._ids: list[str] = []
        self._random_bytes = random_bytes
        self._per_draw = per_draw
        self._prefix = ""

    def __call__(self) -> str:
        ids = self._ids
        if not ids:
            raw = self._random_bytes(ID_BYTES * self._per_draw)
            text = base64.urlsafe_b64encode(raw).decode("ascii")
            ids.extend(text[i : i + ID_LENGTH] for i in range(0, len(text), ID_LENGTH))
            ids.reverse()  # hand them out in the order drawn
        prefix = self._prefix
        if prefix:
            return prefix + ids.pop()[len(prefix) :]
        return ids.pop()

    @property
    def prefix(self) -> str:
        """What every id starts with ('' for none; set_prefix)."""
        return self._prefix

    def set_prefix(self, prefix: str) -> None:
        """Start every id from now on with ``prefix`` (the ids keep their length; the
        prefix replaces random characters). rtio.workers marks a worker's session ids
        with it: the id says which worker owns the session."""
        if len(prefix) >= ID_LENGTH // 2:
            raise ValueError(f"an id prefix must be shorter than {ID_LENGTH // 2} characters")
        self._prefix = prefix

    def clear(self) -> None:
        """Forget the ids drawn but not handed out."""
        self._ids.clear()


#: the process-wide pool every layer draws from by default
new_id = IdPool()
os.register_at_fork(after_in_child=new_id.clear)
