"""Copying the bytes of one client connection to another server and back (asyncio).

:class:`Splice` joins two transports: the client's (taken from rtio's HTTP front) and the
one it opens to the owning machine. Each side's reads are written to the other; when the
other side's write buffer passes ``high`` bytes (``pause_writing``), this side stops
reading until it drains (``resume_writing``): at most about ``high`` bytes are held per
direction whatever the peers do. Either side closing, or sending EOF, closes both once
what is buffered is written; no byte in either direction for ``idle_timeout`` s closes
both too (a polling GET waits up to the ping interval, a WebSocket hears a ping at least
that often: the default of 120 s is far above both).

States: :class:`SpliceState` CONNECTING (the client's reading paused, its first bytes
kept) -> OPEN (copying) -> CLOSED.

Errors: :meth:`Splice.connect` raises OSError / asyncio.TimeoutError when the owner cannot be
reached (the caller answers the request in place); nothing else raises.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from typing import cast

__all__ = ["Splice", "SpliceState"]

#: write buffer high-water mark of each side (bytes held per direction)
HIGH_WATER = 256 * 1024


class SpliceState(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSED = "closed"


class _Side(asyncio.Protocol):
    """One side's protocol: what it reads goes to the other side."""

    __slots__ = ("other", "splice", "transport")

    def __init__(self, splice: Splice) -> None:
        self.splice = splice
        self.transport: asyncio.Transport | None = None
        self.other: _Side | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # not an isinstance assert: uvloop's transports are not asyncio.Transport subclasses
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        self.splice.active()
        other = self.other
        if other is not None and other.transport is not None:
            other.transport.write(data)

    def eof_received(self) -> bool:
        self.splice.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.splice.close()

    def pause_writing(self) -> None:
        other = self.other
        if other is not None and other.transport is not None:
            other.transport.pause_reading()

    def resume_writing(self) -> None:
        other = self.other
        if other is not None and other.transport is not None and not other.transport.is_closing():
            other.transport.resume_reading()


class Splice:
    """The client's ``transport`` joined to a connection to ``host:port`` (see the module)."""

    def __init__(self, transport: asyncio.Transport, *, idle_timeout: float = 120.0,
                 on_close: Callable[[Splice], None] | None = None) -> None:  # fmt: skip
        self.state = SpliceState.CONNECTING
        self.idle_timeout = idle_timeout
        self._on_close = on_close
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self.client = _Side(self)
        self.upstream = _Side(self)
        self.client.other, self.upstream.other = self.upstream, self.client
        transport.pause_reading()
        transport.set_protocol(self.client)
        self.client.connection_made(transport)

    async def connect(self, host: str, port: int, first: bytes, timeout: float) -> None:
        """Open the connection to the owner, write ``first`` (the bytes read so far) and
        start copying both ways."""
        await asyncio.wait_for(
            self._loop.create_connection(lambda: self.upstream, host, port), timeout)
        if self.state is not SpliceState.CONNECTING:  # the client went away meanwhile
            self._close_transports()
            return
        self.state = SpliceState.OPEN
        upstream, client = self.upstream.transport, self.client.transport
        assert upstream is not None and client is not None
        upstream.write(first)
        client.resume_reading()
        self._timer = self._loop.call_later(self.idle_timeout, self._check_idle)

    def active(self) -> None:
        self._last = self._loop.time()

    def _check_idle(self) -> None:
        self._timer = None
        if self.state is SpliceState.CLOSED:
            return
        left = self._last + self.idle_timeout - self._loop.time()
        if left <= 0:
            self.close()
        else:
            self._timer = self._loop.call_later(left, self._check_idle)

    def close(self) -> None:
        """Close both sides (what each has buffered is written first)."""
        if self.state is SpliceState.CLOSED:
            return
        connecting = self.state is SpliceState.CONNECTING
        self.state = SpliceState.CLOSED
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not connecting:
            self._close_transports()
        elif self.client.transport is not None:
            self.client.transport.close()
        if self._on_close is not None:
            self._on_close(self)

    def abandon(self) -> asyncio.Transport | None:
        """Before :meth:`connect` succeeded: give the client's transport back (the caller
        answers the request in place), None when it closed meanwhile."""
        if self.state is not SpliceState.CONNECTING:
            return None
        self.state = SpliceState.CLOSED
        if self._on_close is not None:
            self._on_close(self)
        transport = self.client.transport
        return None if transport is None or transport.is_closing() else transport

    def _close_transports(self) -> None:
        for side in (self.client, self.upstream):
            if side.transport is not None:
                side.transport.close()
