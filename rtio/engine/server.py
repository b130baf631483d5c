"""EngineServer: the glue of the Engine.IO v4 server.

Answers requests (``handle``: one HttpRequest of either HTTP front, see http.py), applies
the request and handshake rules (handshake.py) in Node's order, opens sessions and routes
each request with a sid to its session (engine_session.py, which applies the session rules
of session.py), holds the sessions' deadlines in one TimerQueue (timers.py), accepts
WebSockets and shuts down. ``attach`` (aiohttp) lives in aiohttp_front.py; this module
does not import aiohttp. Knows nothing of Socket.IO; sees a WebSocket only through rtio.ws's
public API.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from rtio.ids import new_id

from .admission import HandshakeAdmission
from .cors import CorsPolicy, OriginLog
from .eio3 import ws_converter
from .engine_session import EngineHandler, EngineSession
from .errors import ErrorCode, RequestRefused
from .handshake import (
    OpenPacket,
    can_upgrade,
    check_new_session,
    check_request,
    check_sid,
    handshake_headers,
)
from .http import HttpRequest, HttpResponse
from .observer import EngineObserver
from .options import EngineOptions
from .polling import jsonp_index, poll_response
from .request import HandshakeRequest
from .session import INTERNAL_ERROR, SHUTDOWN, Transport
from .timers import TimerQueue
from .websocket import WebSocketTransport, accept_websocket, server_options

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["EngineHandler", "EngineServer", "EngineSession"]

logger = logging.getLogger("rtio.engine")

_POLLING = Transport.POLLING  # (enum members as globals: see session.py's figure)


def _ignore(message: str | bytes) -> None:
    """The receiver of a WebSocket no session reads any more."""


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


class _Host:
    """The services a server gives its sessions (engine_session.SessionHost): its options
    and handler, the TimerQueue of their deadlines, its registry of sessions and of open
    WebSockets."""

    __slots__ = (
        "_timers",
        "emptied",
        "handler",
        "observer",
        "options",
        "sessions",
        "websockets",
    )

    def __init__(self, handler: EngineHandler, options: EngineOptions) -> None:
        self.handler = handler
        self.options = options
        #: rtio.ops's hooks (None: off)
        self.observer: EngineObserver | None = None
        self.sessions: dict[str, EngineSession] = {}
        self.websockets: set[WebSocketTransport] = set()
        self._timers: TimerQueue | None = None
        #: set once no session is left (made by a shutdown that waits for that)
        self.emptied: asyncio.Event | None = None

    def schedule(self, when: float, sid: str) -> None:
        timers = self._timers
        if timers is None:
            # made on first use: the server may be built before its event loop runs
            timers = self._timers = TimerQueue(
                asyncio.get_running_loop(), self._fire, self._is_current
            )
        timers.schedule(when, sid)

    def _is_current(self, sid: str, when: float) -> bool:
        session = self.sessions.get(sid)
        return session is not None and session.timer_due(when)

    def _fire(self, sid: str, when: float) -> None:
        session = self.sessions.get(sid)
        if session is not None:
            session.on_timer(when)

    def release(self, ws: WebSocketTransport) -> None:
        """No session reads ``ws`` any more: what it still receives is dropped, and it
        leaves the server's open WebSockets once closed (at once if it is). Also drops the
        WebSocket's references to the session (no reference cycle to leave to the GC)."""
        ws.ws.set_receiver(_ignore, functools.partial(self.websockets.discard, ws))

    def upgrade_ended(self, session: EngineSession, failure: str | None) -> None:
        """An upgrade is done (``failure`` None), or aborted: logged, and the observer
        told."""
        observer = self.observer
        if failure is not None:
            logger.info("engine session %s: upgrade aborted (%s)", session.sid, failure)
            if observer is not None:
                observer.upgrade_failed(session, failure)
        elif observer is not None:
            observer.upgraded(session)

    def forget(self, session: EngineSession) -> None:
        sessions = self.sessions
        if sessions.get(session.sid) is session:
            del sessions[session.sid]
            if not sessions and self.emptied is not None:
                self.emptied.set()


class EngineServer:
    """The Engine.IO server: mount with :meth:`attach` (aiohttp) or rtio.http's front,
    stop with :meth:`shutdown`."""

    def __init__(self, handler: EngineHandler, options: EngineOptions | None = None) -> None:
        self.handler = handler
        self.options = options = options or EngineOptions()
        host = _Host(handler, options)
        self._host = host
        self._sessions = host.sessions
        self._websockets = host.websockets
        self._cors = CorsPolicy(options.cors) if options.cors is not None else None
        self._origin_log = OriginLog(options.max_logged_origins)
        self._ws_options = server_options(options)
        self._open_packet = OpenPacket(options)
        self._can_upgrade = can_upgrade(options)
        self._closing = False
        self._drained = False
        #: graceful drain (set by the layer above): ``await drain(seconds)`` waits at most
        #: that long for the work in flight to finish and returns how much is left
        self.drain: Callable[[float], Awaitable[int]] | None = None
        self._admission = (
            HandshakeAdmission(
                options.max_handshake_rate, options.handshake_burst, options.handshake_wait
            )
            if options.max_handshake_rate is not None
            else None
        )

    @property
    def sessions(self) -> Mapping[str, EngineSession]:
        return self._sessions

    @property
    def observer(self) -> EngineObserver | None:
        """What operations tooling (rtio.ops) is told of upgrades and refused requests
        (None: nothing is)."""
        return self._host.observer

    @observer.setter
    def observer(self, observer: EngineObserver | None) -> None:
        self._host.observer = observer

    def attach(self, app: web.Application, path: str | None = None) -> None:
        """Route ``path`` (default ``options.path``) of aiohttp's ``app`` to this server and
        shut it down with the app (aiohttp_front.attach)."""
        from .aiohttp_front import attach  # (aiohttp only for who attaches to aiohttp)

        attach(self, app, path)

    async def drain_in_flight(self) -> None:
        """Refuse new sessions (503) from now on and give the layer above up to
        ``options.shutdown_drain`` seconds to finish the work in flight (``drain``); once
        only: ``shutdown`` calls it too. rtio.run_app calls it at SIGTERM while it still
        listens, so that a polling client can still post (an ack, a pong) and fetch what
        the handlers answer; aiohttp stops listening before its on_shutdown runs."""
        self._closing = True
        options = self.options
        if self._drained or self.drain is None or options.shutdown_drain <= 0:
            return
        self._drained = True
        if self._sessions:
            left = await self.drain(options.shutdown_drain)
            if left:
                logger.warning(
                    "shutting down: %d sockets still run handlers after shutdown_drain=%gs; "
                    "closing them anyway",
                    left,
                    options.shutdown_drain,
                )

    async def shutdown(self, *, polls_can_arrive: bool = True) -> None:
        """Refuse new sessions (503), let the layer above finish what is in flight (up to
        ``options.shutdown_drain`` seconds: ``drain``), then close every session with a
        close packet ("server shutting down", a reason a client may recover from) and give
        clients up to ``options.shutdown_grace`` seconds to fetch what is queued for them
        and the close packet (polling) or to answer the close handshake (WebSocket);
        sessions still open then are closed without waiting. A pending GET gets the close
        packet at once.

        ``polls_can_arrive=False`` (an HTTP front that reads no new request any more):
        only a request already on its way to a handler may still reach its session, so a
        polling session waits at most ``options.shutdown_settle``."""
        await self.drain_in_flight()
        options = self.options
        for session in list(self._sessions.values()):
            session.begin_close(SHUTDOWN)
        grace = options.shutdown_grace
        # A WebSocket session is closed by begin_close itself (its closing handshake is
        # awaited below); what remains are polling sessions waiting for their next GET.
        if self._sessions:
            host = self._host
            emptied = host.emptied
            if emptied is None:  # (a second shutdown waits on the same event)
                emptied = host.emptied = asyncio.Event()
            wait = grace if polls_can_arrive else min(grace, options.shutdown_settle)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(emptied.wait(), wait)
        for session in list(self._sessions.values()):
            session.close_now(SHUTDOWN)
        if self._websockets:
            await asyncio.gather(*(ws.wait_closed(timeout=grace) for ws in list(self._websockets)))

    # -- requests ---------------------------------------------------------------------------

    async def handle(self, request: HttpRequest) -> HttpResponse | None:
        """Answer one Engine.IO request (GET/POST/OPTIONS, WebSocket) of an HTTP front;
        None once it became a WebSocket (``request.accept_websocket`` wrote the 101).

        Every refusal is Node's JSON ``{code, message}`` with its status; an exception in a
        hook or a bug gives a logged 500 with the same shape, never a crashed server."""
        options = self.options
        cors = self._cors
        method = request.method
        req_headers = request.headers
        origin = req_headers.get("Origin")
        if cors is None:
            headers: dict[str, str] = {}
        elif method == "OPTIONS":
            headers = cors.preflight_headers(
                origin, req_headers.get("Access-Control-Request-Headers")
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
            transport = check_request(query, req_headers, options, cors, self._origin_log)
            sid = query.get("sid")
            if sid is not None:
                session = self._sessions.get(sid)
                if session is None:
                    raise RequestRefused(ErrorCode.UNKNOWN_SID)
                polling = transport is _POLLING
                session.request_arrived(polling)
                if not polling:
                    await self._upgrade(request, session, headers)
                    return None
                if method == "GET":
                    response = session.poll_now(request, headers)
                    if response is None:
                        response = await session.poll_wait(request, headers)
                    return response
                if method == "POST":
                    return await session.handle_post(request, headers)
                raise RequestRefused(ErrorCode.BAD_REQUEST)
            check_new_session(method, self._closing)
            if self._admission is not None:
                await self._admit(method)
            if hreq is None:
                hreq = _snapshot(request)
            if options.allow_request is not None:
                allowed = await options.allow_request(hreq)
                if allowed is False:
                    raise RequestRefused(ErrorCode.FORBIDDEN)
            if transport is Transport.WEBSOCKET:
                await self._websocket_handshake(request, hreq, headers)
                return None
            return self._polling_handshake(request, hreq, headers)
        except RequestRefused as exc:
            if self._host.observer is not None:
                self._host.observer.request_refused(exc, "sid" not in request.query)
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

    def _new_sid(self, hreq: HandshakeRequest) -> str:
        generate = self.options.generate_id
        if generate is None:
            return check_sid(new_id(), self._sessions)
        return check_sid(generate(hreq), self._sessions)

    async def _admit(self, method: str) -> None:
        """Admission control: return when this new session's turn has come (at once, or
        after a short wait in line), or refuse it with 503 and Retry-After."""
        assert self._admission is not None
        now = time.monotonic()
        wait = self._admission.admit(now)
        if wait is None:
            raise RequestRefused(
                ErrorCode.BAD_REQUEST,
                "Too many new sessions, retry later",
                status=503,
                headers={"Retry-After": self._admission.retry_after(now)},
            )
        if wait > 0.0:
            await asyncio.sleep(wait)
            check_new_session(method, self._closing)  # a drain began while it waited

    def _polling_handshake(
        self, request: HttpRequest, hreq: HandshakeRequest, headers: dict[str, str]
    ) -> HttpResponse:
        sid = self._new_sid(hreq)
        headers.update(handshake_headers(self.options, hreq, sid))  # hooks first: may fail
        session = EngineSession(self._host, sid, hreq, Transport.POLLING)
        self._sessions[sid] = session
        session.start()
        # the open packet may be compressed (Node), so the response may be too
        payload = session.first_payload(self._open_packet.encode(sid, self._can_upgrade))
        return poll_response(
            payload,
            jsonp=jsonp_index(request.query),
            headers=headers,
            accept_encoding=request.headers.get("Accept-Encoding"),
            compression=self.options.http_compression,
        )

    async def _websocket_handshake(
        self, request: HttpRequest, hreq: HandshakeRequest, headers: dict[str, str]
    ) -> None:
        """A session opened directly on a WebSocket (no polling first). ``headers`` (the
        CORS and ``headers`` hook ones) go on the 101 with the handshake's own."""
        sid = self._new_sid(hreq)
        headers.update(handshake_headers(self.options, hreq, sid))
        ws = await accept_websocket(request, self.options, self._ws_options, headers)
        self._websockets.add(ws)
        if sid in self._sessions or self._closing:
            # the same id was handed out while the handshake completed, or the server
            # began shutting down: nothing was opened yet
            ws.close(1011 if not self._closing else 1001)
            self._host.release(ws)
            return
        ws.convert = ws_converter(request.query)  # (v3: binary frames differ)
        session = EngineSession(self._host, sid, hreq, Transport.WEBSOCKET)
        self._sessions[sid] = session
        try:
            session.use_websocket(ws)
            ws.write(self._open_packet.encode(sid, False))
            session.start()
            if not session.closed:
                # messages pipelined behind the upgrade request wait in rtio.ws until now
                session.receive_from(ws)
        except Exception:
            self._failed_after_101(ws, session)

    def _failed_after_101(self, ws: WebSocketTransport, session: EngineSession | None) -> None:
        """A bug after the 101: no HTTP answer is possible any more (the front must not
        write one), so the session and the WebSocket close with 1011."""
        logger.exception("engine: setting up a WebSocket failed after its 101")
        if session is not None:
            session.close_now(INTERNAL_ERROR)
        ws.close(1011)
        self._host.release(ws)

    async def _upgrade(
        self, request: HttpRequest, session: EngineSession, headers: dict[str, str]
    ) -> None:
        """A WebSocket for a polling session: probe it, then switch on "5"."""
        ws = await accept_websocket(request, self.options, self._ws_options, headers)
        self._websockets.add(ws)
        if not self._can_upgrade or not session.can_upgrade():
            # v4 "WebSocket": "A client MUST NOT open more than one WebSocket
            # connection per session. Should it happen, the server MUST close the
            # WebSocket connection." Node accepts it, then closes it (already
            # upgrading, already upgraded, closing); the official suite checks that.
            ws.close(1000)
            self._host.release(ws)
            return
        ws.convert = ws_converter(request.query)  # (v3: binary frames differ)
        try:
            session.start_upgrade(ws)
        except Exception:
            self._failed_after_101(ws, None)
            session.abort_upgrade("internal error")
