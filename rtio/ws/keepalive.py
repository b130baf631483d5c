"""Pings waiting for their pong, and the keepalive timer of one connection.

``Pings`` owns the ping table (payload -> future of the round-trip time, send time) and
the keepalive cycle: every ``ping_interval`` a ping, and no pong within ``ping_timeout``
ends the connection. It sends through, and reports the timeout to, two callables the
WebSocket gives it; it knows nothing of frames or transports. Created on a connection's
first ping (a keepalive ping or ``WebSocket.ping``): a connection without keepalive that
never pings (Engine.IO's, with its own heartbeat) never has one.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable

from .errors import ConnectionClosed, InvalidState

__all__ = ["Pings"]


class Pings:
    """The pings of one connection; ``send(payload)`` writes a ping frame and returns the
    bytes written (0: the connection can no longer send)."""

    # slots: one per connection with keepalive, ~47 B less than a dict (bench_tricks.py)
    __slots__ = (
        "_counter",
        "_interval",
        "_keepalive_payload",
        "_loop",
        "_send",
        "_timed_out",
        "_timeout",
        "_timer",
        "_waiting",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        interval: float | None,
        timeout: float | None,
        send: Callable[[bytes], int],
        timed_out: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._interval = interval
        self._timeout = timeout
        self._send = send
        self._timed_out = timed_out
        self._waiting: dict[bytes, tuple[asyncio.Future[float], float]] = {}
        self._counter = 0
        self._timer: asyncio.TimerHandle | None = None
        self._keepalive_payload: bytes | None = None

    def new_payload(self) -> bytes:
        """A payload no ping of this connection waits with (a 32-bit counter)."""
        self._counter += 1
        return struct.pack("!I", self._counter & 0xFFFFFFFF)

    def add(self, payload: bytes) -> asyncio.Future[float]:
        """A ping with ``payload`` is being sent: the future of its round-trip time."""
        if payload in self._waiting:
            raise InvalidState("a ping with this payload is already waiting for its pong")
        future: asyncio.Future[float] = self._loop.create_future()
        self._waiting[payload] = (future, self._loop.time())
        return future

    def receive_pong(self, payload: bytes) -> None:
        waiting = self._waiting
        if payload not in waiting:
            return  # 5.5.3: "A response to an unsolicited Pong frame is not expected."
        now = self._loop.time()
        # 5.5.3: one pong may answer several pings, so earlier ones are resolved too
        while waiting:
            key = next(iter(waiting))
            future, sent = waiting.pop(key)
            if not future.done():
                future.set_result(now - sent)
            if key == payload:
                break
        if payload == self._keepalive_payload:
            self._keepalive_payload = None
            self.start_keepalive()

    # -- keepalive -----------------------------------------------------------------------

    def start_keepalive(self) -> None:
        """A keepalive ping in ``ping_interval`` (none if it is None or 0)."""
        self.stop_keepalive()
        interval = self._interval
        if interval is not None and interval > 0:
            self._timer = self._loop.call_later(interval, self._keepalive_ping)

    def stop_keepalive(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _keepalive_ping(self) -> None:
        self._timer = None
        payload = self.new_payload()
        if not self._send(payload):
            return
        self.add(payload)
        self._keepalive_payload = payload
        timeout = self._timeout
        if timeout is not None and timeout > 0:
            self._timer = self._loop.call_later(timeout, self._keepalive_timed_out)
        else:
            self.start_keepalive()

    def _keepalive_timed_out(self) -> None:
        self._timer = None
        self._timed_out()

    def close(self, error: ConnectionClosed) -> None:
        """The connection is gone: no more keepalive, and every waiting ping fails."""
        self.stop_keepalive()
        for future, _ in self._waiting.values():
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: nobody has to await an unanswered ping
        self._waiting.clear()
