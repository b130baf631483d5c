"""Namespaces: a static one per name, and parent namespaces that create children on demand.

Owns the namespace's handlers (``on``), its connect middlewares (``use``), the sockets
connected to it, its adapter (rooms) and the connect flow of a socket (middlewares, then
the CONNECT reply, then the ``connect`` handler). A :class:`ParentNamespace` (Node's
parent namespaces) matches names by a regular expression or a function; each match
becomes a child :class:`Namespace` that shares the parent's handlers and middlewares.
Knows nothing of Engine.IO: a socket's connection is its :class:`~.client.Client`.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from rtio.ids import new_id
from rtio.stepping import with_task

from .adapter import Adapter
from .broadcast import AckResults, BroadcastOperator, Rooms
from .core import AckIds
from .errors import ConnectionRefused, refusal_payload
from .handlers import CATCH_ALL, SENT, Handler, Sent, check_handler
from .observer import Observer
from .recovery import ConnectionStateRecovery, RestoredSession, restore_for
from .socket import Socket

if TYPE_CHECKING:
    from .client import Client

__all__ = ["BaseNamespace", "Namespace", "NamespaceHost", "NamespaceMatcher", "ParentNamespace"]

log = logging.getLogger("rtio.socketio")

F = TypeVar("F", bound=Callable[..., Any])

#: ``matcher(name, auth)`` -> truthy to create the namespace ``name`` (sync or async)
NamespaceMatcher = Callable[[str, dict[str, Any]], "bool | Awaitable[bool]"]


class NamespaceHost(Protocol):
    """What a namespace needs of its server (rtio.Server)."""

    @property
    def slow_handler_warning(self) -> float | None: ...
    @property
    def max_queued_events(self) -> int: ...
    @property
    def ordered_handlers(self) -> bool: ...
    @property
    def max_concurrent_handlers(self) -> int: ...
    @property
    def observer(self) -> Observer | None: ...
    @property
    def connection_state_recovery(self) -> ConnectionStateRecovery | None: ...
    def make_adapter(self, nsp: Namespace) -> Adapter: ...
    def forget_namespace(self, nsp: Namespace) -> None: ...


class BaseNamespace:
    """What static and parent namespaces share: handlers, middlewares and emitting."""

    def __init__(self, server: NamespaceHost, name: str) -> None:
        #: the server (an rtio.Server)
        self.server = server
        #: "/" for the main namespace; a parent namespace's name is its pattern
        self.name = name
        #: the event handlers by event (change them with :meth:`on` and :meth:`off`)
        #: (the catch-all handler, ``on("*")``, under the key None: handlers.CATCH_ALL)
        self.handlers: dict[Any, Handler] = {}
        #: the connect middlewares (add them with :meth:`use`)
        self.middlewares: list[Handler] = []
        #: the handlers of the other servers' ``server_side_emit`` events, by event (a
        #: cluster adapter calls them; add them with :meth:`on_server_side`)
        self.server_side_handlers: dict[str, Callable[..., Any]] = {}

    # -- registration -------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[F], F]: ...
    @overload
    def on(self, event: str, handler: F) -> F: ...

    def on(self, event: str, handler: F | None = None) -> F | Callable[[F], F]:
        """Register the handler of an event (sync or async), as a decorator or directly.

        ``handler(socket, *args)``: its return value (a tuple for several values) answers
        the client's ack, unless it takes an ``ack`` keyword parameter and calls it itself.
        Special events: ``"connect"`` ``(socket, auth)``, ``"disconnecting"`` and
        ``"disconnect"`` ``(socket, reason)``. ``"*"``: the catch-all handler, called as
        ``(socket, event, *args)`` for events without a handler (python-socketio's).
        """

        def register(fn: F) -> F:
            registered = Handler(fn, 1)
            check_handler(event, registered)
            self.handlers[CATCH_ALL if event == "*" else event] = registered
            return fn

        return register if handler is None else register(handler)

    def event(self, fn: F) -> F:
        """``@nsp.event`` registers ``fn`` for the event named like the function."""
        return self.on(fn.__name__, fn)

    def off(self, event: str) -> None:
        """Remove the handler of ``event`` (``"*"``: the catch-all handler)."""
        self.handlers.pop(CATCH_ALL if event == "*" else event, None)

    def on_server_side(self, event: str, handler: F | None = None) -> F | Callable[[F], F]:
        """Handle ``server_side_emit(event, *args)`` sent by the other servers of a cluster
        (Node's ``io.on(event)`` for server-side events): ``handler(*args)``, sync or async;
        its return value answers a ``server_side_emit_with_ack``. Never called for this
        server's own ``server_side_emit``, nor by clients."""

        def register(fn: F) -> F:
            if not callable(fn):
                raise TypeError(f"the server-side handler of {event!r} must be callable")
            self.server_side_handlers[event] = fn
            return fn

        return register if handler is None else register(handler)

    def use(self, middleware: F) -> F:
        """Add a connect middleware (Node's ``io.use``): ``middleware(socket, auth)``, sync
        or async, runs before the socket connects, in the order added. Raising
        :class:`~.errors.ConnectionRefused` (or any exception, whose ``str`` becomes the
        message) refuses the connection with CONNECT_ERROR ``{message, data}``; returning
        ``False`` refuses it with "Connection refused"."""
        self.middlewares.append(Handler(middleware, 1))
        return middleware

    # -- emitting (through a BroadcastOperator over every socket) -------------------------

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self)

    def to(self, room: Rooms) -> BroadcastOperator:
        """Target a room (or rooms; chain for more): the union of all rooms given."""
        return self._operator().to(room)

    in_ = to

    def except_(self, room: Rooms) -> BroadcastOperator:
        """Leave out a room (or rooms); a socket id is a room of its own."""
        return self._operator().except_(room)

    @property
    def volatile(self) -> BroadcastOperator:
        """The next emit may be dropped for clients not ready to receive it."""
        return self._operator().volatile

    def compress(self, compress: bool = True) -> BroadcastOperator:
        return self._operator().compress(compress)

    @property
    def local(self) -> BroadcastOperator:
        """This server only (with a multi-server adapter)."""
        return self._operator().local

    def timeout(self, seconds: float) -> BroadcastOperator:
        """How long ``emit_with_ack`` waits for the clients' acks."""
        return self._operator().timeout(seconds)

    def emit(self, event: str, *args: Any) -> Sent:
        """Send an event to every socket of the namespace, encoded once. Returns at once;
        awaiting the result is allowed."""
        return self._operator().emit(event, *args)

    def send(self, *args: Any) -> Sent:
        """Emit a ``"message"`` event."""
        return self._operator().emit("message", *args)

    async def emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> AckResults:
        """Emit to every socket and gather each one's ack: see
        :meth:`BroadcastOperator.emit_with_ack`."""
        return await self._operator().emit_with_ack(event, *args, timeout=timeout)

    async def fetch_sockets(self) -> list[Socket]:
        """Every connected socket of the namespace."""
        return await self._operator().fetch_sockets()

    def sockets_join(self, rooms: str | Iterable[str]) -> Sent:
        """Make every socket join a room (or rooms)."""
        return self._operator().sockets_join(rooms)

    def sockets_leave(self, rooms: str | Iterable[str]) -> Sent:
        """Make every socket leave a room (or rooms)."""
        return self._operator().sockets_leave(rooms)

    def disconnect_sockets(self, close: bool = False) -> Sent:
        """Disconnect every socket; ``close`` also closes their connections."""
        return self._operator().disconnect_sockets(close)

    def targets(self) -> list[Namespace]:
        """The namespaces an emit here reaches."""
        raise NotImplementedError


class Namespace(BaseNamespace):
    """One namespace: its sockets, its rooms (``adapter``), its handlers and middlewares."""

    def __init__(
        self, server: NamespaceHost, name: str, parent: ParentNamespace | None = None
    ) -> None:
        super().__init__(server, name)
        #: the parent namespace that created this one, if any
        self.parent = parent
        if parent is not None:  # children share the parent's handlers and middlewares
            self.handlers = parent.handlers
            self.middlewares = parent.middlewares
            self.server_side_handlers = parent.server_side_handlers
        #: connected sockets by id
        self.sockets: dict[str, Socket] = {}
        #: rooms and broadcast delivery
        self.adapter: Adapter = server.make_adapter(self)
        if server.observer is not None:
            self.adapter.observer = server.observer
        #: the ack ids of this namespace's emits and broadcasts
        self.next_ack_id = AckIds()
        # CONNECTs whose middlewares are running: a child is not dropped under them
        self._joining = 0
        # a socket connected once: a child that never had one is not kept (see _drop_if_unused)
        self._ever_joined = False

    def __repr__(self) -> str:
        return f"<rtio.Namespace {self.name!r} sockets={len(self.sockets)}>"

    def targets(self) -> list[Namespace]:
        return [self]

    # -- room queries ---------------------------------------------------------------------

    def rooms(self) -> set[str]:
        """Every room that has a member (socket ids included: each is a room)."""
        return self.adapter.all_rooms()

    def room_members(self, room: str) -> set[str]:
        """The ids of the sockets in ``room`` (empty if nobody is)."""
        return set(self.adapter.members(room))

    def server_side_emit(self, event: str, *args: Any) -> Sent:
        """Send an event to the other servers of a cluster (Node's ``serverSideEmit``).
        The in-memory adapter has no other servers: nothing is sent, and this server's own
        handlers are not called, as in Node."""
        self.adapter.server_side_emit([event, *args])
        return SENT

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        """Send an event to the other servers of a cluster and gather their handlers'
        answers (Node's ``serverSideEmitWithAck``). A cluster adapter returns what arrived
        within ``timeout`` (its default) and says which servers did not answer (its
        result's ``coverage``) instead of failing; the in-memory adapter returns []."""
        return await self.adapter.server_side_emit_with_ack([event, *args], timeout)

    async def count_servers(self) -> int:
        """How many servers share this namespace, counted now (Node's ``serverCount``)."""
        return await self.adapter.count_servers()

    async def cluster_rooms(self) -> set[str]:
        """Every room with a member on any server of the cluster (:meth:`rooms`: this
        server's only)."""
        return await self.adapter.cluster_rooms()

    async def cluster_room_members(self, room: str) -> set[str]:
        """The ids of the sockets in ``room`` on every server (:meth:`room_members`: this
        server's only)."""
        return await self.adapter.cluster_sockets((room,))

    # -- sockets coming and going -----------------------------------------------------------

    async def add_client(self, client: Client, auth: dict[str, Any] | None) -> None:
        """The connect flow of one client: middlewares, then CONNECT, then ``connect``.
        ``auth`` None: the CONNECT had no payload (``{}`` is made when someone looks)."""
        self._joining += 1
        try:
            await self._join(client, auth)
        finally:
            self._joining -= 1
            if not self.sockets:
                self._drop_if_unused()

    async def _join(self, client: Client, auth: dict[str, Any] | None) -> None:
        recovery = self.server.connection_state_recovery
        if recovery is None or client.eio3:  # (a v4-protocol client has no pid to send)
            socket = Socket(self, client, auth, sid=client.socket_id(self.name))
        else:
            restored = await self._restore(auth) if auth else None
            socket = Socket(self, client, auth, restored, None if restored else new_id())
            if restored is not None and recovery.skip_middlewares:
                await self._connect_socket(client, socket)
                return
        if not self.middlewares:
            await self._connect_socket(client, socket)
            return
        auth = socket.connect_auth()
        try:
            await self._run_middlewares(client, socket, auth)
        finally:
            if not socket.connected:
                # refused, or the connection went: rooms a middleware joined go too
                socket.finish_close()
                self.adapter.delete_all(socket.id)

    async def _restore(self, auth: dict[str, Any]) -> RestoredSession | None:
        """Connection state recovery: the session of the CONNECT's ``{pid, offset}``, if
        both are strings and the adapter still has it (Node's ``_createSocket``)."""
        pid = auth.get("pid")
        offset = auth.get("offset")
        if not isinstance(pid, str) or not isinstance(offset, str):
            return None
        try:
            restored = await restore_for(self.adapter, self.sockets, pid, offset)
        except Exception:
            log.exception("restoring session %s of %s failed: not recovered", pid, self.name)
            return None
        if not isinstance(restored, RestoredSession) or restored.sid in self.sockets:
            return None
        log.info(
            "socket %s of %s recovered (%d missed)", restored.sid, self.name, len(restored.missed)
        )
        return restored

    async def _run_middlewares(self, client: Client, socket: Socket, auth: dict[str, Any]) -> None:
        for middleware in tuple(self.middlewares):
            try:
                result = await middleware.call(socket, auth)
            except Exception as exc:
                payload = refusal_payload(exc)
                if payload is None:
                    log.exception("connect middleware of %s failed", self.name)
                    payload = {"message": str(exc) or type(exc).__name__}
                client.connect_error(self.name, payload)
                return
            if result is False:
                client.connect_error(self.name, ConnectionRefused().payload())
                return
        await self._connect_socket(client, socket)

    async def _connect_socket(self, client: Client, socket: Socket) -> None:
        if not client.connected:  # the connection closed while the middlewares ran
            return
        if socket.recovered:  # rooms back, missed events out before the CONNECT reply
            socket.restore()
        self.sockets[socket.id] = socket
        added = self.adapter.add_all(socket.id, (socket.id,))
        if added is not None:
            await added
        if not client.connected or self.sockets.get(socket.id) is not socket:
            self.sockets.pop(socket.id, None)
            self.adapter.delete_all(socket.id)
            return
        socket.open()
        client.joined(socket)
        log.info(
            "socket %s connected to %s (transport %s, address %s)",
            socket.id,
            self.name,
            client.session.transport,
            client.session.request.remote,  # not socket.handshake: built only when asked for
        )
        if self.server.observer is not None:
            self.server.observer.socket_connected(socket)
        handler = self.handlers.get("connect")
        if handler is None:
            self._ever_joined = True
            # v5: "The server MUST respond with either: a `CONNECT` packet if the connection
            # is successful, with the session ID in the payload, or a `CONNECT_ERROR` packet"
            client.send_connect(self.name, socket.connect_reply())
        else:
            # the reply waits for the handler, which may refuse (finish_connect)
            socket.run_connect_handler(handler, socket.connect_auth())

    def finish_connect(self, socket: Socket, refusal: dict[str, Any] | None) -> None:
        """The ``connect`` handler of ``socket`` returned: the CONNECT reply goes out, then
        what the socket was sent meanwhile; or, when it refused (``refusal``: the
        CONNECT_ERROR payload) or disconnected the socket, CONNECT_ERROR and the socket is
        dropped without a trace (no ``disconnect`` handler: it never connected)."""
        client = socket.client
        if refusal is None and socket.connected:
            self._ever_joined = True
            client.send_connect(self.name, socket.connect_reply())
            socket.release_held()
            return
        if refusal is None:  # socket.disconnect() in the handler, or the connection went
            refusal = ConnectionRefused().payload()
        log.info(
            "the 'connect' handler of %s refused socket %s: %s",
            self.name,
            socket.id,
            refusal.get("message"),
        )
        socket.refuse()
        if client.connected:
            client.connect_error(self.name, refusal)

    def remove_socket(self, socket: Socket) -> None:
        """``socket`` disconnected."""
        if self.sockets.get(socket.id) is socket:
            del self.sockets[socket.id]
        if not self.sockets:
            self._drop_if_unused()

    def _drop_if_unused(self) -> None:
        """A child namespace without sockets goes, unless a CONNECT to it is in progress:
        with ``cleanup_empty_children`` always, and without it when no socket ever joined it
        (issue 12 defect 6: a CONNECT that a middleware refuses, or that the connection
        left, must not leave a namespace behind; a client could otherwise fill the server
        with them, ~500 bytes per name, and the ``max_child_namespaces`` bound too)."""
        parent = self.parent
        if (
            parent is not None
            and not self._joining
            and (parent.cleanup_empty_children or not self._ever_joined)
        ):
            parent.drop_child(self)


class ParentNamespace(BaseNamespace):
    """Namespaces created on demand (Node's parent namespaces): every name the matcher
    accepts becomes a child :class:`Namespace` sharing these handlers and middlewares.
    Emitting on the parent emits on every child."""

    def __init__(
        self,
        server: NamespaceHost,
        matcher: re.Pattern[str] | NamespaceMatcher,
        *,
        cleanup_empty_children: bool = False,
    ) -> None:
        name = matcher.pattern if isinstance(matcher, re.Pattern) else repr(matcher)
        super().__init__(server, name)
        self.matcher = matcher
        #: drop a child namespace when its last socket leaves (Node's
        #: cleanupEmptyChildNamespaces)
        self.cleanup_empty_children = cleanup_empty_children
        #: the children created so far, by name
        self.children: dict[str, Namespace] = {}

    def __repr__(self) -> str:
        return f"<rtio.ParentNamespace {self.name} children={len(self.children)}>"

    def targets(self) -> list[Namespace]:
        return list(self.children.values())

    async def matches(self, name: str, auth: dict[str, Any]) -> bool:
        """Whether the matcher accepts ``name`` (the CONNECT's ``auth`` given)."""
        matcher = self.matcher
        if isinstance(matcher, re.Pattern):
            return matcher.fullmatch(name) is not None
        result = matcher(name, auth)
        if inspect.isawaitable(result):
            result = await with_task(result)
        return bool(result)

    def create_child(self, name: str) -> Namespace:
        child = Namespace(self.server, name, parent=self)
        self.children[name] = child
        return child

    def drop_child(self, child: Namespace) -> None:
        if self.children.get(child.name) is child:
            del self.children[child.name]
            self.server.forget_namespace(child)
