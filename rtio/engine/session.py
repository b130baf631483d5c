"""The Engine.IO session state machine (sans-I/O): lifecycle, heartbeat and upgrade
deadlines as functions of ``now``, and the bounded outbound queue.

Owns decisions, not I/O: the glue (server.py) feeds it the clock and received control
packets, arms ONE timer at :meth:`Session.deadline`, and acts on what
:meth:`Session.on_timer` returns. Knows nothing of asyncio, aiohttp or WebSockets.

Lifecycle::

    OPEN ──probe──> UPGRADING ──"5"──> OPEN (transport = websocket)
     │                 │  └──timeout / bad probe──> OPEN (still polling)
     ├──close()────────┴──> CLOSING ──queue flushed──> CLOSED
     └──error / timeout / client close────────────────> CLOSED

Heartbeat (v4: the server pings): a ping is due ``ping_interval`` after the session opened
or after the last pong; a pong must arrive within ``ping_timeout`` of when the ping was
actually sent (the ``now`` of the :meth:`Session.on_timer` call that asked for it): after a
loop stall the ping goes out late, and a client that answers it at once is kept, as in Node
(issue 12, defect 4). A closing session keeps that bound: it is closed at the latest when a
live client would have had to answer its next ping (issue 12, defect 8).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterator

from .errors import PacketDecodeError
from .packet import Packet, PacketType

__all__ = [
    "InvalidTransition",
    "OutboundQueue",
    "Received",
    "Session",
    "SessionState",
    "TimerEvent",
]


class SessionState(enum.Enum):
    OPEN = "open"
    UPGRADING = "upgrading"
    CLOSING = "closing"
    CLOSED = "closed"


_ALLOWED = {
    SessionState.OPEN: {SessionState.UPGRADING, SessionState.CLOSING, SessionState.CLOSED},
    SessionState.UPGRADING: {SessionState.OPEN, SessionState.CLOSING, SessionState.CLOSED},
    SessionState.CLOSING: {SessionState.CLOSED},
    SessionState.CLOSED: set(),
}


class InvalidTransition(RuntimeError):
    """Local misuse: a transition the lifecycle does not allow."""


class TimerEvent(enum.Enum):
    SEND_PING = "send ping"
    PING_TIMEOUT = "ping timeout"
    UPGRADE_TIMEOUT = "upgrade timeout"
    CLOSE_TIMEOUT = "close timeout"


class Received(enum.Enum):
    """What a received control packet asks of the glue."""

    NOTHING = "nothing"
    CLIENT_CLOSE = "client close"


class Session:
    """Lifecycle and timers of one Engine.IO session."""

    __slots__ = (
        "_close_deadline",
        "_next_ping",
        "_pong_deadline",
        "_upgrade_deadline",
        "ping_interval",
        "ping_timeout",
        "sid",
        "state",
        "transport",
        "upgrade_timeout",
        "upgraded",
    )

    def __init__(
        self,
        sid: str,
        *,
        transport: str,
        now: float,
        ping_interval: float,
        ping_timeout: float,
        upgrade_timeout: float,
    ) -> None:
        self.sid = sid
        self.transport = transport
        self.state = SessionState.OPEN
        self.upgraded = False
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.upgrade_timeout = upgrade_timeout
        self._next_ping = now + ping_interval
        self._pong_deadline: float | None = None
        self._upgrade_deadline: float | None = None
        self._close_deadline: float | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def _goto(self, state: SessionState) -> None:
        if state not in _ALLOWED[self.state]:
            raise InvalidTransition(f"{self.state.value} -> {state.value}")
        self.state = state

    @property
    def is_open(self) -> bool:
        """OPEN or UPGRADING: the application may still send."""
        return self.state is SessionState.OPEN or self.state is SessionState.UPGRADING

    def can_upgrade(self) -> bool:
        return self.state is SessionState.OPEN and self.transport == "polling"

    def start_upgrade(self, now: float) -> None:
        """A WebSocket for this session was accepted: the probe may start."""
        if not self.can_upgrade():
            raise InvalidTransition(f"cannot upgrade a {self.state.value} {self.transport} session")
        self._goto(SessionState.UPGRADING)
        self._upgrade_deadline = now + self.upgrade_timeout

    def finish_upgrade(self) -> None:
        """The client sent "5" on the probed WebSocket: it becomes the transport."""
        self._goto(SessionState.OPEN)
        self.transport = "websocket"
        self.upgraded = True
        self._upgrade_deadline = None

    def abort_upgrade(self) -> None:
        """The probe failed (timeout, bad packet, WebSocket lost): stay on polling."""
        if self.state is SessionState.UPGRADING:
            self._goto(SessionState.OPEN)
        self._upgrade_deadline = None

    def start_closing(self, now: float, timeout: float) -> bool:
        """Server-initiated close: stop accepting sends and flush the queue (with its close
        packet) within ``timeout``, and no later than the heartbeat would have closed the
        session (Node keeps its ping timer running while a socket closes): the pending
        pong's deadline, else ``ping_timeout`` after the next ping is due. False if the
        session is already closing or closed."""
        if not self.is_open:
            return False
        self._goto(SessionState.CLOSING)
        beat = self._pong_deadline
        if beat is None:
            beat = max(self._next_ping, now) + self.ping_timeout
        self._upgrade_deadline = None
        self._pong_deadline = None
        self._close_deadline = min(now + timeout, beat)
        return True

    def close(self) -> bool:
        """The session is over. False if it already was (report the reason only once)."""
        if self.state is SessionState.CLOSED:
            return False
        self._goto(SessionState.CLOSED)
        self._pong_deadline = self._upgrade_deadline = self._close_deadline = None
        return True

    # -- received control packets --------------------------------------------------------

    def receive_packet(self, packet: Packet, now: float) -> Received:
        """Handle a packet other than MESSAGE received on the session's transport."""
        ptype = packet.type
        if ptype is PacketType.PONG:
            self.receive_pong(now)
        elif ptype is PacketType.CLOSE:
            return Received.CLIENT_CLOSE
        elif ptype is PacketType.PING:
            # v4: the server pings and the client answers; Node treats the reverse as an
            # error ("invalid heartbeat direction").
            raise PacketDecodeError("invalid heartbeat direction")
        elif ptype is PacketType.OPEN:
            raise PacketDecodeError("a client may not send an open packet")
        # NOOP and a stray UPGRADE are ignored, as in Node.
        return Received.NOTHING

    def receive_pong(self, now: float) -> None:
        self._pong_deadline = None
        self._next_ping = now + self.ping_interval

    # -- timers ------------------------------------------------------------------------

    def deadline(self) -> float | None:
        """When the glue's timer must next call :meth:`on_timer` (None: no timer)."""
        if self.state is SessionState.CLOSED:
            return None
        if self.state is SessionState.CLOSING:
            return self._close_deadline
        beat = self._pong_deadline if self._pong_deadline is not None else self._next_ping
        upgrade = self._upgrade_deadline
        return beat if upgrade is None or beat < upgrade else upgrade

    def on_timer(self, now: float) -> TimerEvent | None:
        """The next due event, or None. Call again until None: several may be due.

        v4 "Heartbeat": "At a given interval (the `pingInterval` value sent in the
        handshake) the server sends a `ping` packet and the client has a few seconds (the
        `pingTimeout` value) to send a `pong` packet back. If the server does not receive
        a `pong` packet back, then it SHOULD consider that the connection is closed."
        """
        if self.state is SessionState.CLOSED:
            return None
        if self.state is SessionState.CLOSING:
            if self._close_deadline is not None and now >= self._close_deadline:
                self._close_deadline = None
                return TimerEvent.CLOSE_TIMEOUT
            return None
        if self._upgrade_deadline is not None and now >= self._upgrade_deadline:
            self._upgrade_deadline = None
            return TimerEvent.UPGRADE_TIMEOUT
        if self._pong_deadline is not None:
            if now >= self._pong_deadline:
                self._pong_deadline = None
                return TimerEvent.PING_TIMEOUT
        elif now >= self._next_ping:
            # The glue sends the ping now: the pong is due ping_timeout after this, not
            # after the ping was due. Counted from the due time, a loop stall longer than
            # ping_timeout would drop every client, even those that answer at once
            # (issue 12, defect 4; Node arms its pong timer when it sends the ping).
            self._pong_deadline = now + self.ping_timeout
            return TimerEvent.SEND_PING
        return None


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
