"""The connection under a client's namespaces: the npm socket.io-client ``Manager``.

Owns the Engine.IO session (transport.py), the Socket.IO parser and its per-connection
decoder, the namespaces multiplexed over the connection, and reconnection: when the
connection ends without the client asking, it is reopened after the backoff's delays
(backoff.py: exponential, with jitter) and every namespace that was joined sends its
CONNECT again. Events, as the JS manager emits them:

    "open"               ()                  the connection is open
    "error"              (ConnectError)      opening it failed
    "close"              (reason: str)       it ended
    "reconnect_attempt"  (attempt: int)      an attempt starts (after its delay)
    "reconnect"          (attempt: int)      an attempt succeeded
    "reconnect_error"    (ConnectError)      an attempt failed
    "reconnect_failed"   ()                  reconnection_attempts were all used

Connection state recovery is the sockets' (socket.py: the server's ``pid`` and the last
event's offset go in the next CONNECT, as the JS client sends them); rtio's server offers it
(``connection_state_recovery``, docs/RECOVERY.md), as Node's does.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import json
import logging
import random
import ssl as ssl_module
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from rtio.socketio import Packet
from rtio.socketio.parsers import Decoder, JsonParser, ParseError, Parser

from .backoff import Backoff
from .engine_core import EngineProtocolError, SendQueueFull
from .errors import ConnectError
from .socket import AuthProvider, ClientSocket
from .transport import (
    AiohttpFetcher,
    EngineClient,
    HttpFetcher,
    TransportError,
    WebSocketConnector,
    default_ws_connector,
)

__all__ = ["Manager", "ManagerState"]

logger = logging.getLogger("rtio.client")

F = TypeVar("F", bound=Callable[..., Any])


class ManagerState(enum.Enum):
    CLOSED = "closed"
    OPENING = "opening"
    OPEN = "open"
    #: waiting out a backoff delay before the next attempt
    RECONNECTING = "reconnecting"


class Manager:
    """One connection to a Socket.IO server, shared by the namespaces of a client.

    :param url: ``http(s)://host:port`` (``ws(s)://`` works too).
    :param path: [path] where the server is mounted.
    :param transports: [transports] ``("polling", "websocket")`` or a subset; the first
        opens the connection.
    :param upgrade: [upgrade] move from polling to WebSocket when the server offers it.
    :param query: [query] extra query parameters of every request.
    :param headers: [extraHeaders] extra headers of every request (and the WebSocket's).
    :param ssl: the TLS context for https:// and wss:// (default: the system's).
    :param parser: the Socket.IO parser (default JSON; ``MsgpackParser()`` for msgpack).
    :param reconnection: [reconnection] reopen a connection that ended.
    :param reconnection_attempts: [reconnectionAttempts] None: no limit.
    :param reconnection_delay: [reconnectionDelay] seconds, doubled per attempt...
    :param reconnection_delay_max: [reconnectionDelayMax] ... up to this.
    :param randomization_factor: [randomizationFactor] jitter of each delay, 0 to 1.
    :param timeout: [timeout] seconds one opening (handshake) may take; also what
        ``connect()`` waits by default.
    :param ack_timeout: [ackTimeout] default seconds ``emit_with_ack``/``call`` wait.
    :param request_timeout: seconds a POST, or the upgrade, may take.
    :param max_queued_messages: Engine.IO messages waiting to be written.
    :param fetcher: how polling requests are made (default: aiohttp's client);
        rtio.testing passes an in-memory one.
    :param ws_connector: how WebSockets are opened (default: rtio.ws.connect).
    :param rand: the jitter's random source, ``() -> float in [0, 1)``.
    """

    def __init__(
        self,
        url: str,
        *,
        path: str = "/socket.io/",
        transports: Sequence[str] = ("polling", "websocket"),
        upgrade: bool = True,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: ssl_module.SSLContext | None = None,
        parser: Parser | None = None,
        reconnection: bool = True,
        reconnection_attempts: int | None = None,
        reconnection_delay: float = 1.0,
        reconnection_delay_max: float = 5.0,
        randomization_factor: float = 0.5,
        timeout: float = 20.0,
        ack_timeout: float = 60.0,
        request_timeout: float = 20.0,
        max_queued_messages: int = 10_000,
        fetcher: HttpFetcher | None = None,
        ws_connector: WebSocketConnector | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.url = url
        self.path = path
        self.transports = tuple(transports)
        self.upgrade = upgrade
        self.query = dict(query or {})
        self.headers = dict(headers or {})
        self.ssl = ssl
        self.parser: Parser = parser if parser is not None else JsonParser()
        self.reconnection = reconnection
        self.reconnection_attempts = reconnection_attempts
        self.backoff = Backoff(reconnection_delay, reconnection_delay_max, randomization_factor)
        self.timeout = timeout
        self.ack_timeout = ack_timeout
        self.request_timeout = request_timeout
        self.max_queued_messages = max_queued_messages
        self._fetcher = fetcher
        self._ws_connector = ws_connector
        self._rand = rand
        self.state = ManagerState.CLOSED
        #: the Engine.IO session while open
        self.engine: EngineClient | None = None
        self._decoder: Decoder | None = None
        self.sockets: dict[str, ClientSocket] = {}
        self._active: set[ClientSocket] = set()
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._opener: asyncio.Task[None] | None = None
        self._closing = False

    def __repr__(self) -> str:
        return f"<Manager {self.url} {self.state.value}>"

    # -- namespaces -------------------------------------------------------------------------

    def socket(self, namespace: str = "/", *, auth: AuthProvider = None) -> ClientSocket:
        """The socket of ``namespace`` (made once; later calls return the same one)."""
        if not namespace.startswith("/"):
            namespace = "/" + namespace
        sock = self.sockets.get(namespace)
        if sock is None:
            sock = self.sockets[namespace] = ClientSocket(self, namespace, auth=auth)
        elif auth is not None:
            sock.auth = auth
        return sock

    def attach(self, sock: ClientSocket) -> None:
        self._active.add(sock)
        self._closing = False

    def detach(self, sock: ClientSocket) -> None:
        self._active.discard(sock)

    async def close_if_unused(self) -> None:
        """The JS ``_destroy``: the connection closes once no namespace wants it."""
        if not self._active:
            await self.close()

    # -- events -----------------------------------------------------------------------------

    def on(self, event: str, handler: F | None = None) -> Any:
        """Set the handler of a manager event (see the module's docstring)."""

        def register(fn: F) -> F:
            self._handlers[event] = fn
            return fn

        return register if handler is None else register(handler)

    def _emit(self, event: str, *args: Any) -> None:
        handler = self._handlers.get(event)
        if handler is None:
            return
        try:
            result = handler(*args)
        except Exception:
            logger.exception("client: manager handler of %r failed", event)
            return
        if inspect.isawaitable(result):
            self.spawn(_logged(result, event))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- opening ----------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.state is ManagerState.OPEN

    def open_soon(self) -> None:
        """Open the connection in the background (a no-op while open or opening)."""
        if self.state is ManagerState.CLOSED:
            self.state = ManagerState.OPENING
            self._opener = self.spawn(self._open_then_reconnect())

    async def _open_then_reconnect(self) -> None:
        err = await self._try_open()
        if err is not None:
            self._emit("error", err)
            for sock in list(self._active):
                sock.connection_failed(err)
            if self.reconnection and self._active and not self._closing:
                await self._reconnect()
            elif self.state is not ManagerState.OPEN:
                self.state = ManagerState.CLOSED

    async def _try_open(self) -> ConnectError | None:
        """One opening; the error if it failed."""
        self.state = ManagerState.OPENING
        fetcher = self._fetcher
        if fetcher is None:
            fetcher = self._fetcher = AiohttpFetcher(self.ssl)
        connector = self._ws_connector or default_ws_connector(self.ssl, self.timeout)
        engine = EngineClient(
            self.url,
            path=self.path,
            query=self.query,
            headers=self.headers,
            transports=self.transports,
            upgrade=self.upgrade,
            fetcher=fetcher,
            ws_connector=connector,
            on_message=self._receive,
            on_close=self._engine_closed,
            request_timeout=self.request_timeout,
            max_queued=self.max_queued_messages,
        )
        self.engine = engine
        self._decoder = self.parser.new_decoder()
        try:
            await engine.open(self.timeout)
        except TransportError as exc:
            self.engine = None
            return ConnectError(str(exc), _error_body(exc.body))
        except EngineProtocolError as exc:
            self.engine = None
            return ConnectError(f"parse error: {exc}")
        except asyncio.TimeoutError:
            self.engine = None
            return ConnectError("timeout")
        if self._closing:
            await engine.close()
            self.engine = None
            return ConnectError("closed while opening")
        self.state = ManagerState.OPEN
        self._emit("open")
        for sock in list(self._active):
            if not sock.connected:
                sock.send_connect()
        return None

    async def _reconnect(self) -> None:
        """Reopen after the backoff's delays, until it works, the attempts run out, or
        the manager is closed."""
        backoff = self.backoff
        while not self._closing and self._active:
            limit = self.reconnection_attempts
            if limit is not None and backoff.attempts >= limit:
                logger.info("client: reconnection failed after %d attempts", backoff.attempts)
                backoff.reset()
                self.state = ManagerState.CLOSED
                self._emit("reconnect_failed")
                for sock in list(self._active):
                    sock.reconnection_failed()
                return
            self.state = ManagerState.RECONNECTING
            delay = backoff.duration(self._rand())
            logger.debug("client: reconnecting in %.3f s", delay)
            await asyncio.sleep(delay)
            if self._closing or not self._active:
                break
            attempt = backoff.attempts
            self._emit("reconnect_attempt", attempt)
            err = await self._try_open()
            if err is None:
                backoff.reset()
                self._emit("reconnect", attempt)
                return
            self._emit("error", err)  # (the JS manager: "error", then "reconnect_error")
            self._emit("reconnect_error", err)
            for sock in list(self._active):
                sock.connection_failed(err)
        if self.state is not ManagerState.OPEN:
            self.state = ManagerState.CLOSED

    # -- the connection's traffic -----------------------------------------------------------

    def send_packet(self, packet: Packet) -> None:
        """Encode and send a packet (the sockets call this only while open)."""
        engine = self.engine
        if engine is None or engine.ended:
            return
        try:
            for message in self.parser.encode(packet):
                engine.send(message)
        except SendQueueFull:
            logger.warning("client: the send queue is full; closing the connection")
            engine.abort("transport error")

    def _receive(self, message: str | bytes) -> None:
        decoder = self._decoder
        assert decoder is not None
        try:
            packet = decoder.feed(message)
        except ParseError as exc:
            logger.warning("client: parse error: %s", exc)
            engine = self.engine
            if engine is not None:
                engine.abort("parse error")
            return
        if packet is None:
            return
        sock = self.sockets.get(packet.nsp)
        if sock is not None:
            sock.receive_packet(packet)

    def _engine_closed(self, reason: str) -> None:
        self.engine = None
        self._decoder = None
        self.state = ManagerState.CLOSED
        logger.info("client: connection closed (%s)", reason)
        for sock in list(self.sockets.values()):
            sock.connection_closed(reason)
        self._emit("close", reason)
        if self.reconnection and self._active and not self._closing:
            self.state = ManagerState.RECONNECTING
            self._opener = self.spawn(self._reconnect())

    # -- closing ----------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the connection and stop reconnecting (every namespace is disconnected)."""
        self._closing = True
        opener = self._opener
        if opener is not None and opener is not asyncio.current_task():
            opener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await opener
        self._opener = None
        engine = self.engine
        self.engine = None
        self.state = ManagerState.CLOSED
        if engine is not None:
            await engine.close()
            for sock in list(self.sockets.values()):
                sock.connection_closed("io client disconnect")
            self._emit("close", "io client disconnect")
        for sock in list(self._active):
            sock.deactivate()
        self.backoff.reset()
        fetcher = self._fetcher
        if fetcher is not None:
            await fetcher.close()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()


def _error_body(body: bytes) -> Any:
    """The Engine.IO error body ``{code, message}`` of a refused request, if it is one."""
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


async def _logged(awaitable: Any, event: str) -> None:
    try:
        await awaitable
    except Exception:
        logger.exception("client: manager handler of %r failed", event)
