"""EngineServer: the glue of the Engine.IO v4 server.

Owns the I/O: answers requests (``handle``: one HttpRequest of either HTTP front, see
http.py; ``attach`` routes an aiohttp app's requests to it through aiohttp_front.py),
verifies them (Node's error codes), runs the handshake, holds the sessions, keeps each
session's next deadline (the one its sans-I/O core, session.py, asks for) in the server's
TimerQueue (timers.py), answers polls, receives WebSocket messages through rtio.ws's push
mode (callbacks, no task per connection or message) and runs the upgrade, and reports
connect / message / disconnect to the layer above (EngineHandler).
Knows nothing of Socket.IO; sees a WebSocket only through rtio.ws's public API.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import os
from collections.abc import Mapping
from typing import Protocol

from aiohttp import web

from .aiohttp_front import ENGINES_KEY, respond
from .cors import CorsPolicy, OriginLog, same_origin
from .errors import (
    CloseReason,
    ErrorCode,
    PacketDecodeError,
    PayloadTooLarge,
    RequestRefused,
)
from .http import BodyRead, BodyReadEnded, HttpRequest, HttpResponse
from .options import EngineOptions, ms
from .packet import (
    RECORD_SEPARATOR,
    Packet,
    PacketType,
    decode_packet,
    decode_payload,
    encode_payload,
)
from .polling import decode_post_body, jsonp_index, poll_response, post_response
from .request import HandshakeRequest
from .session import OutboundQueue, Received, Session, SessionState, TimerEvent
from .timers import TimerQueue
from .websocket import (
    PreparedPacket,
    WebSocketTransport,
    accept_websocket,
    is_websocket_request,
    server_options,
)

__all__ = ["EngineHandler", "EngineServer", "EngineSession"]

logger = logging.getLogger("rtio.engine")

_FORCED_CLOSE = (CloseReason.FORCED_CLOSE, "closed by the server")
# the states the per-message paths test, as module globals (cheaper than enum attributes)
_OPEN = SessionState.OPEN
_UPGRADING = SessionState.UPGRADING
_CLOSED = SessionState.CLOSED


class EngineHandler(Protocol):
    """The layer above. Called synchronously from the engine's glue."""

    def on_connect(self, session: EngineSession) -> None: ...

    def on_message(self, session: EngineSession, data: str | bytes) -> None: ...

    def on_disconnect(
        self, session: EngineSession, reason: CloseReason, description: str
    ) -> None: ...


def _ignore(message: str | bytes) -> None:
    """The receiver of a WebSocket no session reads any more."""


class _SidPool:
    """Session ids as Node's base64id: 15 random bytes as 20 url-safe base64 characters.
    Drawn 64 at a time (one urandom call and one encoding for 64 connections)."""

    __slots__ = ("_ids",)

    def __init__(self) -> None:
        self._ids: list[str] = []

    def __call__(self) -> str:
        ids = self._ids
        if not ids:
            # 15 bytes are exactly 20 base64 characters: the ids split at 20 characters
            text = base64.urlsafe_b64encode(os.urandom(15 * 64)).decode("ascii")
            ids.extend(text[i : i + 20] for i in range(0, len(text), 20))
        return ids.pop()

    def clear(self) -> None:
        self._ids.clear()


_default_sid = _SidPool()
# a forked child must not hand out the ids its parent may still hand out
os.register_at_fork(after_in_child=_default_sid.clear)


def _snapshot(request: HttpRequest) -> HandshakeRequest:
    return HandshakeRequest(
        method=request.method,
        url=request.url,
        path=request.path,
        headers=request.headers,
        query=request.query,
        remote=request.remote,
        cookies=request.cookies,
    )


class EngineSession:
    """One Engine.IO session, whatever its transport. The layer above uses ``sid``,
    ``request``, ``transport``, ``connected``, ``writable``, ``send``, ``close`` and
    ``drain``."""

    __slots__ = (
        "__weakref__",
        "_close_queued",
        "_close_reason",
        "_core",
        "_drain_waiters",
        "_handler",
        "_loop",
        "_poll_transport",
        "_poll_waiter",
        "_post",
        "_probe",
        "_probed",
        "_queue",
        "_server",
        "_timer_when",
        "_ws",
        "request",
        "sid",
        "state",
    )

    def __init__(
        self, server: EngineServer, sid: str, request: HandshakeRequest, transport: str
    ) -> None:
        self.sid = sid
        self.request = request
        #: free slot for the layer above (e.g. its socket object)
        self.state: object = None
        self._server = server
        self._handler = server.handler
        self._loop = asyncio.get_running_loop()
        opts = server.options
        self._core = Session(
            sid,
            transport=transport,
            now=self._loop.time(),
            ping_interval=opts.ping_interval,
            ping_timeout=opts.ping_timeout,
            upgrade_timeout=opts.upgrade_timeout,
        )
        self._queue = OutboundQueue(opts.max_buffered_bytes)
        #: the deadline this session has in the server's TimerQueue (None: none)
        self._timer_when: float | None = None
        #: the pending GET: set with its payload and whether it may be compressed
        self._poll_waiter: asyncio.Future[tuple[str, bool]] | None = None
        self._poll_transport: asyncio.BaseTransport | None = None
        #: the body read of the pending POST (a session's close ends it)
        self._post: BodyRead | None = None
        self._ws: WebSocketTransport | None = None
        self._probe: WebSocketTransport | None = None
        self._probed = False
        self._drain_waiters: list[asyncio.Future[None]] | None = None  # made when awaited
        self._close_reason = _FORCED_CLOSE
        self._close_queued = False

    def __repr__(self) -> str:
        return f"<EngineSession {self.sid} {self._core.transport} {self._core.state.value}>"

    # -- the API of the layer above -------------------------------------------------------

    @property
    def transport(self) -> str:
        """ "polling" or "websocket" (after an upgrade, "websocket")."""
        return self._core.transport

    @property
    def closed(self) -> bool:
        return self._core.state is SessionState.CLOSED

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
        state = self._core.state
        if state is not _OPEN and state is not _UPGRADING:
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
                self._queue_full()
            return
        self._enqueue(item, compress)

    def close(self) -> None:
        """Server-initiated close: the queue is flushed, then a close packet, then the
        transport closes; the layer above gets on_disconnect(FORCED_CLOSE)."""
        self._begin_close(CloseReason.FORCED_CLOSE, "closed by the server")

    async def drain(self) -> None:
        """Wait until the session's outbound queue is short (or the session is closed)."""
        while not self.closed and self._pending_bytes() > self._queue.limit // 4:
            fut: asyncio.Future[None] = self._loop.create_future()
            if self._drain_waiters is None:
                self._drain_waiters = []
            self._drain_waiters.append(fut)
            ws = self._ws
            if ws is not None:
                ws.on_drained = self._on_ws_drained
            await fut

    # -- queue and flush ------------------------------------------------------------------

    def _pending_bytes(self) -> int:
        ws = self._ws
        return self._queue.size + (ws.buffered if ws is not None else 0)

    def _enqueue(self, item: str | bytes | PreparedPacket, compress: bool = True) -> None:
        raw = item.item if isinstance(item, PreparedPacket) else item
        if not self._queue.push(raw, compress=compress):
            self._queue_full()
            return
        self._flush()

    def _flush(self) -> None:
        queue = self._queue
        if not queue:
            return
        ws = self._ws
        if ws is not None:
            items, flags = queue.pop_all()
            for i, item in enumerate(items):
                if not ws.write(item, True if flags is None else flags[i]):
                    self._queue_full()
                    return
            self._after_flush()
            return
        waiter = self._poll_waiter
        if waiter is not None:
            transport = self._poll_transport
            if transport is None or transport.is_closing():
                # The pending GET's connection is gone (aiohttp cancels its handler only
                # with handler_cancellation): Node closes the session when a poll closes
                # early, and the queued packets must not vanish into a dead response.
                self._close(CloseReason.TRANSPORT_ERROR, "poll connection closed prematurely")
                return
            self._poll_waiter = None
            batch, compress = queue.pop_batch(self._server.options.max_payload)
            waiter.set_result((encode_payload(batch), compress))
            self._after_flush()

    def _after_flush(self) -> None:
        if self._core.state is SessionState.CLOSING and not self._queue:
            if self._close_queued:
                # the close packet went out with the last batch
                self._close(*self._close_reason)
            else:
                self._queue_close_packet()
        elif self._drain_waiters and self._pending_bytes() <= self._queue.limit // 4:
            self._wake_drain_waiters()

    def _queue_full(self) -> None:
        """The peer does not read fast enough: drop what waits for it and close (1008)."""
        logger.warning(
            "engine session %s: send queue over %d bytes, closing",
            self.sid,
            self._queue.limit,
        )
        self._close(CloseReason.TRANSPORT_ERROR, "send queue full", ws_code=1008)

    def _on_ws_drained(self) -> None:
        if self._drain_waiters and self._pending_bytes() <= self._queue.limit // 4:
            self._wake_drain_waiters()

    def _use_websocket(self, ws: WebSocketTransport) -> None:
        """``ws`` becomes the session's transport."""
        if self._drain_waiters:
            ws.on_drained = self._on_ws_drained  # else set by drain(), when someone waits
        self._ws = ws

    def _wake_drain_waiters(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, None
        if waiters is None:
            return
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _send_control(self, packet: str) -> None:
        """Queue a control packet (ping, close) behind the messages already queued."""
        ws = self._ws
        if ws is not None and not self._queue:
            ws.write(packet)
            return
        self._queue.push(packet, force=True)  # control packets are tiny: never refused
        self._flush()

    # -- timers ---------------------------------------------------------------------------

    def _arm_timer(self) -> None:
        when = self._core.deadline()
        if when is None:
            self._timer_when = None  # the queued entry, if any, is stale now
            return
        current = self._timer_when
        if current is not None and current <= when:
            return  # it fires first and re-arms at the later deadline then
        self._timer_when = when
        self._server._timers.schedule(when, self.sid)

    def _catch_up(self) -> None:
        """Act on deadlines already past before handling a request: on a busy loop the
        timer may fire late, and a request must not find alive a session whose pong
        deadline has passed (the official suite polls right at pingInterval+pingTimeout)."""
        when = self._core.deadline()
        if when is not None and when <= self._loop.time():
            self._on_timer()

    def _on_timer(self) -> None:
        self._timer_when = None
        core = self._core
        now = self._loop.time()
        while (event := core.on_timer(now)) is not None:
            if event is TimerEvent.SEND_PING:
                self._send_control("2")
            elif event is TimerEvent.PING_TIMEOUT:
                self._close(CloseReason.PING_TIMEOUT, "no pong within pingTimeout")
                return
            elif event is TimerEvent.UPGRADE_TIMEOUT:
                self._abort_upgrade("upgrade timeout")
            elif event is TimerEvent.CLOSE_TIMEOUT:
                self._close(*self._close_reason)
                return
        self._arm_timer()

    # -- closing --------------------------------------------------------------------------

    def _begin_close(self, reason: CloseReason, description: str) -> None:
        core = self._core
        if not core.start_closing(self._loop.time(), self._server.options.close_timeout):
            return
        if self._probe is not None:
            self._abort_upgrade("session closing")
        self._close_reason = (reason, description)
        if self._ws is not None:
            # one frame per packet: the close packet simply follows the messages
            self._queue.push("1", force=True)
            self._flush()
            self._close(reason, description)
            return
        self._arm_timer()
        if not self._queue:
            self._queue_close_packet()
        self._flush()  # the close packet follows once the queued messages are fetched

    def _queue_close_packet(self) -> None:
        """Polling: the close packet goes in a response of its own, after the one that
        carried the last queued messages (Node waits for "drain"). socket.io-client handles
        a close packet before the messages decoded with it, so sharing a payload would
        lose them (and the disconnect reason they carry)."""
        self._queue.push("1", force=True)
        self._close_queued = True

    def _close(
        self,
        reason: CloseReason,
        description: str,
        *,
        poll_reply: str = "1",
        ws_code: int | None = None,
    ) -> None:
        """The session is over: release the transports, report once to the layer above.
        The WebSocket closes with ``ws_code``, by default 1001 "going away" when the server
        stops, else 1000."""
        if not self._core.close():
            return
        if ws_code is None:
            ws_code = 1001 if reason is CloseReason.SERVER_SHUTTING_DOWN else 1000
        self._timer_when = None
        waiter = self._poll_waiter
        if waiter is not None:
            self._poll_waiter = None
            if not waiter.done():
                waiter.set_result((poll_reply, False))
        post = self._post
        if post is not None:
            post.end("session closed")  # its POST is answered 400, its connection closed
        self._queue.clear()
        self._wake_drain_waiters()
        if self._ws is not None:
            # 1008 (send queue full): what is still queued for a peer that does not read
            # is dropped at once
            self._ws.close(ws_code, discard=ws_code == 1008)
            # no cycle (session -> ws -> bound method -> session): a closed session is
            # freed by reference counting, not left to the cyclic GC
            self._ws.on_drained = None
            self._server._release(self._ws)
        if self._probe is not None:
            self._probe.close(1000)
            self._server._release(self._probe)
            self._probe = None
        self._server._forget(self)
        if reason is not CloseReason.TRANSPORT_CLOSE:
            logger.info("engine session %s closed: %s (%s)", self.sid, reason.value, description)
        try:
            self._handler.on_disconnect(self, reason, description)
        except Exception:
            logger.exception("engine handler on_disconnect failed")

    # -- received packets -----------------------------------------------------------------

    def _receive(self, packet: Packet) -> None:
        """One packet received on the session's transport (either). Raises
        PacketDecodeError for a packet a client may not send."""
        if packet.type is PacketType.MESSAGE:
            self._dispatch(packet.data)
            return
        received = self._core.receive_packet(packet, self._loop.time())
        if received is Received.CLIENT_CLOSE:
            # Node answers a pending poll with a noop, then closes ("transport close").
            self._close(CloseReason.TRANSPORT_CLOSE, "client sent a close packet", poll_reply="6")
        elif packet.type is PacketType.PONG:
            self._arm_timer()

    def _dispatch(self, data: str | bytes) -> None:
        try:
            self._handler.on_message(self, data)
        except Exception:
            logger.exception("engine handler on_message failed")

    # -- polling --------------------------------------------------------------------------

    def _poll_now(self, request: HttpRequest, headers: dict[str, str]) -> HttpResponse | None:
        """The answer to a GET that need not wait (packets are queued, or the upgrade's
        noop); None when it must (then ``_poll_wait``). Not a coroutine: most polls of a
        busy session are answered here."""
        if self._poll_waiter is not None:
            # v4 "Receiving data": "a client MUST NOT have more than one active `GET`
            # request. Should it happen, the server MUST return an HTTP 400 error status and
            # close the session." (Node: "overlap from client"; the first poll gets "1".)
            self._close(CloseReason.TRANSPORT_ERROR, "overlapping poll requests")
            raise RequestRefused(ErrorCode.BAD_REQUEST, "Overlapping poll requests")
        if self._queue.items is not None:  # (None: empty)
            batch, compress = self._queue.pop_batch(self._server.options.max_payload)
            payload = encode_payload(batch)
            self._after_flush()
            return self._poll_response(request, headers, payload, compress)
        if self._core.state is SessionState.UPGRADING and self._probed:
            return self._poll_response(request, headers, "6", False)
        return None

    async def _poll_wait(self, request: HttpRequest, headers: dict[str, str]) -> HttpResponse:
        """The answer to a GET once packets come (a long poll)."""
        waiter: asyncio.Future[tuple[str, bool]] = self._loop.create_future()
        self._poll_waiter = waiter
        self._poll_transport = request.transport
        try:
            payload, compress = await waiter
        except asyncio.CancelledError:
            if self._poll_waiter is waiter:
                self._poll_waiter = None
                self._close(CloseReason.TRANSPORT_ERROR, "poll connection closed prematurely")
            raise
        return self._poll_response(request, headers, payload, compress)

    def _poll_response(
        self, request: HttpRequest, headers: dict[str, str], payload: str, compress: bool
    ) -> HttpResponse:
        query = request.query
        compression = self._server.options.http_compression if compress else None
        return poll_response(
            payload,
            jsonp=jsonp_index(query) if "j" in query else None,
            headers=headers,
            accept_encoding=(
                request.headers.get("Accept-Encoding") if compression is not None else None
            ),
            compression=compression,
        )

    async def _handle_post(self, request: HttpRequest, headers: dict[str, str]) -> HttpResponse:
        if self._post is not None:
            # v4 "Sending data": "a client MUST NOT have more than one active `POST`
            # request. Should it happen, the server MUST return an HTTP 400 error status and
            # close the session."
            self._close(CloseReason.TRANSPORT_ERROR, "overlapping data requests")
            raise RequestRefused(ErrorCode.BAD_REQUEST, "Overlapping data requests")
        options = self._server.options
        # a body that never comes must not hold the request (and its connection) for ever:
        # it has body_timeout to arrive, and the session's close ends it (issue 12, defect 3)
        reader = self._post = BodyRead(
            request.read_body(options.max_payload), self._loop, options.body_timeout
        )
        try:
            try:
                body = await reader
            except PayloadTooLarge as exc:
                logger.warning("engine session %s: %s", self.sid, exc)
                self._close(CloseReason.TRANSPORT_ERROR, "payload too large")
                headers["Content-Type"] = "application/json"
                return HttpResponse(
                    413, headers, b'{"code": 3, "message": "Payload too large"}', close=True
                )
            except BodyReadEnded as exc:
                headers["Content-Type"] = "application/json"
                if exc.reason != "timeout":
                    # the session closed while its POST was still arriving
                    refused = RequestRefused(ErrorCode.UNKNOWN_SID)
                    return HttpResponse(400, headers, refused.body().encode(), close=True)
                logger.info(
                    "engine session %s: a POST body did not arrive within body_timeout"
                    " (%g s), closing",
                    self.sid,
                    options.body_timeout,
                )
                self._close(CloseReason.TRANSPORT_ERROR, "data request timeout")
                refused = RequestRefused(ErrorCode.BAD_REQUEST, "Body timeout", status=408)
                return HttpResponse(408, headers, refused.body().encode(), close=True)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                # Node: "data request connection closed prematurely"
                self._close(CloseReason.TRANSPORT_ERROR, "data request connection lost")
                raise RequestRefused(ErrorCode.BAD_REQUEST) from exc
            except asyncio.CancelledError:
                self._close(CloseReason.TRANSPORT_ERROR, "data request connection lost")
                raise
        finally:
            self._post = None
        if self._core.state is _CLOSED:
            raise RequestRefused(ErrorCode.UNKNOWN_SID)
        jsonp = "j" in request.query  # (jsonp_index is not None)
        try:
            text = decode_post_body(body, request.content_type, jsonp)
            if text[:1] == "4" and RECORD_SEPARATOR not in text:
                # the usual POST: one text message, dispatched without a Packet
                self._dispatch(text[1:])
                return post_response(headers)
            packets = decode_payload(text, max_packets=options.max_payload_packets)
            for packet in packets:
                if self.closed:
                    break
                self._receive(packet)
        except PacketDecodeError as exc:
            self._close(CloseReason.PARSE_ERROR, str(exc))
            raise RequestRefused(ErrorCode.BAD_REQUEST) from exc
        return post_response(headers)

    # -- WebSocket ------------------------------------------------------------------------
    #
    # rtio.ws push mode: the session's WebSocket (or its upgrade probe) hands each message to
    # _on_ws_message from receive_data, and calls _on_ws_closed once it is closed; no task
    # or future per message. A message may still arrive after the receiver was released
    # (the rest of one read): hence the checks on the session's state.

    def _on_ws_message(self, message: str | bytes) -> None:
        """A message on the session's WebSocket, or on its upgrade probe.

        rtio.ws enforces maxPayload (``max_message_size``): a bigger message closes the
        WebSocket with 1009 (see _on_websocket_closed)."""
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
            try:
                self._receive(decode_packet(message))
            except PacketDecodeError as exc:
                self._close(CloseReason.PARSE_ERROR, str(exc), ws_code=1002)
        else:
            self._dispatch(message)

    def _on_ws_closed(self) -> None:
        """The session's WebSocket, or its upgrade probe, is closed."""
        ws = self._ws
        if ws is None:
            if self._probe is not None:
                self._abort_upgrade("probe WebSocket closed")
            return
        if self.closed:  # (then _close released it already: defensive)
            self._server._release(ws)
            return
        self._on_websocket_closed(ws)  # closes the session, which releases ws

    def _on_websocket_closed(self, ws: WebSocketTransport) -> None:
        code = ws.close_code
        if self.closed:
            return
        if code == 1009:
            # rtio.ws closed it: a message over max_message_size (= maxPayload)
            logger.warning(
                "engine session %s: payload too large (a WebSocket message over maxPayload"
                " %d bytes), closing with 1009",
                self.sid,
                ws.max_payload,
            )
            self._close(CloseReason.TRANSPORT_ERROR, "payload too large")
        elif code in (1000, 1001, 1005):
            self._close(CloseReason.TRANSPORT_CLOSE, f"websocket closed ({code})")
        elif code == 1006:
            self._close(CloseReason.TRANSPORT_ERROR, "websocket connection lost (1006)")
        else:
            self._close(CloseReason.TRANSPORT_ERROR, f"websocket closed ({code})")

    def _abort_upgrade(self, why: str) -> None:
        probe = self._probe
        self._probe = None
        self._probed = False
        self._core.abort_upgrade()
        if probe is not None:
            logger.info("engine session %s: upgrade aborted (%s)", self.sid, why)
            probe.close(1000)
            self._server._release(probe)
        self._arm_timer()

    def _start_upgrade(self, ws: WebSocketTransport) -> None:
        """Probe a WebSocket for this polling session; on "5" it becomes the transport."""
        self._core.start_upgrade(self._loop.time())
        self._probe = ws
        self._arm_timer()
        ws.ws.set_receiver(self._on_ws_message, self._on_ws_closed)

    def _on_probe_message(self, message: str | bytes) -> None:
        probe = self._probe
        if probe is None:
            return  # the rest of a read after the upgrade was aborted
        if message == "2probe":
            # v4 "Upgrade": the server MUST "respond with a `pong` packet with the string
            # `probe` in the payload" and "send a `noop` packet to any pending `GET`
            # request (if applicable) to cleanly close HTTP long-polling transport" (a GET
            # with packets to deliver gets those).
            probe.write("3probe")
            self._probed = True
            waiter = self._poll_waiter
            if waiter is not None and not self._queue:
                self._poll_waiter = None
                waiter.set_result(("6", False))
        elif message == "5" and self._core.state is SessionState.UPGRADING:
            # Node completes the upgrade even without a probe
            self._finish_upgrade(probe)
        else:
            self._abort_upgrade("unexpected packet during upgrade")

    def _finish_upgrade(self, ws: WebSocketTransport) -> None:
        self._probe = None
        self._probed = False
        self._core.finish_upgrade()
        self._arm_timer()
        waiter = self._poll_waiter
        if waiter is not None:
            self._poll_waiter = None
            waiter.set_result(("6", False))
        self._use_websocket(ws)
        self._flush()


class EngineServer:
    """The Engine.IO server: mount with :meth:`attach`, stop with :meth:`shutdown`."""

    def __init__(self, handler: EngineHandler, options: EngineOptions | None = None) -> None:
        self.handler = handler
        self.options = options or EngineOptions()
        self._cors = CorsPolicy(self.options.cors) if self.options.cors is not None else None
        self._origin_log = OriginLog()
        self._ws_options = server_options(self.options)
        self._sessions: dict[str, EngineSession] = {}
        self._websockets: set[WebSocketTransport] = set()
        self._timers_: TimerQueue | None = None
        #: the open packet after its sid, JSON-encoded once: with and without upgrades
        self._open_tails: dict[bool, str] = {}
        self._closing = False

    @property
    def sessions(self) -> Mapping[str, EngineSession]:
        return self._sessions

    @property
    def _timers(self) -> TimerQueue:
        """The sessions' deadlines (made on first use: the server may be built before its
        event loop runs)."""
        timers = self._timers_
        if timers is None:
            timers = self._timers_ = TimerQueue(
                asyncio.get_running_loop(), self._on_timer, self._timer_is_current
            )
        return timers

    def _timer_is_current(self, sid: str, when: float) -> bool:
        session = self._sessions.get(sid)
        return session is not None and session._timer_when == when

    def _on_timer(self, sid: str, when: float) -> None:
        session = self._sessions.get(sid)
        if session is not None and session._timer_when == when:
            session._on_timer()

    def attach(self, app: web.Application, path: str | None = None) -> None:
        """Route ``path`` (default ``options.path``) of ``app`` to this server and shut it
        down with the app. The app lists its engines under ``ENGINES_KEY``."""
        path = path or self.options.path
        route = path.rstrip("/")
        app.router.add_route("*", route + "/", self.handle_request)
        if route:
            app.router.add_route("*", route, self.handle_request)
        app.setdefault(ENGINES_KEY, []).append((route + "/", self))

        async def on_shutdown(_app: web.Application) -> None:
            # aiohttp runs this once it has stopped listening and stopped reading its idle
            # keep-alive connections: a polling client whose GET is not pending by now
            # cannot send one (it is dropped unread), so only the WebSockets' closing
            # handshakes are worth the grace; such sessions close at once, and aiohttp
            # then closes their connections (the client sees its next poll fail)
            await self._shutdown(polls_can_arrive=False)

        app.on_shutdown.append(on_shutdown)

    def _forget(self, session: EngineSession) -> None:
        if self._sessions.get(session.sid) is session:
            del self._sessions[session.sid]

    async def shutdown(self) -> None:
        """Close every session with a close packet ("server shutting down"), refuse new
        ones (503), and give clients up to ``options.shutdown_grace`` seconds to fetch what
        is queued for them and the close packet (polling) or to answer the close handshake
        (WebSocket); sessions still open then are closed without waiting. A pending GET
        gets the close packet at once."""
        await self._shutdown(polls_can_arrive=True)

    async def _shutdown(self, *, polls_can_arrive: bool) -> None:
        self._closing = True
        for session in list(self._sessions.values()):
            session._begin_close(CloseReason.SERVER_SHUTTING_DOWN, "server shutting down")
        loop = asyncio.get_running_loop()
        grace = self.options.shutdown_grace
        # A WebSocket session is closed by _begin_close itself (its closing handshake is
        # awaited below); what remains are polling sessions waiting for their next GET.
        # When none can arrive, only a request already on its way to a handler may still
        # reach its session: a short wait is enough.
        deadline = loop.time() + (grace if polls_can_arrive else min(grace, 0.05))
        while self._sessions and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for session in list(self._sessions.values()):
            session._close(CloseReason.SERVER_SHUTTING_DOWN, "server shutting down")
        if self._websockets:
            await asyncio.gather(*(ws.wait_closed(timeout=grace) for ws in list(self._websockets)))

    # -- requests ---------------------------------------------------------------------------

    async def handle_request(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp route of every Engine.IO request (``attach`` adds it)."""
        return await respond(self.handle, request)

    async def handle(self, request: HttpRequest) -> HttpResponse | None:
        """Answer one Engine.IO request (GET/POST/OPTIONS, WebSocket) of an HTTP front;
        None once it became a WebSocket (``request.accept_websocket`` wrote the 101).

        Every refusal is Node's JSON ``{code, message}`` with its status; an exception in a
        hook or a bug gives a logged 500 with the same shape, never a crashed server."""
        options = self.options
        cors = self._cors
        method = request.method
        origin = request.headers.get("Origin")
        if cors is None:
            headers: dict[str, str] = {}
        elif method == "OPTIONS":
            headers = cors.preflight_headers(
                origin, request.headers.get("Access-Control-Request-Headers")
            )
            return HttpResponse(204, headers)
        else:
            headers = cors.response_headers(origin)
        try:
            # the snapshot the hooks see; built only when a hook or a handshake needs it
            hreq = None
            if options.headers is not None:
                hreq = _snapshot(request)
                headers.update(options.headers(hreq))
            query = request.query
            transport = query.get("transport")
            if transport is None or transport not in options.transports:
                raise RequestRefused(ErrorCode.UNKNOWN_TRANSPORT)
            if origin is not None:
                # the same policy for the Origin of a WebSocket upgrade; without one, the
                # same origin only (issue 12, defect 7)
                if cors is None:
                    if not same_origin(origin, request.headers):
                        self._origin_log.refused(origin, "not the same origin as Host")
                        raise RequestRefused(ErrorCode.FORBIDDEN, "Not an accepted origin")
                elif not cors.is_allowed(origin):
                    self._origin_log.refused(origin, "not an allowed origin")
                    raise RequestRefused(ErrorCode.FORBIDDEN, "Not an accepted origin")
            eio = query.get("EIO")
            if eio != "4":
                logger.info("refused Engine.IO protocol version %r (only 4 is served)", eio)
                raise RequestRefused(ErrorCode.UNSUPPORTED_PROTOCOL_VERSION)
            polling = transport == "polling"
            if not polling and not is_websocket_request(request):
                raise RequestRefused(ErrorCode.BAD_REQUEST)
            sid = query.get("sid")
            if sid is not None:
                session = self._sessions.get(sid)
                # v4: "The server MUST return an HTTP 400 response if the session ID
                # (from the `sid` query parameter) is not known."
                if session is None:
                    raise RequestRefused(ErrorCode.UNKNOWN_SID)
                session._catch_up()
                core = session._core
                if core.state is _CLOSED:
                    raise RequestRefused(ErrorCode.UNKNOWN_SID)
                if not polling:
                    await self._upgrade(request, session, headers)
                    return None
                if core.transport != "polling":
                    # polling on an upgraded session (the official suite checks the 400)
                    raise RequestRefused(ErrorCode.BAD_REQUEST)
                if method == "GET":
                    response = session._poll_now(request, headers)
                    if response is None:
                        response = await session._poll_wait(request, headers)
                    return response
                if method == "POST":
                    return await session._handle_post(request, headers)
                raise RequestRefused(ErrorCode.BAD_REQUEST)
            if method != "GET":
                raise RequestRefused(ErrorCode.BAD_HANDSHAKE_METHOD)
            if self._closing:
                raise RequestRefused(ErrorCode.BAD_REQUEST, "Server shutting down", status=503)
            if hreq is None:
                hreq = _snapshot(request)
            if options.allow_request is not None:
                allowed = await options.allow_request(hreq)
                if allowed is False:
                    raise RequestRefused(ErrorCode.FORBIDDEN)
            if transport == "websocket":
                await self._websocket_handshake(request, hreq, headers)
                return None
            return await self._polling_handshake(request, hreq, headers)
        except RequestRefused as exc:
            headers.update(exc.headers)
            headers["Content-Type"] = "application/json"
            return HttpResponse(exc.status, headers, exc.body().encode())
        except ConnectionResetError:
            # the client went away during a WebSocket handshake: nobody reads an answer
            return HttpResponse(400, {})
        except Exception:
            logger.exception("engine: %s %s failed", request.method, request.url)
            headers["Content-Type"] = "application/json"
            body = json.dumps({"code": int(ErrorCode.BAD_REQUEST), "message": "Server error"})
            return HttpResponse(500, headers, body.encode())

    def _generate_sid(self, hreq: HandshakeRequest) -> str:
        generate = self.options.generate_id
        sid = generate(hreq) if generate is not None else _default_sid()
        if not isinstance(sid, str) or not sid:
            logger.error("engine generate_id returned %r, not a non-empty str", sid)
            raise RequestRefused(ErrorCode.BAD_REQUEST, "Invalid session id", status=500)
        if sid in self._sessions:
            logger.error("engine generate_id returned the id of a live session")
            raise RequestRefused(ErrorCode.BAD_REQUEST, "Duplicate session id", status=500)
        return sid

    def _open_packet(self, session: EngineSession, upgrades: list[str]) -> str:
        """``0{"sid":...,"upgrades":[...],"pingInterval":...,"pingTimeout":...,
        "maxPayload":...}``: all but the sid is the server's, encoded once."""
        tail = self._open_tails.get(bool(upgrades))
        if tail is None:
            opts = self.options
            tail = self._open_tails[bool(upgrades)] = json.dumps(
                {
                    "upgrades": upgrades,
                    "pingInterval": ms(opts.ping_interval),
                    "pingTimeout": ms(opts.ping_timeout),
                    "maxPayload": opts.max_payload,
                },
                separators=(",", ":"),
            )[1:]
        return '0{"sid":' + json.dumps(session.sid) + "," + tail

    def _handshake_headers(self, hreq: HandshakeRequest, sid: str) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.options.cookie is not None:
            headers["Set-Cookie"] = self.options.cookie.header(sid)
        if self.options.initial_headers is not None:
            headers.update(self.options.initial_headers(hreq))
        return headers

    def _connect(self, session: EngineSession) -> None:
        session._arm_timer()
        try:
            self.handler.on_connect(session)
        except Exception:
            logger.exception("engine handler on_connect failed")
            session._close(CloseReason.TRANSPORT_ERROR, "connect handler failed")

    async def _polling_handshake(
        self, request: HttpRequest, hreq: HandshakeRequest, headers: dict[str, str]
    ) -> HttpResponse:
        sid = self._generate_sid(hreq)
        headers.update(self._handshake_headers(hreq, sid))  # hooks first: they may fail
        session = EngineSession(self, sid, hreq, "polling")
        self._sessions[sid] = session
        upgrades = ["websocket"] if self._can_upgrade() else []
        self._connect(session)
        items: list[str | bytes] = [self._open_packet(session, upgrades)]
        if session._queue:
            # the open packet may be compressed (Node), so the response may be too
            items.extend(session._queue.pop_batch(self.options.max_payload)[0])
            session._after_flush()
        return poll_response(
            encode_payload(items),
            jsonp=jsonp_index(request.query),
            headers=headers,
            accept_encoding=request.headers.get("Accept-Encoding"),
            compression=self.options.http_compression,
        )

    def _can_upgrade(self) -> bool:
        return self.options.allow_upgrades and "websocket" in self.options.transports

    async def _websocket_handshake(
        self, request: HttpRequest, hreq: HandshakeRequest, headers: dict[str, str]
    ) -> None:
        """A session opened directly on a WebSocket (no polling first). ``headers`` (the
        CORS and ``headers`` hook ones) go on the 101 with the handshake's own."""
        sid = self._generate_sid(hreq)
        headers.update(self._handshake_headers(hreq, sid))
        ws = await accept_websocket(request, self.options, self._ws_options, headers)
        self._websockets.add(ws)
        if sid in self._sessions or self._closing:
            # the same id was handed out while the handshake completed, or the server
            # began shutting down: nothing was opened yet
            ws.close(1011 if not self._closing else 1001)
            self._release(ws)
            return
        session = EngineSession(self, sid, hreq, "websocket")
        self._sessions[sid] = session
        try:
            session._use_websocket(ws)
            ws.write(self._open_packet(session, []))
            self._connect(session)
            if not session.closed:
                # messages pipelined behind the upgrade request wait in rtio.ws until now
                ws.ws.set_receiver(session._on_ws_message, session._on_ws_closed)
        except Exception:
            self._failed_after_101(ws, session)

    def _failed_after_101(self, ws: WebSocketTransport, session: EngineSession | None) -> None:
        """A bug after the 101: no HTTP answer is possible any more (the front must not
        write one), so the session and the WebSocket close with 1011."""
        logger.exception("engine: setting up a WebSocket failed after its 101")
        if session is not None:
            session._close(CloseReason.TRANSPORT_ERROR, "internal error", ws_code=1011)
        ws.close(1011)
        self._release(ws)

    async def _upgrade(
        self, request: HttpRequest, session: EngineSession, headers: dict[str, str]
    ) -> None:
        """A WebSocket for a polling session: probe it, then switch on "5"."""
        ws = await accept_websocket(request, self.options, self._ws_options, headers)
        self._websockets.add(ws)
        if not self._can_upgrade() or not session._core.can_upgrade():
            # v4 "WebSocket": "A client MUST NOT open more than one WebSocket
            # connection per session. Should it happen, the server MUST close the
            # WebSocket connection." Node accepts it, then closes it (already
            # upgrading, already upgraded, closing); the official suite checks that.
            ws.close(1000)
            self._release(ws)
            return
        try:
            session._start_upgrade(ws)
        except Exception:
            self._failed_after_101(ws, None)
            if session._probe is ws:
                session._abort_upgrade("internal error")

    def _release(self, ws: WebSocketTransport) -> None:
        """No session reads ``ws`` any more: what it still receives is dropped, and it
        leaves the server's open WebSockets once closed (at once if it is). Also drops the
        WebSocket's references to the session (no reference cycle to leave to the GC)."""
        ws.ws.set_receiver(_ignore, functools.partial(self._websockets.discard, ws))
