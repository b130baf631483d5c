"""rtio.Server: the public API, and the glue between the engine and the Socket.IO layer.

Owns the server's options (its own and the engine's), the namespaces (static ones by
name, parent namespaces by pattern), the choice of a parser per connection, mounting in
an aiohttp application (``attach``) or running standalone (``run``), and the
:class:`EngineHandler` that turns Engine.IO sessions into :class:`~.client.Client` objects.
Everything about one namespace is in namespace.py; about one socket, in socket.py.

    sio = rtio.Server(cors_allowed_origins="*")

    @sio.on("chat")
    async def chat(socket, text):
        await sio.emit("chat", text)
        return "got it"          # answers the client's ack

    sio.run("127.0.0.1", 8000)
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Sequence
from typing import Any, TypeVar, overload

from aiohttp import web

from rtio.engine import (
    CookieOptions,
    CorsOptions,
    EngineOptions,
    EngineServer,
    HandshakeRequest,
)

from ._deadlines import ConnectDeadlines
from .adapter import Adapter, InMemoryAdapter
from .background import hold
from .broadcast import AckResults, BroadcastOperator, Rooms
from .client import Client
from .drain import wait_for_handlers
from .engine_handler import EngineHandler
from .handlers import Sent
from .migration import missing_attribute
from .namespace import Namespace, NamespaceMatcher, ParentNamespace
from .observer import Operations
from .parsers.base import Parser
from .parsers.json_parser import JsonParser
from .recovery import ConnectionStateRecovery, SessionAwareAdapter
from .socket import Socket

__all__ = ["SERVERS_KEY", "Server"]

log = logging.getLogger("rtio.socketio")

F = TypeVar("F", bound=Callable[..., Any])

#: ``allow_request(request)``: True/None accepts a handshake, False refuses it (403)
AllowRequest = Callable[[HandshakeRequest], Awaitable["bool | None"]]

#: ``parser_for(request)``: the parser of one connection, from its handshake request. Return
#: shared instances (one per kind): a broadcast is encoded once per parser *object*, so a
#: fresh instance per request would cost one encoding per socket. Such parsers are not given
#: ``max_payload`` as their packet size limit: set their own ``max_packet_size``.
ParserChooser = Callable[[HandshakeRequest], Parser]

#: where the engine keywords' defaults come from
_ENGINE_DEFAULTS = EngineOptions()


class Server(Operations):
    """A Socket.IO v5 server. Mount it with :meth:`attach` or run it with :meth:`run`.

    :param cors_allowed_origins: ``"*"``, a list of origins, or a callable
        ``(origin) -> bool``; None (default): no CORS headers, browsers allow same origin
        only.
    :param ping_interval: [pingInterval] seconds between the server's pings.
    :param ping_timeout: [pingTimeout] seconds to wait for the pong.
    :param max_payload: [maxHttpBufferSize] largest message or POST body, in bytes.
    :param transports: [transports] ``("polling", "websocket")`` or a subset.
    :param allow_upgrades: [allowUpgrades] polling may upgrade to WebSocket.
    :param per_message_deflate: [perMessageDeflate] WebSocket compression.
    :param upgrade_timeout: [upgradeTimeout] seconds an upgrade may take.
    :param body_timeout: seconds the body of a polling POST may take to arrive; past it
        the POST is answered 408 and the session closed.
    :param close_timeout: [closeTimeout] seconds a session the server closes waits for a
        polling client to fetch what is queued and the close packet.
    :param cookie: [cookie] the session cookie, None for none.
    :param allow_request: [allowRequest] ``async (request) -> bool | None`` on handshakes.
    :param connect_timeout: [connectTimeout] seconds a client has to join a namespace
        before its connection is closed; None: no limit.
    :param parser: the wire format of every connection (default: the JSON parser).
    :param parser_for: choose the parser per connection from the handshake request
        (overrides ``parser``).
    :param adapter: ``adapter(namespace)`` builds each namespace's adapter.
    :param ordered_handlers: False (the default): a socket's handlers start in arrival
        order and run concurrently once they await (as in Node); True: one at a time, each
        event's handler after the previous one finished (strict order).
    :param max_concurrent_handlers: handlers of one socket that may be awaiting at once
        (not with ``ordered_handlers``); past it later events wait, in order, for one to
        finish.
    :param max_queued_events: events of one socket that may wait for its handlers; a
        client that sends more is disconnected.
    :param max_attachments: binary attachments one incoming packet may carry (JSON
        parser; ignored when ``parser`` is given).
    :param slow_handler_warning: seconds after which a handler still running (an event's,
        or ``connect``) is logged, once, as a warning naming the event, namespace and
        socket (with ``ordered_handlers``, the socket's later events wait for it). None: no
        watch.
    :param max_child_namespaces: child namespaces that parent namespaces (``of(pattern)``)
        may have at once, all parents together; a CONNECT that would create one more gets
        CONNECT_ERROR "Too many namespaces" (and a warning is logged). None: no limit.
    :param shutdown_drain: graceful drain: at shutdown (SIGTERM), new sessions are
        refused and the handlers running are given up to this many seconds to finish
        before the clients are told "server shutting down" (0: no wait).
    :param max_handshake_rate: admission control: new sessions let in per second
        (sustained); past it a handshake waits its turn up to 2 s (EngineOptions.
        handshake_wait), then gets 503 with ``Retry-After``, the client retrying after its
        backoff. None: no limit (as Node). See docs/OPERATIONS.md.
    :param handshake_burst: with ``max_handshake_rate``: how many handshakes may come at
        once (None: one second's worth).
    :param connection_state_recovery: [connectionStateRecovery] a
        :class:`~.recovery.ConnectionStateRecovery`, a dict of its options
        (``max_disconnection_duration`` 120 s, ``skip_middlewares`` True, ``max_packets``
        and ``max_sessions`` 10,000 per namespace) or True: a client that reconnects
        within the duration gets its socket id, rooms, ``data`` and missed events back
        (docs/RECOVERY.md). None (default): off.
    :param engine_options: full control of the engine; when given, the engine options
        above are ignored.
    :param path: where :meth:`attach` and :meth:`run` mount the server.
    :param allow_eio3: [allowEIO3] also serve socket.io-client 2.x (Engine.IO v3, the
        Socket.IO v4 protocol) beside v4 clients (docs/EIO3.md). Off by default, as in
        Node: such clients are refused (400, code 5) and the log says so.
    """

    def __init__(
        self,
        *,
        cors_allowed_origins: str | Sequence[str] | Callable[[str], bool] | None = None,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        max_payload: int = 1_000_000,
        transports: Sequence[str] = ("polling", "websocket"),
        allow_upgrades: bool = True,
        per_message_deflate: bool = False,
        upgrade_timeout: float = 10.0,
        body_timeout: float = _ENGINE_DEFAULTS.body_timeout,
        close_timeout: float = _ENGINE_DEFAULTS.close_timeout,
        cookie: CookieOptions | None = None,
        allow_request: AllowRequest | None = None,
        connect_timeout: float | None = 45.0,
        parser: Parser | None = None,
        parser_for: ParserChooser | None = None,
        adapter: Callable[[Namespace], Adapter] = InMemoryAdapter,
        max_attachments: int = 10,
        max_queued_events: int = 1000,
        ordered_handlers: bool = False,
        max_concurrent_handlers: int = 32,
        max_child_namespaces: int | None = 10_000,
        slow_handler_warning: float | None = 5.0,
        max_handshake_rate: float | None = None,
        handshake_burst: int | None = None,
        shutdown_drain: float = _ENGINE_DEFAULTS.shutdown_drain,
        engine_options: EngineOptions | None = None,
        path: str = "/socket.io/",
        connection_state_recovery: ConnectionStateRecovery | dict[str, Any] | bool | None = None,
        allow_eio3: bool = False,
    ) -> None:
        if engine_options is None:
            cors = None
            if cors_allowed_origins is not None:
                cors = CorsOptions(origins=cors_allowed_origins)
            engine_options = EngineOptions(
                path=path,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                max_payload=max_payload,
                transports=tuple(transports),
                allow_upgrades=allow_upgrades,
                per_message_deflate=per_message_deflate,
                upgrade_timeout=upgrade_timeout,
                body_timeout=body_timeout,
                close_timeout=close_timeout,
                max_handshake_rate=max_handshake_rate,
                handshake_burst=handshake_burst,
                shutdown_drain=shutdown_drain,
                cookie=cookie,
                allow_request=allow_request,
                cors=cors,
                allow_eio3=allow_eio3,
            )
        if max_queued_events < 1:
            raise ValueError("max_queued_events must be at least 1")
        if max_concurrent_handlers < 1:
            raise ValueError("max_concurrent_handlers must be at least 1")
        #: a socket's handlers run one at a time (else concurrently once they await)
        self.ordered_handlers = ordered_handlers
        #: handlers of one socket awaiting at once, at most (not with ordered_handlers)
        self.max_concurrent_handlers = max_concurrent_handlers
        if max_child_namespaces is not None and max_child_namespaces < 0:
            raise ValueError("max_child_namespaces must be at least 0 (or None)")
        if slow_handler_warning is not None and slow_handler_warning <= 0:
            raise ValueError("slow_handler_warning must be positive (or None)")
        #: seconds a handler may run before a warning says so (None: not watched)
        self.slow_handler_warning = slow_handler_warning
        #: child namespaces of all parent namespaces together, at most (None: no limit)
        self.max_child_namespaces = max_child_namespaces
        # the limit was met and said so in a warning (said again once a child has gone)
        self._child_limit_warned = False
        self.engine_options = engine_options
        #: events of one socket that may wait for its handlers before it is cut off
        self.max_queued_events = max_queued_events
        self.path = path
        #: the connect timeout of every client, on one timer (the clients' business)
        self.connect_deadlines = ConnectDeadlines(None)
        self.connect_timeout = connect_timeout
        self.parser: Parser = (
            parser
            if parser is not None
            else JsonParser(max_attachments=max_attachments, max_packet_size=max_payload)
        )
        self._parser_for = parser_for
        self._adapter_factory = adapter
        self.client_type: type[Client] = Client  # (rtio.ops: a subclass counting packets)
        self.attach_hooks: list[Callable[[web.Application], None]] = []  # attach(app) calls
        #: the recovery options (None: off)
        self.connection_state_recovery: ConnectionStateRecovery | None = ConnectionStateRecovery.of(
            connection_state_recovery
        )
        self._nsps: dict[str, Namespace] = {}
        self._parents: list[ParentNamespace] = []
        self._engine = EngineServer(EngineHandler(self), engine_options)
        self._engine.drain = functools.partial(wait_for_handlers, self._every_socket)
        #: the main namespace, "/"
        self.main = self.of("/")

    def __repr__(self) -> str:
        return f"<rtio.Server namespaces={list(self._nsps)}>"

    @property
    def connect_timeout(self) -> float | None:
        """Seconds a client has to join a namespace (None: no limit). A change applies to
        the clients that connect afterwards."""
        return self.connect_deadlines.timeout

    @connect_timeout.setter
    def connect_timeout(self, seconds: float | None) -> None:
        if seconds is not None and seconds <= 0:
            raise ValueError("connect_timeout must be positive (or None)")
        # the clients waiting keep their deadlines; a shorter timeout can put a later
        # client's before theirs: it is then met when theirs is (late by the difference)
        self.connect_deadlines.timeout = seconds

    # -- namespaces -----------------------------------------------------------------------

    @overload
    def of(self, name: str) -> Namespace: ...
    @overload
    def of(
        self, name: re.Pattern[str] | NamespaceMatcher, *, cleanup_empty_children: bool = False
    ) -> ParentNamespace: ...

    def of(
        self,
        name: str | re.Pattern[str] | NamespaceMatcher,
        *,
        cleanup_empty_children: bool = False,
    ) -> Namespace | ParentNamespace:
        """The namespace ``name`` (created on first use), or a parent namespace for a
        compiled regular expression (matched in full) or a function
        ``matcher(name, auth) -> bool`` (sync or async): every name it accepts becomes a
        child namespace sharing the parent's handlers and middlewares (with
        ``cleanup_empty_children``, a child goes when its last socket leaves)."""
        if isinstance(name, str):
            if not name.startswith("/"):
                name = "/" + name
            nsp = self._nsps.get(name)
            if nsp is None:
                nsp = self._nsps[name] = Namespace(self, name)
            return nsp
        parent = ParentNamespace(self, name, cleanup_empty_children=cleanup_empty_children)
        self._parents.append(parent)
        return parent

    @property
    def namespaces(self) -> dict[str, Namespace]:
        """Every namespace that exists now (static and children), by name."""
        return dict(self._nsps)

    @property
    def sockets(self) -> dict[str, Socket]:
        """The sockets connected to the main namespace, by id."""
        return self.main.sockets

    def make_adapter(self, nsp: Namespace) -> Adapter:
        """The adapter of a new namespace (the ``adapter`` option's; with connection state
        recovery, the default one is the in-memory SessionAwareAdapter)."""
        recovery = self.connection_state_recovery
        if recovery is not None and self._adapter_factory is InMemoryAdapter:
            return SessionAwareAdapter(nsp, recovery)
        return self._adapter_factory(nsp)

    def forget_namespace(self, nsp: Namespace) -> None:
        """A child namespace went (its parent dropped it): its adapter closes."""
        if self._nsps.get(nsp.name) is nsp:
            del self._nsps[nsp.name]
            self._child_limit_warned = False
            closing = nsp.adapter.close()
            if closing is not None:
                hold(asyncio.ensure_future(closing))

    def _child_limit_reached(self, client: Client, name: str) -> bool:
        """Whether one more child namespace would exceed ``max_child_namespaces`` (checked
        before the child is made). Without cleanup children stay for ever, as in Node: a
        client allowed to connect to fresh names could otherwise grow memory without end."""
        limit = self.max_child_namespaces
        if limit is None or sum(len(p.children) for p in self._parents) < limit:
            return False
        # one warning while the limit holds (a client may try thousands of names)
        level = logging.DEBUG if self._child_limit_warned else logging.WARNING
        self._child_limit_warned = True
        log.log(
            level,
            "client %s: CONNECT to %s refused: max_child_namespaces (%d) child namespaces "
            "exist (raise the option, or let parents drop empty children with "
            "cleanup_empty_children=True)",
            client.session.sid,
            name,
            limit,
        )
        return True

    async def connect_namespace(
        self, client: Client, name: str, auth: dict[str, Any] | None
    ) -> None:
        """A CONNECT from ``client`` for namespace ``name`` (``auth`` None: no payload)."""
        nsp = self._nsps.get(name)
        if nsp is None and self._parents:
            if auth is None:
                auth = {}  # for the matchers, then the same dict for the socket
            for parent in tuple(self._parents):
                try:
                    matched = await parent.matches(name, auth)
                except Exception:
                    log.exception("namespace matcher %r failed", parent.matcher)
                    matched = False
                if matched:
                    nsp = self._nsps.get(name)  # created meanwhile by another client
                    if nsp is None:
                        if self._child_limit_reached(client, name):
                            client.connect_error(name, {"message": "Too many namespaces"})
                            return
                        nsp = self._nsps[name] = parent.create_child(name)
                    break
        if nsp is None:
            client.connect_error(name, {"message": "Invalid namespace"})
            return
        if client.connected:
            await nsp.add_client(client, auth)

    # -- the main namespace's API ---------------------------------------------------------

    @overload
    def on(self, event: str, *, namespace: str = "/") -> Callable[[F], F]: ...
    @overload
    def on(self, event: str, handler: F, *, namespace: str = "/") -> F: ...

    def on(
        self, event: str, handler: F | None = None, *, namespace: str = "/"
    ) -> F | Callable[[F], F]:
        """Register an event handler of the main namespace (or of ``namespace``); see
        :meth:`Namespace.on`."""
        if namespace == "*":
            raise ValueError(
                'namespace="*" (python-socketio\'s catch-all namespace): in rtio a parent '
                'namespace matches names: sio.of(re.compile(r"/.*")).on(event, fn)'
            )
        nsp = self.of(namespace)
        return nsp.on(event) if handler is None else nsp.on(event, handler)

    def event(self, fn: F) -> F:
        """``@sio.event`` registers ``fn`` for the event named like the function."""
        return self.main.on(fn.__name__, fn)

    def off(self, event: str, *, namespace: str = "/") -> None:
        """Remove the handler of ``event`` (in the main namespace or ``namespace``)."""
        self.of(namespace).off(event)

    def use(self, middleware: F) -> F:
        """Add a connect middleware to the main namespace; see :meth:`Namespace.use`."""
        return self.main.use(middleware)

    def to(self, room: Rooms) -> BroadcastOperator:
        """Emit to a room (or rooms) of the main namespace."""
        return self.main.to(room)

    in_ = to

    def except_(self, room: Rooms) -> BroadcastOperator:
        """Emit to every socket of the main namespace but those in these rooms."""
        return self.main.except_(room)

    @property
    def volatile(self) -> BroadcastOperator:
        """The next emit may be dropped for clients not ready to receive it."""
        return self.main.volatile

    def compress(self, compress: bool = True) -> BroadcastOperator:
        """Per-message compression on or off for the next emit."""
        return self.main.compress(compress)

    @property
    def local(self) -> BroadcastOperator:
        """This server only (with a multi-server adapter)."""
        return self.main.local

    def timeout(self, seconds: float) -> BroadcastOperator:
        """How long the next ``emit_with_ack`` waits for the clients' acks."""
        return self.main.timeout(seconds)

    def emit(
        self,
        event: str,
        *args: Any,
        to: Rooms | None = None,
        namespace: str = "/",
        room: Rooms | None = None,
        skip_sid: Rooms | None = None,
        callback: Any = None,
    ) -> Sent:
        """Send an event to every socket of the main namespace (or of ``namespace``), or
        only those in ``to`` (a room, a socket or its id, or several).

        For code written against python-socketio, ``room`` is ``to`` and ``skip_sid``
        (sockets or ids) is ``except_``: both mean one thing only, so they work.
        ``callback`` is refused: see :meth:`Socket.emit_with_ack`."""
        if callback is not None:
            raise TypeError(
                "sio.emit(..., callback=) is python-socketio's: in rtio an ack comes from "
                "one socket: socket.emit(event, *args, callback=fn), or "
                "await socket.emit_with_ack(event, *args, timeout=s) (sio.sockets[sid] "
                "is the socket of an id); for many, await sio.to(room).emit_with_ack(...)"
            )
        if room is not None:
            if to is not None:
                raise TypeError("sio.emit(): give to= or room= (its alias), not both")
            to = room
        nsp = self.of(namespace)
        operator = nsp.to(to) if to is not None else None
        if skip_sid is not None:
            operator = (operator or nsp).except_(skip_sid)
        if operator is not None:
            return operator.emit(event, *args)
        return nsp.emit(event, *args)

    def start_background_task(
        self, target: Callable[..., Coroutine[Any, Any, Any]], *args: Any, **kwargs: Any
    ) -> asyncio.Task[Any]:
        """Run ``target(*args, **kwargs)`` in a task (python-socketio's habit): unlike a
        bare ``asyncio.create_task``, the task is held until it ends (the loop keeps only
        a weak reference) and an exception it raises is logged."""
        return hold(asyncio.get_running_loop().create_task(target(*args, **kwargs)))

    def register_namespace(self, handlers: Any, namespace: str | None = None) -> Namespace:
        """Register the ``on_<event>`` methods of an object (python-socketio's class-based
        namespaces) as the handlers of ``namespace`` (default: the object's ``namespace``
        attribute, else ``"/"``). Each is called as any handler: ``(socket, *args)``,
        ``on_connect(socket, auth)``; the object holds your state."""
        name = namespace or getattr(handlers, "namespace", None) or "/"
        nsp = self.of(name)
        for attr in dir(handlers):
            if attr.startswith("on_") and len(attr) > 3:
                method = getattr(handlers, attr)
                if callable(method):
                    nsp.on(attr[3:], method)
        return nsp

    def __getattr__(self, name: str) -> Any:
        raise missing_attribute(name)

    def send(self, *args: Any) -> Sent:
        """Emit a ``"message"`` event to every socket of the main namespace."""
        return self.main.send(*args)

    async def emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> AckResults:
        """Emit to every socket of the main namespace and gather their acks."""
        return await self.main.emit_with_ack(event, *args, timeout=timeout)

    async def fetch_sockets(self) -> list[Socket]:
        """The sockets connected to the main namespace."""
        return await self.main.fetch_sockets()

    def sockets_join(self, rooms: str | Iterable[str]) -> Sent:
        """Make every socket of the main namespace join a room (or rooms)."""
        return self.main.sockets_join(rooms)

    def sockets_leave(self, rooms: str | Iterable[str]) -> Sent:
        """Make every socket of the main namespace leave a room (or rooms)."""
        return self.main.sockets_leave(rooms)

    def disconnect_sockets(self, close: bool = False) -> Sent:
        """Disconnect every socket of the main namespace (``close``: their connections
        too)."""
        return self.main.disconnect_sockets(close)

    def server_side_emit(self, event: str, *args: Any) -> Sent:
        """Send an event to the other servers of a cluster (none with the in-memory
        adapter)."""
        return self.main.server_side_emit(event, *args)

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        """The other servers' answers: see :meth:`Namespace.server_side_emit_with_ack`."""
        return await self.main.server_side_emit_with_ack(event, *args, timeout=timeout)

    def on_server_side(
        self, event: str, handler: Callable[..., Any] | None = None, *, namespace: str = "/"
    ) -> Any:
        """Handle ``server_side_emit(event, ...)`` from the other servers of a cluster, in
        the main namespace (or ``namespace``): see :meth:`Namespace.on_server_side`."""
        return self.of(namespace).on_server_side(event, handler)

    async def count_servers(self) -> int:
        """How many servers share the main namespace, counted now (1 without a cluster)."""
        return await self.main.count_servers()

    # -- serving --------------------------------------------------------------------------

    @property
    def engine(self) -> EngineServer:
        """The Engine.IO server underneath."""
        return self._engine

    def attach(self, app: web.Application, path: str | None = None) -> None:
        """Serve Socket.IO at ``path`` (default ``/socket.io/``) of an aiohttp app; the
        server shuts down with the app. The app lists its servers under ``SERVERS_KEY``."""
        self._engine.attach(app, path or self.path)
        for hook in self.attach_hooks:
            hook(app)
        app.setdefault(SERVERS_KEY, []).append(self)

    @property
    def adapter_factory(self) -> Callable[[Namespace], Adapter]:
        """What builds each namespace's adapter (the ``adapter`` option)."""
        return self._adapter_factory

    def use_adapter(self, adapter: Callable[[Namespace], Adapter]) -> None:
        """Build every namespace's adapter with ``adapter``, from now on and for the
        namespaces that exist (which must have no socket yet: call it before serving).
        rtio.workers puts its inter-worker adapter in place of the in-memory one so."""
        busy = [name for name, nsp in self._nsps.items() if nsp.sockets]
        if busy:
            raise RuntimeError(f"use_adapter: namespaces {busy} have sockets already")
        self._adapter_factory = adapter
        for nsp in self._nsps.values():
            nsp.adapter = adapter(nsp)
            nsp.adapter.observer = self.observer

    def make_app(self) -> web.Application:
        """A new aiohttp application serving only this server."""
        app = web.Application()
        self.attach(app)
        return app

    def run(self, host: str = "127.0.0.1", port: int = 8000, **kwargs: Any) -> None:
        """Serve standalone until SIGINT/SIGTERM with ``rtio.run_app`` (rtio's HTTP/1.1
        front answers the Engine.IO path; extra keyword arguments go to it)."""
        from rtio.run import run_app  # the front sits above the layers: imported on use

        run_app(self.make_app(), host=host, port=port, **kwargs)

    def _every_socket(self) -> Iterator[Socket]:
        for nsp in tuple(self._nsps.values()):
            yield from tuple(nsp.sockets.values())

    async def shutdown(self) -> None:
        """Disconnect every client ("server shutting down"), then close the adapters."""
        await self._engine.shutdown()
        for nsp in tuple(self._nsps.values()):
            closing = nsp.adapter.close()
            if closing is not None:
                await closing

    # -- parser per connection ------------------------------------------------------------

    def choose_parser(self, request: HandshakeRequest) -> Parser:
        """The parser of a new connection (``parser_for``, else ``parser``)."""
        if self._parser_for is not None:
            return self._parser_for(request)
        return self.parser


#: the rtio servers attached to an aiohttp app, in the order of attach()
SERVERS_KEY: web.AppKey[list[Server]] = web.AppKey("rtio.servers")
