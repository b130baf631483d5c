"""The connect timeout of every client of a server, on one loop timer.

Node's ``connectTimeout``: a client that has joined no namespace this many seconds after its
Engine.IO session opened is closed. Nearly every client joins within milliseconds, so a
timer per client (a ``TimerHandle`` made and cancelled per connection) is almost all waste.
The timeout is the same for every client, so the deadlines come in the order the clients
do: an insertion-ordered dict of the clients still waiting is also their queue by
deadline, joining is a dict removal, and one timer, armed for the first deadline, serves
them all. Knows clients only as keys with an ``on_connect_timeout()`` method.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

__all__ = ["ConnectDeadlines"]


class _Waiting(Protocol):
    def on_connect_timeout(self) -> None: ...


class ConnectDeadlines:
    """Clients that must join a namespace within ``timeout`` seconds (None: no limit)."""

    __slots__ = ("_handle", "_loop", "_waiting", "timeout")

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        #: client -> its deadline (loop time), in deadline order
        self._waiting: dict[_Waiting, float] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, client: _Waiting) -> None:
        """Start ``client``'s clock (now, on the running loop)."""
        if self.timeout is None:
            return
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a server reused on a new loop: the old one is gone
            self._waiting.clear()
            self._handle = None
            self._loop = loop
        when = loop.time() + self.timeout
        self._waiting[client] = when
        if self._handle is None:
            self._handle = loop.call_at(when, self._expire)

    def discard(self, client: _Waiting) -> None:
        """``client`` joined a namespace, or went: it waits no longer. (The timer stays
        armed; when it fires it finds nothing due and re-arms for the next deadline.)"""
        self._waiting.pop(client, None)

    def _expire(self) -> None:
        loop = self._loop
        assert loop is not None
        self._handle = None
        now = loop.time()
        waiting = self._waiting
        due = []
        for client, when in waiting.items():
            if when > now:
                break
            due.append(client)
        for client in due:
            del waiting[client]
        if waiting:
            self._handle = loop.call_at(next(iter(waiting.values())), self._expire)
        for client in due:
            client.on_connect_timeout()
