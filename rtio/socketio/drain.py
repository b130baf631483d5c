"""Graceful drain: at shutdown, the handlers running now finish before clients are told.

On SIGTERM (a deploy, a scale-down) the engine stops admitting new sessions, then awaits
:func:`wait_for_handlers` (wired as ``EngineServer.drain`` by the Server) for at most
``shutdown_drain`` seconds (5 by default), then closes every session with "server shutting
down", a reason the client reconnects after (elsewhere, behind a load balancer) and, with
connection state recovery, recovers from. A handler that is awaiting a database or an ack
thus gets to answer its client instead of being cut off mid-way.

What is waited for: every socket whose handlers are suspended in an await or whose events
wait for them. Meanwhile connected clients keep talking, so under steady traffic the drain
ends at its bound, not earlier; acks asked of clients by code outside a handler are not
waited for. rtio.run_app drains while it still listens (``EngineServer.drain_in_flight``),
so polling clients keep talking meanwhile. Polls the sockets every ``POLL`` seconds: no
bookkeeping on the hot path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Protocol

__all__ = ["POLL", "wait_for_handlers"]

#: how often the drain looks at the sockets again
POLL = 0.02


class Drainable(Protocol):
    @property
    def handlers_running(self) -> bool: ...


async def wait_for_handlers(sockets: Callable[[], Iterable[Drainable]], timeout: float) -> int:
    """Wait until no socket of ``sockets()`` runs handlers, at most ``timeout`` seconds;
    returns how many still do then (0: drained)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        busy = sum(1 for socket in sockets() if socket.handlers_running)
        if not busy or loop.time() >= deadline:
            return busy
        await asyncio.sleep(min(POLL, max(0.0, deadline - loop.time())))
