"""The load clients: many cheap Socket.IO clients in one process, on rtio's client layers.

    BenchClient        one Socket.IO connection to one namespace: handshake, emit with
                       ack, incoming events to a callback; states CONNECTING -> CONNECTED
                       -> CLOSED (never back: a bench client does not reconnect)
    WebSocketEngine    Engine.IO over a direct WebSocket: rtio.ws's client role in push
                       mode (no task, queue or future per message) with rtio.client's
                       sans-I/O EngineClientCore deciding (open packet, pongs, close)
    rtio.client's EngineClient for "polling" (long-polling only) and "both" (polling
                       first, then the upgrade to WebSocket, as browsers do), its HTTP
                       requests on http_fetch.py's pooled raw connections (or, for
                       https://, one aiohttp session: SharedFetcher) shared by every client

The Socket.IO codec is rtio.socketio's JsonParser (encode each emit, decode each message).
Every wait has a timeout; a failure is reported as a *cause* (``failure_cause``): a short,
stable string such as ``refused``, ``timeout``, ``http 503``, ``connect_error``, used to
count failures by cause in the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from time import perf_counter
from typing import Any, Protocol

import aiohttp

from rtio.client.engine_core import EngineClientCore, EngineProtocolError, decode_frame
from rtio.client.transport import (
    EngineClient,
    HttpFetcher,
    TransportError,
    default_ws_connector,
)
from rtio.socketio import Packet, PacketType
from rtio.socketio.parsers import JsonParser, ParseError
from rtio.ws import (
    ConnectionClosed,
    ConnectionOptions,
    InvalidHandshakeResponse,
    WebSocket,
    WebSocketError,
)
from rtio.ws import connect as ws_connect

__all__ = [
    "TRANSPORTS",
    "BenchClient",
    "ClientFailure",
    "ClientState",
    "PreparedEmit",
    "SharedFetcher",
    "Target",
    "failure_cause",
]

TRANSPORTS = ("websocket", "polling", "both")

# the JS client sends no WebSocket pings (Engine.IO's heartbeat does that job)
_WS_OPTIONS = ConnectionOptions(ping_interval=None, close_timeout=2.0)
_STATUS = re.compile(r"answered (\d{3})")


class ClientFailure(Exception):
    """A bench client could not do what it was asked; ``cause`` is the short name counted
    in the report."""

    def __init__(self, cause: str, detail: str = "") -> None:
        super().__init__(f"{cause}: {detail}" if detail else cause)
        self.cause = cause


def failure_cause(exc: BaseException) -> str:
    """The short, stable cause of a failure, for counting failures by cause."""
    if isinstance(exc, ClientFailure):
        return exc.cause
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, InvalidHandshakeResponse):
        text = str(exc)
        match = _STATUS.search(text)
        if match:
            return f"http {match.group(1)}"
        return "closed in handshake" if "closed during" in text else "websocket handshake"
    if isinstance(exc, TransportError):
        if exc.status is not None:
            return f"http {exc.status}"
        if exc.__cause__ is not None:
            return failure_cause(exc.__cause__)
        return "transport"
    if isinstance(exc, (EngineProtocolError, ParseError)):
        return "protocol"
    if isinstance(exc, (ConnectionResetError, ConnectionClosed)):
        return "reset"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return failure_cause(exc.os_error)
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"os {errno.errorcode.get(exc.errno, exc.errno)}"
    if isinstance(exc, WebSocketError):
        return "websocket"
    return type(exc).__name__


@dataclass(frozen=True)
class Target:
    """Where the clients go: ``url`` as socket.io-client takes it (its path is the
    namespace), ``path`` the Engine.IO path on the server."""

    url: str
    path: str = "/socket.io/"

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https", "ws", "wss"):
            raise ValueError(f"not an http(s):// or ws(s):// URL: {self.url!r}")
        if not parts.hostname:
            raise ValueError(f"no host in {self.url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"a URL without query or fragment, please: {self.url!r}")
        if not self.path.startswith("/"):
            raise ValueError(f"the path must start with '/': {self.path!r}")

    @property
    def host(self) -> str:
        host = urllib.parse.urlsplit(self.url).hostname
        assert host is not None
        return host

    @property
    def port(self) -> int:
        parts = urllib.parse.urlsplit(self.url)
        return parts.port or (443 if parts.scheme in ("https", "wss") else 80)

    @property
    def secure(self) -> bool:
        return urllib.parse.urlsplit(self.url).scheme in ("https", "wss")

    @cached_property  # read twice per packet
    def namespace(self) -> str:
        return urllib.parse.urlsplit(self.url).path.rstrip("/") or "/"

    @property
    def origin(self) -> str:
        """``http(s)://host:port`` (what EngineClient takes)."""
        parts = urllib.parse.urlsplit(self.url)
        scheme = "https" if self.secure else "http"
        return f"{scheme}://{parts.netloc}"

    def websocket_url(self) -> str:
        parts = urllib.parse.urlsplit(self.url)
        scheme = "wss" if self.secure else "ws"
        path = "/" + self.path.strip("/") + "/"
        return f"{scheme}://{parts.netloc}{path}?EIO=4&transport=websocket"


class _Engine(Protocol):
    def send(self, message: str | bytes) -> None: ...

    async def close(self, timeout: float = 5.0) -> None: ...


class SharedFetcher:
    """rtio.client's HttpFetcher on one aiohttp session shared by every polling client
    (no connection limit, no cookie jar): one pool instead of a session per client."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
        max_size: int,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            session = self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        try:
            return await asyncio.wait_for(
                self._request(session, method, url, headers, body, max_size), timeout
            )
        except TransportError:
            raise
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError, RuntimeError) as exc:
            raise TransportError(f"{method} failed: {exc!r}") from exc

    @staticmethod
    async def _request(
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        max_size: int,
    ) -> tuple[int, bytes]:
        async with session.request(method, url, headers=dict(headers), data=body) as response:
            data = await response.content.read(max_size + 1)
            if len(data) > max_size:
                raise TransportError(f"response larger than {max_size} bytes")
            return response.status, data

    async def close(self) -> None:
        """Per client: nothing (the session is shared); see :meth:`shutdown`."""

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class WebSocketEngine:
    """Engine.IO v4 over a direct WebSocket, push mode: each frame is decoded and handed
    on from ``receive_data``; pongs are answered at once."""

    __slots__ = ("_core", "_loop", "_on_close", "_on_message", "_on_open", "_ws", "ended")

    def __init__(
        self,
        on_open: Callable[[], None],
        on_message: Callable[[str | bytes], None],
        on_close: Callable[[str], None],
    ) -> None:
        self._core = EngineClientCore(max_queued=1000)
        self._loop = asyncio.get_running_loop()
        self._on_open = on_open
        self._on_message = on_message
        self._on_close = on_close
        self._ws: WebSocket | None = None
        self.ended = False

    async def open(self, url: str, timeout: float) -> None:
        """Connect (TCP and the WebSocket handshake, within ``timeout``); the open packet
        arrives later, through ``on_open``."""
        ws = await ws_connect(url, options=_WS_OPTIONS, open_timeout=timeout)
        self._ws = ws
        ws.set_receiver(self._receive, self._closed)

    def _receive(self, frame: str | bytes) -> None:
        core = self._core
        opening = core.info is None
        try:
            messages = core.receive(decode_frame(frame), self._loop.time())
        except EngineProtocolError:
            self._end("parse error")
            return
        if core.has_data:
            self._flush()
        if opening:
            self._on_open()
        for message in messages:
            self._on_message(message)
        if core.closed_by_server:
            self._end("transport close")

    def _flush(self) -> None:
        ws = self._ws
        if ws is None or self.ended:
            return
        try:
            for frame in self._core.take_all():
                ws.send_now(frame)
        except ConnectionClosed:
            self._end("transport close")

    def send(self, message: str | bytes) -> None:
        if self.ended:
            raise ClientFailure("closed")
        self._core.send(message)
        self._flush()

    def _closed(self) -> None:
        self._end("transport close")

    def _end(self, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        self._core.close()
        ws = self._ws
        if ws is not None and not ws.closed:
            self._loop.create_task(ws.close())
        self._on_close(reason)

    async def close(self, timeout: float = 5.0) -> None:
        """Leave: the close packet, then the WebSocket close handshake (within timeout)."""
        ws = self._ws
        if self.ended or ws is None:
            return
        self.ended = True
        try:
            self._core.send_close()
            for frame in self._core.take_all():
                ws.send_now(frame)
            await asyncio.wait_for(ws.close(), timeout)
        except (ConnectionClosed, asyncio.TimeoutError, OSError):
            pass


@dataclass(frozen=True)
class PreparedEmit:
    """An EVENT encoded once by the parser, its ack id left out: each emit splices its
    own id in (``head + id + text``), the encoding's costliest part (the JSON) done once.
    ``text`` is None when the parser's form does not split that way (binary data, a
    parser that is not the JSON text form): then every emit encodes in full."""

    head: str
    text: str | None

    @classmethod
    def of(cls, parser: JsonParser, namespace: str, event: str, args: list[Any]) -> PreparedEmit:
        encoded = parser.encode(Packet(PacketType.EVENT, namespace, [event, *args], 0))
        head = "2" if namespace == "/" else f"2{namespace},"
        if len(encoded) == 1 and isinstance(encoded[0], str):
            message = encoded[0]
            if message.startswith(head + "0["):
                return cls(head, message[len(head) + 1 :])
        return cls(head, None)


class ClientState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


# (round trip seconds, ack args); durations come from time.perf_counter (uvloop's
# loop.time() has millisecond steps)
AckCallback = Callable[[float, list[Any]], None]
EventCallback = Callable[["BenchClient", str, list[Any]], None]


class BenchClient:
    """One Socket.IO client of the bench.

    ``connect(timeout)`` runs the whole handshake (TCP, WebSocket or polling, Engine.IO
    open, Socket.IO CONNECT) and returns its duration in seconds, or raises ClientFailure
    or the transport's error (see failure_cause). ``emit(event, args, on_ack)`` sends with
    an ack id; ``on_ack(rtt_seconds, args)`` is called when the ack comes. Incoming events
    go to ``on_event(client, name, args)``; a server-side disconnect to ``on_close``.
    """

    __slots__ = (
        "_acks",
        "_connected",
        "_decoder",
        "_engine",
        "_loop",
        "_next_id",
        "close_reason",
        "fetcher",
        "max_pending",
        "on_close",
        "on_event",
        "parser",
        "state",
        "target",
        "transport",
    )

    def __init__(
        self,
        target: Target,
        transport: str,
        *,
        parser: JsonParser,
        fetcher: HttpFetcher | None = None,
        on_event: EventCallback | None = None,
        on_close: Callable[[BenchClient, str], None] | None = None,
        max_pending: int = 1000,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}")
        if transport != "websocket" and fetcher is None:
            raise ValueError(f"the {transport} transport needs a fetcher")
        self.target = target
        self.transport = transport
        self.parser = parser
        self.fetcher = fetcher
        self.on_event = on_event
        self.on_close = on_close
        self.max_pending = max_pending
        self.state = ClientState.CONNECTING
        self.close_reason: str | None = None
        self._loop = asyncio.get_running_loop()
        self._decoder = parser.new_decoder()
        self._acks: dict[int, tuple[float, AckCallback]] = {}
        self._next_id = 0
        self._engine: _Engine | None = None
        self._connected: asyncio.Future[None] = self._loop.create_future()

    @property
    def pending_acks(self) -> int:
        return len(self._acks)

    async def connect(self, timeout: float) -> float:
        started = perf_counter()
        try:
            await asyncio.wait_for(self._connect(timeout), timeout)
        except BaseException:
            self._fail_connect()
            raise
        return perf_counter() - started

    async def _connect(self, timeout: float) -> None:
        target = self.target
        if self.transport == "websocket":
            engine = WebSocketEngine(self._engine_open, self._receive, self._engine_closed)
            self._engine = engine
            await engine.open(target.websocket_url(), timeout)
        else:
            assert self.fetcher is not None
            client = EngineClient(
                target.origin,
                path=target.path,
                transports=("polling",) if self.transport == "polling" else (
                    "polling", "websocket"),
                upgrade=self.transport == "both",
                fetcher=self.fetcher,
                ws_connector=default_ws_connector(None, timeout),
                on_message=self._receive,
                on_close=self._engine_closed,
                request_timeout=timeout,
            )
            self._engine = client
            await client.open(timeout)
            self._engine_open()
        await self._connected

    def _fail_connect(self) -> None:
        if self.state is ClientState.CONNECTING:
            self.state = ClientState.CLOSED
            self.close_reason = "connect failed"
            engine = self._engine
            if engine is not None:
                self._loop.create_task(engine.close(1.0))

    def _engine_open(self) -> None:
        self._send(Packet(PacketType.CONNECT, self.target.namespace))

    def _send(self, packet: Packet) -> None:
        engine = self._engine
        assert engine is not None
        for message in self.parser.encode(packet):
            engine.send(message)

    def _receive(self, message: str | bytes) -> None:
        try:
            packet = self._decoder.feed(message)
        except ParseError:
            self._close_with("parse error")
            return
        if packet is None or packet.nsp != self.target.namespace:
            return
        ptype = packet.type
        if ptype is PacketType.ACK or ptype is PacketType.BINARY_ACK:
            entry = self._acks.pop(packet.id, None) if packet.id is not None else None
            if entry is not None:
                sent_at, callback = entry
                callback(perf_counter() - sent_at, packet.data)
        elif ptype is PacketType.EVENT or ptype is PacketType.BINARY_EVENT:
            if self.on_event is not None:
                data = packet.data
                self.on_event(self, str(data[0]), data[1:])
        elif ptype is PacketType.CONNECT:
            if self.state is ClientState.CONNECTING:
                self.state = ClientState.CONNECTED
                if not self._connected.done():
                    self._connected.set_result(None)
        elif ptype is PacketType.CONNECT_ERROR:
            if not self._connected.done():
                self._connected.set_exception(ClientFailure("connect_error", str(packet.data)))
            self._close_with("connect_error")
        elif ptype is PacketType.DISCONNECT:
            self._close_with("server disconnect")

    def _engine_closed(self, reason: str) -> None:
        self._close_with(reason)

    def _close_with(self, reason: str) -> None:
        if self.state is ClientState.CLOSED:
            return
        was_connecting = self.state is ClientState.CONNECTING
        self.state = ClientState.CLOSED
        self.close_reason = reason
        if was_connecting and not self._connected.done():
            self._connected.set_exception(ClientFailure(_cause_of_reason(reason), reason))
        self._acks.clear()
        if self.on_close is not None and not was_connecting:
            self.on_close(self, reason)

    def emit(
        self, event: str, args: list[Any], on_ack: AckCallback,
        prepared: PreparedEmit | None = None,
    ) -> None:
        """Send ``event`` with ``args`` and an ack id (``prepared``: the same, encoded
        once). Raises ClientFailure("closed") when not connected, ClientFailure("backlog")
        past ``max_pending`` unanswered acks."""
        if self.state is not ClientState.CONNECTED:
            raise ClientFailure("closed")
        if len(self._acks) >= self.max_pending:
            raise ClientFailure("backlog", f"{self.max_pending} acks unanswered")
        ack_id = self._next_id
        self._next_id = ack_id + 1
        self._acks[ack_id] = (perf_counter(), on_ack)
        if prepared is not None and prepared.text is not None:
            engine = self._engine
            assert engine is not None
            engine.send(f"{prepared.head}{ack_id}{prepared.text}")
            return
        self._send(Packet(PacketType.EVENT, self.target.namespace, [event, *args], ack_id))

    async def close(self, timeout: float = 5.0) -> None:
        """Leave (Socket.IO DISCONNECT, then the transport's close), within ``timeout``."""
        engine = self._engine
        if self.state is ClientState.CONNECTED and engine is not None:
            with contextlib.suppress(ClientFailure, ConnectionClosed, TransportError):
                self._send(Packet(PacketType.DISCONNECT, self.target.namespace))
        self.state = ClientState.CLOSED
        self.close_reason = self.close_reason or "client close"
        self._acks.clear()
        if engine is not None:
            await engine.close(timeout)


def _cause_of_reason(reason: str) -> str:
    return {"parse error": "protocol", "transport close": "closed"}.get(reason, reason)
