"""EngineSession: the asyncio glue of one Engine.IO session.

Carries out what the session's sans-I/O core (session.py) decides: holds the pending GET's
future, the pending POST's body read, the WebSocket (or its upgrade probe, both in rtio.ws
push mode: callbacks, no task per message) and the drain waiters; feeds the core the clock,
requests and packets; arms the deadline the core asks for; reports messages and the close
to the layer above (EngineHandler). Needs of its server only a :class:`SessionHost`.

An Engine.IO v3 session (``protocol`` 3, allow_eio3): the same glue, the core's v3 rules.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import rtio.engine.session as rules

from . import eio3
from .errors import (
    Close,
    CloseReason,
    ErrorCode,
    PacketDecodeError,
    RequestRefused,
    SessionViolation,
)
from .http import HttpRequest, HttpResponse
from .options import EngineOptions
from .packet import Packet, PacketType, decode_packet
from .polling import reply_response
from .post_glue import PostGlue
from .request import HandshakeRequest
from .session import ProbeAction, Reply, Session, SessionState, TimerEvent, Transport
from .websocket import PreparedPacket, WebSocketTransport

__all__ = ["EngineHandler", "EngineSession", "SessionHost"]

logger = logging.getLogger("rtio.engine")

# Speed: the states send() and the receiver test, as module globals: ~9 ns a test against
# ~80 ns for ``SessionState.OPEN`` on CPython 3.11 (see session.py), on a ~1 µs send
_OPEN = SessionState.OPEN
_CLOSED = SessionState.CLOSED


class EngineHandler(Protocol):
    """The layer above. Called synchronously from the engine's glue."""

    def on_connect(self, session: EngineSession) -> None: ...

    def on_message(self, session: EngineSession, data: str | bytes) -> None: ...

    def on_disconnect(
        self, session: EngineSession, reason: CloseReason, description: str
    ) -> None: ...


class SessionHost(Protocol):
    """What a session needs of its server."""

    @property
    def options(self) -> EngineOptions: ...

    @property
    def handler(self) -> EngineHandler: ...

    def schedule(self, when: float, sid: str) -> None:
        """Call the session's ``on_timer(when)`` at ``when`` (loop time)."""

    def release(self, ws: WebSocketTransport) -> None:
        """No session reads ``ws`` any more."""

    def forget(self, session: EngineSession) -> None:
        """``session`` is closed: out of the server's sessions."""
    def upgrade_ended(self, session: EngineSession, failure: str | None) -> None: ...


class EngineSession(PostGlue):
    """One Engine.IO session, whatever its transport. The layer above uses ``sid``,
    ``request``, ``transport``, ``connected``, ``writable``, ``send``, ``close`` and
    ``drain``; the server the methods under "the server's side"."""

    __slots__ = (
        "__weakref__",
        "_core",
        "_drain_waiters",
        "_handler",
        "_host",
        "_loop",
        "_poll_transport",
        "_poll_waiter",
        "_probe",
        "_queue",
        "_timer_when",
        "_ws",
        "protocol",
        "request",
        "sid",
        "state",
    )

    def __init__(
        self, host: SessionHost, sid: str, request: HandshakeRequest, transport: Transport
    ) -> None:
        self.sid = sid
        #: the Engine.IO protocol revision of the client: 4, or 3 (allow_eio3)
        self.protocol = 3 if request.query.get("EIO") == "3" else 4
        self.request = request
        #: free slot for the layer above (e.g. its socket object)
        self.state: object = None
        self._host: SessionHost = host
        self._handler = host.handler
        self._loop = asyncio.get_running_loop()
        self._core = core = Session(sid, host.options, transport=transport, now=self._loop.time())
        if self.protocol == 3:
            core.use_eio3(request.query)
        self._queue = core.queue  # (the core's: one attribute less on the send path)
        #: the deadline this session has in the server's TimerQueue (None: none)
        self._timer_when: float | None = None
        #: the pending GET (while the core's ``get`` is BUSY): set with its Reply
        self._poll_waiter: asyncio.Future[Reply] | None = None
        self._poll_transport: asyncio.BaseTransport | None = None
        #: the body read of the pending POST (a session's close ends it)
        self._post = None
        self._ws: WebSocketTransport | None = None
        self._probe: WebSocketTransport | None = None
        self._drain_waiters: list[asyncio.Future[None]] | None = None  # made when awaited

    def __repr__(self) -> str:
        core = self._core
        return f"<EngineSession {self.sid} {core.transport.value} {core.state.value}>"

    # -- the API of the layer above -------------------------------------------------------

    @property
    def transport(self) -> str:
        """ "polling" or "websocket" (after an upgrade, "websocket")."""
        return self._core.transport.value

    @property
    def closed(self) -> bool:
        return self._core.state is _CLOSED

    @property
    def connected(self) -> bool:
        """Open (or upgrading): ``send`` delivers."""
        return self._core.is_open

    @property
    def writable(self) -> bool:
        """A message sent now goes out at once, without waiting in a queue (Node's
        ``transport.writable``, what Socket.IO's volatile flag checks): over WebSocket, the
        socket is not paused and nothing is queued; over polling, a GET is pending."""
        if not self._core.is_open or self._queue:
            return False
        ws = self._ws
        if ws is not None:
            return ws.writable
        waiter = self._poll_waiter
        if waiter is None or waiter.done():
            return False
        transport = self._poll_transport
        return transport is not None and not transport.is_closing()

    def send(self, data: str | bytes | PreparedPacket, compress: bool = True) -> None:
        """Queue a message; never blocks. Dropped once the session is closing or closed.
        A session whose queue passes ``max_buffered_bytes`` is closed ("send queue full").

        ``compress=False`` (Node's ``{compress: false}``): the WebSocket frame is not
        compressed with permessage-deflate on, and a polling response made only of such
        messages is not http-compressed."""
        core = self._core
        if core.state is not _OPEN and not core.is_open:
            return
        item: str | bytes | PreparedPacket
        if type(data) is str:
            item = "4" + data
        elif isinstance(data, PreparedPacket):
            item = data
        elif isinstance(data, str):
            item = "4" + data
        else:
            item = bytes(data)
        ws = self._ws
        if ws is not None and self._queue.items is None:
            if not ws.write(item, compress):
                self.close_now(rules.QUEUE_FULL)
            return
        raw = item.item if isinstance(item, PreparedPacket) else item
        if not self._queue.push(raw, compress=compress):
            self.close_now(rules.QUEUE_FULL)
            return
        self._flush()

    def close(self) -> None:
        """Server-initiated close: the queue is flushed, then a close packet, then the
        transport closes; the layer above gets on_disconnect(FORCED_CLOSE)."""
        self.begin_close(rules.FORCED)

    async def drain(self) -> None:
        """Wait until the session's outbound queue is short (or the session is closed)."""
        while not self.closed and self.pending_bytes() > self._queue.limit // 4:
            fut: asyncio.Future[None] = self._loop.create_future()
            if self._drain_waiters is None:
                self._drain_waiters = []
            self._drain_waiters.append(fut)
            ws = self._ws
            if ws is not None:
                ws.on_drained = self._on_ws_drained
            await fut

    # -- the server's side ------------------------------------------------------------------

    def start(self) -> None:
        """The session is in its server's sessions: arm its heartbeat, tell the layer
        above (a failing on_connect closes it)."""
        self._arm_timer()
        try:
            self._handler.on_connect(self)
        except Exception:
            logger.exception("engine handler on_connect failed")
            self.close_now(rules.CONNECT_FAILED)

    def first_payload(self, open_packet: str) -> str | bytes:
        """The handshake GET's payload: the open packet, and what on_connect queued."""
        if not self._queue:
            return self._core.encode_payload([open_packet])  # (v4: the open packet itself)
        reply = self._core.take_first_batch(open_packet)
        if reply.then is not None:
            self.close_now(reply.then)
        return reply.payload

    def can_upgrade(self) -> bool:
        """A probe WebSocket may start (open, on polling, not upgrading already)."""
        return self._core.can_upgrade()

    def use_websocket(self, ws: WebSocketTransport) -> None:
        """``ws`` becomes the session's transport (a session opened on a WebSocket)."""
        if self._drain_waiters:
            ws.on_drained = self._on_ws_drained  # else set by drain(), when someone waits
        self._ws = ws

    def receive_from(self, ws: WebSocketTransport) -> None:
        """Take ``ws``'s messages (its own, or an upgrade probe's)."""
        ws.ws.set_receiver(self._on_ws_message, self._on_ws_closed)

    def request_arrived(self, polling: bool) -> None:
        """A request with this session's sid: act on deadlines already past (on a busy loop
        the timer may fire late, and a request must not find alive a session whose pong
        deadline has passed: the official suite polls right at pingInterval+pingTimeout),
        then let the core refuse it (RequestRefused). The armed deadline is never later than
        the core's (``_arm_timer``), so it tells without asking the core."""
        when = self._timer_when
        if when is not None and when <= self._loop.time():
            self.on_timer(when)
        self._core.receive_request(polling)

    def poll_now(self, request: HttpRequest, headers: dict[str, str]) -> HttpResponse | None:
        """The answer to a GET that need not wait (packets are queued, or the upgrade's
        noop); None when it must (then ``poll_wait``).

        Speed: not a coroutine: most polls of a busy session are answered here, without a
        coroutine of their own: 6.52 -> 6.25 µs per round trip, against one ``async def
        poll`` (benchmarks/engine/bench_path.py ``polling``, best of 10 interleaved runs)."""
        try:
            reply = self._core.receive_get()
        except SessionViolation as exc:
            self.close_now(exc.close)
            raise
        if reply is None:
            return None
        if reply.then is not None:
            self.close_now(reply.then)
        elif self._drain_waiters:
            self._after_flush()
        return reply_response(request, headers, reply, self._host.options.http_compression)

    async def poll_wait(self, request: HttpRequest, headers: dict[str, str]) -> HttpResponse:
        """The answer to a GET once packets come (a long poll); ``poll_now`` said wait."""
        transport = request.transport
        if transport is not None and transport.is_closing():
            # an aborted GET whose connection closed before it got here: a poll lost
            self._core.poll_lost()
            self.close_now(rules.POLL_LOST)
            raise RequestRefused(ErrorCode.BAD_REQUEST, "Poll request connection lost")
        waiter: asyncio.Future[Reply] = self._loop.create_future()
        self._poll_waiter = waiter
        self._poll_transport = transport
        try:
            reply = await waiter
        except asyncio.CancelledError:
            if self._poll_waiter is waiter:
                self._poll_waiter = None
                self._core.poll_lost()
                self.close_now(rules.POLL_LOST)
            raise
        return reply_response(request, headers, reply, self._host.options.http_compression)

    def start_upgrade(self, ws: WebSocketTransport) -> None:
        """Probe a WebSocket for this polling session; on "5" it becomes the transport."""
        self._core.start_upgrade(self._loop.time())
        self._probe = ws
        self._arm_timer()
        self.receive_from(ws)

    def abort_upgrade(self, why: str) -> None:
        """Drop the probe (if any): the session stays on polling."""
        probe = self._probe
        self._probe = None
        self._core.abort_upgrade()
        if probe is not None:
            self._host.upgrade_ended(self, why)  # (logged there)
            probe.close(1000)
            self._host.release(probe)
        self._arm_timer()

    def begin_close(self, close: Close) -> None:
        """Close as the core orders it: the queue, then the close packet, then ``close``."""
        core = self._core
        if not core.start_closing(self._loop.time(), close):
            return
        if self._probe is not None:
            self.abort_upgrade("session closing")
        if self._ws is not None:
            self._flush()
            self.close_now(close)
            return
        self._arm_timer()
        self._flush()  # the close packet follows once the queued messages are fetched

    def timer_due(self, when: float) -> bool:
        """``when`` is still this session's deadline (not a stale TimerQueue entry)."""
        return self._timer_when == when

    def on_timer(self, when: float | None) -> None:
        """The deadline ``when`` came: act on every event the core says is due."""
        if when != self._timer_when:
            return
        self._timer_when = None
        core = self._core
        now = self._loop.time()
        while (event := core.on_timer(now)) is not None:
            if event is TimerEvent.SEND_PING:
                self._send_control("2")
            elif event is TimerEvent.PING_TIMEOUT:
                self.close_now(rules.PING_TIMEOUT)
                return
            elif event is TimerEvent.UPGRADE_TIMEOUT:
                self.abort_upgrade("upgrade timeout")
            else:  # TimerEvent.CLOSE_TIMEOUT
                self.close_now(core.close_with)
                return
        self._arm_timer()

    # -- queue and flush ------------------------------------------------------------------

    def pending_bytes(self) -> int:  # queued, and the WebSocket's backlog: max_buffered_bytes
        ws = self._ws
        return self._queue.size + (ws.buffered if ws is not None else 0)

    def _flush(self) -> None:
        queue = self._queue
        if not queue:
            return
        ws = self._ws
        if ws is not None:
            items, flags = queue.pop_all()
            for i, item in enumerate(items):
                if not ws.write(item, True if flags is None else flags[i]):
                    self.close_now(rules.QUEUE_FULL)
                    return
            self._after_flush()
            return
        waiter = self._poll_waiter
        if waiter is not None:
            transport = self._poll_transport
            if transport is None or transport.is_closing() or waiter.done():
                # The pending GET's connection is gone (or its handler was cancelled and its
                # task has not resumed yet): Node closes the session when a poll closes
                # early, and the queued packets must not vanish into a dead response.
                # (close_now ends the waiter: that GET's handler must not wait for ever)
                self._core.poll_lost()
                self.close_now(rules.POLL_LOST)
                return
            self._poll_waiter = None
            reply = self._core.take_batch()
            waiter.set_result(reply)
            if reply.then is not None:
                self.close_now(reply.then)
            elif self._drain_waiters:
                self._after_flush()

    def _after_flush(self) -> None:
        close = self._core.flushed()
        if close is not None:
            self.close_now(close)
        elif self._drain_waiters and self.pending_bytes() <= self._queue.limit // 4:
            self._wake_drain_waiters()

    def _on_ws_drained(self) -> None:
        if self._drain_waiters and self.pending_bytes() <= self._queue.limit // 4:
            self._wake_drain_waiters()

    def _wake_drain_waiters(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, None
        if waiters is None:
            return
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _send_control(self, packet: str) -> None:
        """Send a control packet (ping) behind the messages already queued."""
        ws = self._ws
        if ws is not None and not self._queue:
            ws.write(packet)
            return
        self._core.push_control(packet)
        self._flush()

    def _arm_timer(self) -> None:
        when = self._core.deadline()
        if when is None:
            self._timer_when = None  # the queued entry, if any, is stale now
            return
        current = self._timer_when
        if current is not None and current <= when:
            return  # it fires first and re-arms at the later deadline then
        self._timer_when = when
        self._host.schedule(when, self.sid)

    # -- closing --------------------------------------------------------------------------

    def close_now(self, close: Close) -> None:
        """The session is over, without flushing (also for the server: shutdown's grace is
        over, a failed set-up): release the transports, report once to the layer above."""
        if not self._core.close():
            return
        self._timer_when = None
        waiter = self._poll_waiter
        if waiter is not None:
            self._poll_waiter = None
            if not waiter.done():
                waiter.set_result(Reply(self._core.encode_payload([close.poll_reply]), False))
        post = self._post
        if post is not None:
            post.end("session closed")  # its POST is answered 400, its connection closed
        self._wake_drain_waiters()
        host = self._host
        ws = self._ws
        if ws is not None:
            # 1008 (send queue full): what is still queued for a peer that does not read
            # is dropped at once
            ws.close(close.ws_code, discard=close.ws_code == 1008)
            # no cycle (session -> ws -> bound method -> session): a closed session is
            # freed by reference counting, not left to the cyclic GC
            ws.on_drained = None
            host.release(ws)
        if self._probe is not None:
            self._probe.close(1000)
            host.release(self._probe)
            self._probe = None
        host.forget(self)
        reason = close.reason
        if reason is not CloseReason.TRANSPORT_CLOSE:
            logger.info(
                "engine session %s closed: %s (%s)", self.sid, reason.value, close.description
            )
        try:
            self._handler.on_disconnect(self, reason, close.description)
        except Exception:
            logger.exception("engine handler on_disconnect failed")

    # -- received packets -----------------------------------------------------------------

    def _receive(self, packet: Packet) -> None:
        """One packet received on the session's transport (either). Raises
        PacketDecodeError for a packet a client may not send."""
        if packet.type is PacketType.MESSAGE:
            self._dispatch(packet.data)
            return
        close = self._core.receive_packet(packet, self._loop.time())
        if close is not None:
            self.close_now(close)
        else:
            self._arm_timer()
            if self._queue:  # (v3: the core queued its pong)
                self._flush()

    def _dispatch(self, data: str | bytes) -> None:
        try:
            self._handler.on_message(self, data)
        except Exception:
            logger.exception("engine handler on_message failed")

    # -- WebSocket (a message may still come after the receiver was released: the rest of
    # one read; hence the checks on the session's state) -----------------------------------

    def _on_ws_message(self, message: str | bytes) -> None:
        """A message on the session's WebSocket, or on its upgrade probe (rtio.ws closes
        with 1009 on a message over maxPayload: ``max_message_size``)."""
        if self._ws is None:
            self._on_probe_message(message)
            return
        if self._core.state is _CLOSED:
            return
        if type(message) is str:
            if message[:1] == "4":
                try:
                    self._handler.on_message(self, message[1:])
                except Exception:
                    logger.exception("engine handler on_message failed")
                return
        elif self.protocol != 3:
            self._dispatch(message)
            return
        try:  # (v3 also: "b4<base64>", and binary frames led by their type byte)
            decode = eio3.decode_message if self.protocol == 3 else decode_packet
            self._receive(decode(message))
        except PacketDecodeError as exc:
            self.close_now(rules.parse_error(str(exc), websocket=True))

    def _on_ws_closed(self) -> None:
        """The session's WebSocket, or its upgrade probe, is closed."""
        ws = self._ws
        if ws is None:
            if self._probe is not None:
                self.abort_upgrade("probe WebSocket closed")
            return
        if self.closed:  # (then close_now released it already: defensive)
            self._host.release(ws)
            return
        close = rules.close_for_ws_code(ws.close_code)
        if close is rules.PAYLOAD_TOO_LARGE:
            logger.warning(
                "engine session %s: payload too large (a WebSocket message over maxPayload"
                " %d bytes), closing with 1009",
                self.sid,
                ws.max_payload,
            )
        self.close_now(close)  # which releases ws

    def _on_probe_message(self, message: str | bytes) -> None:
        probe = self._probe
        if probe is None:
            return  # the rest of a read after the upgrade was aborted
        action, reply = self._core.receive_probe(message)
        if action is ProbeAction.PONG:
            probe.write("3probe")
        elif action is ProbeAction.UPGRADE:
            self._probe = None
            self._arm_timer()
        else:
            self.abort_upgrade("unexpected packet during upgrade")
            return
        if reply is not None:
            waiter = self._poll_waiter
            self._poll_waiter = None
            if waiter is not None and not waiter.done():
                waiter.set_result(reply)
        if action is ProbeAction.UPGRADE:
            self.use_websocket(probe)
            self._flush()
            self._host.upgrade_ended(self, None)
