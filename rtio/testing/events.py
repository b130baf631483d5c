"""Awaiting what a client receives, with a timeout: :class:`EventLog` records every event
of a client socket (``on_any``), and ``await log.next("message")`` returns the arguments
of the next one of that name not yet taken (AssertionError, naming what did arrive, after
the timeout)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from rtio.client import ClientSocket

__all__ = ["EventLog", "wait_event"]


class EventLog:
    """Every event a client socket receives from now on, in order."""

    def __init__(self, socket: ClientSocket) -> None:
        self.socket = socket
        #: (event, args) in arrival order
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self._taken: dict[str, int] = {}
        self._changed = asyncio.Event()
        socket.on_any(self._record)

    def _record(self, event: str, *args: Any) -> None:
        self.events.append((event, args))
        self._changed.set()

    def close(self) -> None:
        """Stop recording (the socket forgets this log)."""
        self.socket.off_any(self._record)

    def received(self, event: str) -> list[tuple[Any, ...]]:
        """The arguments of every ``event`` received so far."""
        return [args for name, args in self.events if name == event]

    async def next(self, event: str, timeout: float = 1.0) -> Any:
        """The next ``event`` not yet taken: its one argument, or a tuple of several
        (None for none)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            seen = self.received(event)
            taken = self._taken.get(event, 0)
            if len(seen) > taken:
                self._taken[event] = taken + 1
                args = seen[taken]
                if not args:
                    return None
                return args[0] if len(args) == 1 else args
            remaining = deadline - loop.time()
            if remaining <= 0:
                names = [name for name, _ in self.events]
                raise AssertionError(f"no {event!r} within {timeout} s (received: {names})")
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def nothing(self, event: str, within: float = 0.05) -> None:
        """Assert that no further ``event`` arrives within ``within`` seconds."""
        await asyncio.sleep(within)
        extra = self.received(event)[self._taken.get(event, 0) :]
        assert not extra, f"unexpected {event!r}: {extra}"


async def wait_event(socket: ClientSocket, event: str, timeout: float = 1.0) -> Any:
    """The arguments of the next ``event`` the socket receives (as EventLog.next)."""
    log = EventLog(socket)
    try:
        return await log.next(event, timeout)
    finally:
        log.close()
