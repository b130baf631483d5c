"""The Engine.IO v4 session rules (sans-I/O): lifecycle, heartbeat, the polling GET/POST
rules, the upgrade probe, close order and close code -> reason, as functions of strings
and ``now``.

Owns decisions, not I/O: the glue (engine_session.py) feeds it the clock, the requests and
packets received, arms ONE timer at :meth:`Session.deadline`, and carries out what the
methods return: a :class:`Reply` for the pending GET, a :class:`Close` to close the
session with, a :class:`TimerEvent`, a :class:`ProbeAction`. It holds the session's
outbound queue (queue.py). Knows nothing of asyncio, HTTP servers or WebSockets.

Lifecycle (``state``)::

    OPEN ──probe WebSocket accepted──> UPGRADING ──"2probe"──> PROBED ──"5"──> OPEN (websocket)
     │                    (UPGRADING | PROBED) ──timeout / bad probe──> OPEN (still polling)
     ├──server close──> CLOSING ──queue fetched──> CLOSE_QUEUED ──close packet fetched──┐
     │                  (WebSocket: the close packet follows the messages at once)       │
     └──error / timeout / client close──────────────────────────────────────> CLOSED <──┘

Each polling request kind has a slot (``get``, ``post``): FREE or BUSY; a second request
while one is BUSY is a violation (v4 "a client MUST NOT have more than one active `GET`
request"). The transport (``transport``) is POLLING or WEBSOCKET, and only turns WEBSOCKET
by an upgrade or a direct WebSocket session.

Heartbeat (v4: the server pings): a ping is due ``ping_interval`` after the session opened
or after the last pong; a pong must arrive within ``ping_timeout`` of when the ping was
due, or, when the ping went out late because the loop stalled (later than a little timer
jitter), of when it was actually sent (the ``now`` of the :meth:`Session.on_timer` call that
asked for it): a client that answers a late ping at once is kept, as in Node (issue 12,
defect 4). A closing session keeps that bound: it is closed at the latest when a
live client would have had to answer its next ping (issue 12, defect 8).

Engine.IO v3 (:meth:`Session.use_eio3`, socket.io-client 2.x, served with ``allow_eio3``):
the client pings and the server answers (:meth:`Session.receive_ping`); a session whose client
has not pinged for ``ping_interval + ping_timeout`` is closed (Node's
``resetPingTimeout``); the polling payloads are eio3.py's.
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Callable, Mapping
from typing import NamedTuple

from . import eio3
from .errors import (
    Close,
    CloseReason,
    ErrorCode,
    InvalidTransition,
    PacketDecodeError,
    RequestRefused,
    SessionViolation,
)
from .options import EngineOptions
from .packet import Packet, PacketType, encode_payload
from .queue import OutboundQueue

__all__ = [
    "CLIENT_CLOSE",
    "FORCED",
    "NOOP",
    "SHUTDOWN",
    "Close",
    "InvalidTransition",
    "ProbeAction",
    "Reply",
    "Session",
    "SessionState",
    "Slot",
    "TimerEvent",
    "Transport",
    "close_for_ws_code",
]


class SessionState(enum.Enum):
    OPEN = "open"
    #: polling, a probe WebSocket accepted, its "2probe" not seen yet
    UPGRADING = "upgrading"
    #: polling, the probe answered "3probe": a GET gets a noop until "5" comes
    PROBED = "probed"
    #: closed by the server: the queued messages still go out, then the close packet
    CLOSING = "closing"
    #: polling: the close packet waits in the queue, alone, for the next GET
    CLOSE_QUEUED = "close queued"
    CLOSED = "closed"


#: how late a ping timer may fire and still count as on time (the pong then due on the
#: protocol's clock): a quarter of ping_timeout, at most 1 s; later than that is a loop
#: stall, and the pong is due ping_timeout after the ping actually left
STALL_FRACTION = 0.25
MAX_TIMER_JITTER = 1.0

_S = SessionState
_ALLOWED = {
    _S.OPEN: {_S.UPGRADING, _S.CLOSING, _S.CLOSE_QUEUED, _S.CLOSED},
    _S.UPGRADING: {_S.PROBED, _S.OPEN, _S.CLOSING, _S.CLOSE_QUEUED, _S.CLOSED},
    _S.PROBED: {_S.OPEN, _S.CLOSING, _S.CLOSE_QUEUED, _S.CLOSED},
    _S.CLOSING: {_S.CLOSE_QUEUED, _S.CLOSED},
    _S.CLOSE_QUEUED: {_S.CLOSED},
    _S.CLOSED: set(),
}


class Transport(enum.Enum):
    POLLING = "polling"
    WEBSOCKET = "websocket"


class Slot(enum.Enum):
    """A polling request kind (GET, POST) of a session: one may be in flight at a time."""

    FREE = "free"
    BUSY = "busy"


class TimerEvent(enum.Enum):
    SEND_PING = "send ping"
    PING_TIMEOUT = "ping timeout"
    UPGRADE_TIMEOUT = "upgrade timeout"
    CLOSE_TIMEOUT = "close timeout"


class ProbeAction(enum.Enum):
    """What a message on the probe WebSocket asks of the glue."""

    PONG = "pong"  # write "3probe" on the probe
    UPGRADE = "upgrade"  # the probe becomes the transport: flush the queue to it
    ABORT = "abort"  # close the probe; the session stays on polling


class Reply(NamedTuple):
    """The answer to a GET: the payload, whether it may be http-compressed, and the Close
    to carry out once it is answered (the payload is the close packet)."""

    payload: str | bytes  # (bytes: a v3 binary payload)
    compress: bool
    then: Close | None = None


# Speed: the enum members as module globals. On CPython 3.11 ``x is SessionState.OPEN``
# costs ~80 ns (member access goes through a descriptor), ``x is _OPEN`` ~9 ns (python -m
# timeit); the polling round trip of benchmarks/engine/bench_path.py reads about 20 of
# them: 8.66 -> 6.57 µs with the globals (best of 8 interleaved runs).
_OPEN = SessionState.OPEN
_UPGRADING = SessionState.UPGRADING
_PROBED = SessionState.PROBED
_CLOSING = SessionState.CLOSING
_CLOSE_QUEUED = SessionState.CLOSE_QUEUED
_CLOSED = SessionState.CLOSED
_POLLING = Transport.POLLING
_WEBSOCKET = Transport.WEBSOCKET
_FREE = Slot.FREE
_BUSY = Slot.BUSY

FORCED = Close(CloseReason.FORCED_CLOSE, "closed by the server")
# 1001 "going away" when the server stops
SHUTDOWN = Close(CloseReason.SERVER_SHUTTING_DOWN, "server shutting down", 1001)
# Node answers a pending poll with a noop, then closes ("transport close")
CLIENT_CLOSE = Close(CloseReason.TRANSPORT_CLOSE, "client sent a close packet", poll_reply="6")
PING_TIMEOUT = Close(CloseReason.PING_TIMEOUT, "no pong within pingTimeout")
# the peer does not read fast enough: what waits for it is dropped (1008)
QUEUE_FULL = Close(CloseReason.TRANSPORT_ERROR, "send queue full", 1008)
POLL_LOST = Close(CloseReason.TRANSPORT_ERROR, "poll connection closed prematurely")
POST_LOST = Close(CloseReason.TRANSPORT_ERROR, "data request connection lost")
PAYLOAD_TOO_LARGE = Close(CloseReason.TRANSPORT_ERROR, "payload too large")
BODY_TIMEOUT = Close(CloseReason.TRANSPORT_ERROR, "data request timeout")
CONNECT_FAILED = Close(CloseReason.TRANSPORT_ERROR, "connect handler failed")
INTERNAL_ERROR = Close(CloseReason.TRANSPORT_ERROR, "internal error", 1011)
NOOP = Reply("6", False)


def parse_error(description: str, *, websocket: bool = False) -> Close:
    """A packet a client may not send: 1002 (protocol error) on a WebSocket."""
    return Close(CloseReason.PARSE_ERROR, description, 1002 if websocket else 1000)


def close_for_ws_code(code: int | None) -> Close:
    """Why a session ends when its WebSocket closed with ``code``."""
    if code == 1009:
        # rtio.ws closed it: a message over max_message_size (= maxPayload)
        return PAYLOAD_TOO_LARGE
    if code in (1000, 1001, 1005):
        return Close(CloseReason.TRANSPORT_CLOSE, f"websocket closed ({code})")
    if code == 1006:
        return Close(CloseReason.TRANSPORT_ERROR, "websocket connection lost (1006)")
    return Close(CloseReason.TRANSPORT_ERROR, f"websocket closed ({code})")


class Session:
    """The rules of one Engine.IO session (see the module docstring)."""

    __slots__ = (
        "_close_deadline",
        "_next_ping",
        "_pong_deadline",
        "_upgrade_deadline",
        "close_with",
        "eio3",
        "encode_payload",
        "get",
        "noop",
        "options",
        "post",
        "queue",
        "sid",
        "state",
        "transport",
    )

    def __init__(
        self, sid: str, options: EngineOptions, *, transport: Transport, now: float
    ) -> None:
        self.sid = sid
        self.options = options
        self.transport = transport
        self.state = SessionState.OPEN
        self.get = _FREE
        self.post = _FREE
        self.queue = OutboundQueue(options.max_buffered_bytes)
        #: how the session ends once its close packet is out (set by start_closing)
        self.close_with = FORCED
        self._next_ping = now + options.ping_interval
        self._pong_deadline: float | None = None
        self._upgrade_deadline: float | None = None
        self._close_deadline: float | None = None
        #: Engine.IO v3 (use_eio3): the client pings; payloads are length-prefixed
        self.eio3 = False
        #: the polling payload of a list of queued items (v4: joined by \x1e)
        self.encode_payload: Callable[[list[str | bytes]], str | bytes] = encode_payload
        #: the answer to a GET that only ends the poll (v4 "6")
        self.noop = NOOP

    def use_eio3(self, query: Mapping[str, str]) -> None:
        """The session is Engine.IO v3 (right after it was made; ``query``: its
        handshake's): the client pings, the server never does; the polling payloads are
        eio3.py's, binary ones unless the handshake asked for base64 (``b64``, or JSONP)."""
        supports_binary = not query.get("b64") and "j" not in query
        self.eio3 = True
        self._pong_deadline = self._next_ping + self.options.ping_timeout
        self._next_ping = math.inf
        self.encode_payload = functools.partial(
            eio3.encode_payload, supports_binary=supports_binary
        )
        self.noop = Reply(self.encode_payload(["6"]), False)

    def __repr__(self) -> str:
        return f"<Session {self.sid} {self.transport.value} {self.state.value}>"

    # -- lifecycle ---------------------------------------------------------------------

    def _goto(self, state: SessionState) -> None:
        if state not in _ALLOWED[self.state]:
            raise InvalidTransition(f"{self.state.value} -> {state.value}")
        self.state = state

    @property
    def is_open(self) -> bool:
        """OPEN, UPGRADING or PROBED: the application may still send."""
        state = self.state
        return state is _OPEN or state is _UPGRADING or state is _PROBED

    def can_upgrade(self) -> bool:
        return self.state is _OPEN and self.transport is _POLLING

    def start_upgrade(self, now: float) -> None:
        """A WebSocket for this session was accepted: the probe may start."""
        if not self.can_upgrade():
            raise InvalidTransition(
                f"cannot upgrade a {self.state.value} {self.transport.value} session"
            )
        self._goto(_UPGRADING)
        self._upgrade_deadline = now + self.options.upgrade_timeout

    def receive_probe(self, message: str | bytes) -> tuple[ProbeAction, Reply | None]:
        """A message on the probe WebSocket: what to do, and the answer for the pending
        GET (None: none is pending, or it keeps waiting)."""
        state = self.state
        if state not in (_UPGRADING, _PROBED):
            return ProbeAction.ABORT, None
        if message == "2probe":
            # v4 "Upgrade": the server MUST "respond with a `pong` packet with the string
            # `probe` in the payload" and "send a `noop` packet to any pending `GET`
            # request (if applicable) to cleanly close HTTP long-polling transport" (a GET
            # with packets to deliver gets those).
            if state is _UPGRADING:
                self._goto(_PROBED)
            if self.get is _BUSY and not self.queue:
                self.get = _FREE
                return ProbeAction.PONG, self.noop
            return ProbeAction.PONG, None
        if message == "5":
            # Node completes the upgrade even without a probe
            self._goto(_OPEN)
            self.transport = _WEBSOCKET
            self._upgrade_deadline = None
            if self.get is _BUSY:
                self.get = _FREE
                return ProbeAction.UPGRADE, self.noop
            return ProbeAction.UPGRADE, None
        self.abort_upgrade()
        return ProbeAction.ABORT, None

    def abort_upgrade(self) -> None:
        """The probe failed (timeout, bad packet, WebSocket lost): stay on polling."""
        if self.state in (_UPGRADING, _PROBED):
            self._goto(_OPEN)
        self._upgrade_deadline = None

    def start_closing(self, now: float, close: Close) -> bool:
        """Server-initiated close: stop accepting sends, flush the queue, then the close
        packet, then close with ``close``; all within ``close_timeout``, and no later than
        the heartbeat would have closed the session (Node keeps its ping timer running
        while a socket closes): the pending pong's deadline, else ``ping_timeout`` after
        the next ping is due. False if the session is already closing or closed.

        Over WebSocket the close packet is queued behind the messages (one frame each):
        the glue flushes and closes at once. Over polling it goes in a response of its own,
        after the one that carried the last queued messages (Node waits for "drain"):
        socket.io-client handles a close packet before the messages decoded with it, so
        sharing a payload would lose them (and the disconnect reason they carry)."""
        if not self.is_open:
            return False
        options = self.options
        beat = self._pong_deadline
        if beat is None:
            beat = max(self._next_ping, now) + options.ping_timeout
        self._upgrade_deadline = None
        self._pong_deadline = None
        self._close_deadline = min(now + options.close_timeout, beat)
        self.close_with = close
        if self.transport is _WEBSOCKET:
            self._goto(_CLOSING)
            self.queue.push("1", force=True)
        elif self.queue:
            self._goto(_CLOSING)
        else:
            self._queue_close_packet()
        return True

    def _queue_close_packet(self) -> None:
        self._goto(_CLOSE_QUEUED)
        self.queue.push("1", force=True)  # control packets are tiny: never refused

    def close(self) -> bool:
        """The session is over. False if it already was (report the reason only once)."""
        if self.state is _CLOSED:
            return False
        self._goto(_CLOSED)
        self._pong_deadline = self._upgrade_deadline = self._close_deadline = None
        self.get = self.post = _FREE
        self.queue.clear()
        return True

    # -- sending (the glue queues messages in ``queue`` itself, once ``is_open``) --------

    def push_control(self, packet: str) -> None:
        """Queue a control packet (ping) behind the messages already queued."""
        self.queue.push(packet, force=True)

    def flushed(self) -> Close | None:
        """The queue was handed to the transport (all of it, or a polling batch): the Close
        to carry out now, if the close packet went with it."""
        if self.queue.items is None:  # (None: empty)
            state = self.state
            if state is _CLOSE_QUEUED:
                return self.close_with  # the close packet went out with the last batch
            if state is _CLOSING and self.transport is _POLLING:
                self._queue_close_packet()
        return None

    # -- polling -----------------------------------------------------------------------

    def receive_request(self, polling: bool) -> None:
        """An HTTP request with this session's sid. Raises RequestRefused: the session is
        closed (v4: "The server MUST return an HTTP 400 response if the session ID (from
        the `sid` query parameter) is not known"), or a polling request comes for an
        upgraded session."""
        if self.state is _CLOSED:
            raise RequestRefused(ErrorCode.UNKNOWN_SID)
        if polling and self.transport is not _POLLING:
            raise RequestRefused(ErrorCode.BAD_REQUEST)

    def receive_get(self) -> Reply | None:
        """A GET: its answer now, or None: it waits (``get`` BUSY) until :meth:`take_batch`
        or another rule answers it."""
        if self.get is _BUSY:
            # v4 "Receiving data": "a client MUST NOT have more than one active `GET`
            # request. Should it happen, the server MUST return an HTTP 400 error status and
            # close the session." (Node: "overlap from client"; the first poll gets "1".)
            raise SessionViolation(
                Close(CloseReason.TRANSPORT_ERROR, "overlapping poll requests"),
                "Overlapping poll requests",
            )
        if self.queue.items is not None:  # (None: empty)
            return self.take_batch()
        if self.state is _PROBED:
            return self.noop
        self.get = _BUSY
        return None

    def take_batch(self) -> Reply:
        """The queued packets (up to about maxPayload) for the pending or arriving GET."""
        self.get = _FREE
        batch, compress = self.queue.pop_batch(self.options.max_payload)
        # (an open session has no close to carry out: flushed() only when closing)
        then = None if self.state is _OPEN else self.flushed()
        return Reply(self.encode_payload(batch), compress, then)

    def take_first_batch(self, open_packet: str) -> Reply:
        """The handshake GET's answer: the open packet, then what is queued already."""
        self.get = _FREE
        batch, compress = self.queue.pop_batch(self.options.max_payload)
        batch.insert(0, open_packet)
        then = None if self.state is _OPEN else self.flushed()
        return Reply(self.encode_payload(batch), compress, then)

    def poll_lost(self) -> None:
        """The pending GET's connection is gone (the glue closes with POLL_LOST)."""
        self.get = _FREE

    def receive_post(self) -> None:
        """A POST begins (its body is read by the glue, then :meth:`post_done`)."""
        if self.post is _BUSY:
            # v4 "Sending data": "a client MUST NOT have more than one active `POST`
            # request. Should it happen, the server MUST return an HTTP 400 error status and
            # close the session."
            raise SessionViolation(
                Close(CloseReason.TRANSPORT_ERROR, "overlapping data requests"),
                "Overlapping data requests",
            )
        self.post = _BUSY

    def post_done(self) -> None:
        self.post = _FREE

    # -- received control packets --------------------------------------------------------

    def receive_packet(self, packet: Packet, now: float) -> Close | None:
        """A packet other than MESSAGE received on the session's transport: the Close to
        carry out, if it asks for one. Raises PacketDecodeError for a packet a client may
        not send."""
        ptype = packet.type
        if ptype is PacketType.PONG:
            if self.eio3:
                # v3: the client pings; Node: "invalid heartbeat direction"
                raise PacketDecodeError("invalid heartbeat direction")
            self.receive_pong(now)
        elif ptype is PacketType.CLOSE:
            return CLIENT_CLOSE
        elif ptype is PacketType.PING:
            if self.eio3:
                # v3: the client pings, the server answers (Node: sendPacket("pong"))
                self.receive_ping(now)
                if self.is_open:
                    self.queue.push("3", force=True)
                return None
            # v4: the server pings and the client answers; Node treats the reverse as an
            # error ("invalid heartbeat direction").
            raise PacketDecodeError("invalid heartbeat direction")
        elif ptype is PacketType.OPEN:
            raise PacketDecodeError("a client may not send an open packet")
        # NOOP and a stray UPGRADE are ignored, as in Node.
        return None

    def receive_ping(self, now: float) -> None:
        """v3: the client pinged (the glue answers with a pong): it has ``ping_interval +
        ping_timeout`` to ping again (Node's ``pingTimeoutTimer.refresh()``)."""
        if not self.eio3:
            raise InvalidTransition("only a v3 client pings")
        if self.is_open:
            options = self.options
            self._pong_deadline = now + options.ping_interval + options.ping_timeout

    def receive_pong(self, now: float) -> None:
        self._pong_deadline = None
        self._next_ping = now + self.options.ping_interval

    # -- timers ------------------------------------------------------------------------

    def deadline(self) -> float | None:
        """When the glue's timer must next call :meth:`on_timer` (None: no timer)."""
        state = self.state
        if state is _CLOSED:
            return None
        if state is _CLOSING or state is _CLOSE_QUEUED:
            return self._close_deadline
        beat = self._pong_deadline if self._pong_deadline is not None else self._next_ping
        upgrade = self._upgrade_deadline
        return beat if upgrade is None or beat < upgrade else upgrade

    def on_timer(self, now: float) -> TimerEvent | None:
        """The next due event, or None. Call again until None: several may be due.
        SEND_PING: queue "2"; PING_TIMEOUT: close with PING_TIMEOUT; UPGRADE_TIMEOUT: the
        session is back on polling, close the probe; CLOSE_TIMEOUT: close with
        ``close_with``.

        v4 "Heartbeat": "At a given interval (the `pingInterval` value sent in the
        handshake) the server sends a `ping` packet and the client has a few seconds (the
        `pingTimeout` value) to send a `pong` packet back. If the server does not receive
        a `pong` packet back, then it SHOULD consider that the connection is closed."
        """
        state = self.state
        if state is _CLOSED:
            return None
        if state is _CLOSING or state is _CLOSE_QUEUED:
            if self._close_deadline is not None and now >= self._close_deadline:
                self._close_deadline = None
                return TimerEvent.CLOSE_TIMEOUT
            return None
        if self._upgrade_deadline is not None and now >= self._upgrade_deadline:
            self.abort_upgrade()
            return TimerEvent.UPGRADE_TIMEOUT
        if self._pong_deadline is not None:
            if now >= self._pong_deadline:
                self._pong_deadline = None
                return TimerEvent.PING_TIMEOUT
        elif now >= self._next_ping:
            # The glue sends the ping now. After a loop stall the pong is due ping_timeout
            # after this, not after the ping was due: counted from the due time, a stall
            # longer than ping_timeout would drop every client, even those that answer at
            # once (issue 12, defect 4; Node arms its pong timer when it sends the ping).
            # A timer that is merely a few milliseconds late is no stall: then the pong is
            # due on the protocol's clock (due time + ping_timeout), which clients and the
            # official suite count on ("closes the session upon ping timeout" polls exactly
            # pingInterval + pingTimeout after the handshake).
            timeout = self.options.ping_timeout
            due = self._next_ping
            late = now - due > min(timeout * STALL_FRACTION, MAX_TIMER_JITTER)
            self._pong_deadline = (now if late else due) + timeout
            return TimerEvent.SEND_PING
        return None
