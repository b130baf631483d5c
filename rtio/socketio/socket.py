"""Socket: one client connected to one namespace.

Owns the per-socket state (id, data, handshake, acks, listeners, packet middlewares), the
handling of incoming EVENT/ACK/DISCONNECT packets in arrival order, and emitting to this
one client. Rooms live in the namespace's adapter; the connection (Engine.IO session,
decoder) lives in the :class:`~rtio.socketio.client.Client` shared by the namespaces a
client joined.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from rtio.ids import new_id

from .adapter import BroadcastOptions
from .broadcast import BroadcastOperator, Rooms
from .core import AckCallback, SocketCore, SocketState
from .dispatch import Connection, ServerOptions, SocketDispatch, SocketHost, call_listener
from .encoded import Encoded
from .errors import AckTimeout, SocketDisconnected
from .handlers import SENT, Sent, ack_value
from .packet import Packet, PacketType
from .parsers.json_parser import RESERVED_EVENTS
from .recovery import RECOVERABLE_REASONS, RestoredSession, Session

if TYPE_CHECKING:
    from rtio.engine import EngineSession, HandshakeRequest

__all__ = ["Handshake", "Socket", "SocketEmitter", "SocketState"]

log = logging.getLogger("rtio.socketio")

F = TypeVar("F", bound=Callable[..., Any])

_EVENT = PacketType.EVENT


class ClientConnection(Connection, Protocol):
    """What a socket's public API needs of its client, beyond the dispatch path's."""

    @property
    def session(self) -> EngineSession: ...
    def write(self, messages: list[str | bytes], volatile: bool, compress: bool) -> None: ...
    def write_encoded(self, encoded: Encoded, volatile: bool, compress: bool) -> None: ...
    def disconnect_all(self) -> None: ...
    @property
    def connected(self) -> bool: ...
    def connect_error(self, nsp: str, payload: dict[str, Any]) -> None: ...
    def send_connect(self, nsp: str, payload: dict[str, Any]) -> None: ...


@dataclass(slots=True)
class Handshake:
    """What the client sent when it connected to the namespace."""

    #: HTTP headers of the request that opened the connection (case-insensitive)
    headers: Mapping[str, str]
    #: query string parameters of that request
    query: Mapping[str, str]
    #: the client's IP address (None if unknown)
    address: str | None
    #: the CONNECT packet's payload (``auth`` in socket.io-client), ``{}`` when none
    auth: dict[str, Any]
    #: the URL of that request
    url: str
    #: when the socket connected, ISO 8601 (Node: a date string)
    time: str = ""
    #: when the socket connected, seconds since the epoch
    issued: float = 0.0
    #: whether the request came over TLS
    secure: bool = False
    #: whether the request had an Origin header (a cross-site request)
    xdomain: bool = False
    cookies: Mapping[str, str] = field(default_factory=dict)


def _make_handshake(request: HandshakeRequest, auth: dict[str, Any], issued: float) -> Handshake:
    when = datetime.fromtimestamp(issued, timezone.utc)
    headers = request.headers
    return Handshake(
        headers=headers,
        query=request.query,
        address=request.remote,
        auth=auth,
        url=request.url,
        time=when.isoformat(),
        issued=issued,
        secure=request.url.startswith(("https:", "wss:")),
        xdomain="Origin" in headers,
        cookies=request.cookies,
    )


def _check_event(event: str) -> None:
    if event in RESERVED_EVENTS:
        raise ValueError(f'"{event}" is a reserved event name')


class Socket(SocketDispatch):
    """A client connected to a namespace. Handlers receive it as their first argument.

    ``socket.data`` is yours: a dict kept for the socket's lifetime (and returned by
    ``fetch_sockets``).

    One is held per connected client for as long as it stays, so everything a socket may
    never use (its data dict, acks, listeners, middlewares, serial runner, handshake
    snapshot) is created on first use: an idle socket is this object, its id and a float.
    The state and its rules are :class:`~.core.SocketCore`'s, the incoming path
    :class:`~.dispatch.SocketDispatch`'s; this class is the public API.
    """

    __slots__ = ("__weakref__", "_auth", "_data", "_handshake", "_restored", "pid")

    client: ClientConnection

    def __init__(
        self,
        nsp: SocketHost,
        client: ClientConnection,
        auth: dict[str, Any] | None,
        restored: RestoredSession | None = None,
        pid: str | None = None,
        sid: str | None = None,
    ) -> None:
        if restored is not None:
            sid = restored.sid
        SocketCore.__init__(self, new_id() if sid is None else sid, time.time())
        #: the namespace this socket is connected to
        self.nsp = nsp
        self.client = client
        self._runner = None
        self._held = None
        # the handshake snapshot is built from these when first asked for (None: no auth)
        self._auth = auth
        self._handshake: Handshake | None = None
        self._data: dict[str, Any] | None = None
        #: the private session id of connection state recovery (None: recovery is off)
        self.pid = pid
        # the session this socket recovered (None: a new one)
        self._restored = restored
        if restored is not None:
            self.pid = restored.pid
            if isinstance(restored.data, dict):
                self._data = restored.data

    def __repr__(self) -> str:
        return f"<rtio.Socket {self.id} {self.nsp.name} {self.state.value}>"

    # -- state ------------------------------------------------------------------------

    @property
    def server(self) -> ServerOptions:
        """The server of this socket's namespace (an ``rtio.Server``)."""
        return self.nsp.server

    @property
    def data(self) -> dict[str, Any]:
        """Application data, yours to fill (or to replace)."""
        data = self._data
        if data is None:
            data = self._data = {}
        return data

    @data.setter
    def data(self, value: dict[str, Any]) -> None:
        self._data = value

    @property
    def handshake(self) -> Handshake:
        """What the client sent when it connected to the namespace."""
        handshake = self._handshake
        if handshake is None:
            handshake = self._handshake = _make_handshake(
                self.client.session.request, self.connect_auth(), self.issued
            )
        return handshake

    def connect_auth(self) -> dict[str, Any]:
        """The CONNECT payload, ``{}`` when there was none (made on first use, then the
        same dict for the middlewares, the ``connect`` handler and the handshake)."""
        auth = self._auth
        if auth is None:
            auth = self._auth = {}
        return auth

    @property
    def recovered(self) -> bool:
        """Whether this socket took over the session of one that went (connection state
        recovery): same id, rooms and ``data``, the missed events already sent. A
        ``connect`` handler should then not redo what the first connection did (join rooms,
        send the initial state): docs/RECOVERY.md."""
        return self._restored is not None

    def connect_reply(self) -> dict[str, Any]:
        """The CONNECT reply's payload: ``{sid}``, and ``pid`` with recovery on."""
        if self.pid is None:
            return {"sid": self.id}
        return {"sid": self.id, "pid": self.pid}

    def restore(self) -> None:
        """A recovered socket connects: it rejoins its rooms and the events it missed are
        written, before the CONNECT reply (the client delivers them before ``connect``)."""
        restored = self._restored
        if restored is None:
            return
        self.nsp.adapter.add_all(self.id, restored.rooms or (self.id,))
        missed, restored.missed = restored.missed, []
        if restored.more is not None:  # sent while its middlewares ran (none without)
            missed += restored.more() or ()
            restored.more = None
        client = self.client
        encode = client.parser.encode
        name = self.nsp.name
        for data in missed:
            try:
                messages = encode(Packet(_EVENT, name, data))
            except Exception:
                log.exception("a missed event of socket %s cannot be encoded: skipped", self.id)
                continue
            client.write(messages, False, True)

    def keep_session(self, reason: Any) -> Awaitable[None] | None:
        """The socket goes: with recovery on and a recoverable reason, its session is left
        with the adapter (before its rooms are left)."""
        if self.pid is None or reason not in RECOVERABLE_REASONS:
            return None
        rooms = sorted(self.nsp.adapter.socket_rooms(self.id) or (self.id,))
        try:
            return self.nsp.adapter.persist_session(
                Session(self.id, self.pid, rooms, self._data if self._data is not None else {})
            )
        except Exception:
            log.exception("the session of socket %s could not be kept", self.id)
            return None

    @property
    def rooms(self) -> set[str]:
        """The rooms this socket is in (a copy); its own id is one of them."""
        return set(self.nsp.adapter.socket_rooms(self.id) or ())

    @property
    def transport(self) -> str:
        """The current Engine.IO transport: "polling" or "websocket"."""
        return self.client.session.transport

    def join(self, rooms: str | Iterable[str]) -> Sent:
        """Join a room or several. Returns at once (awaiting the result is allowed).
        Nothing once the socket is disconnecting: its rooms are gone and stay so (a handler
        still running then would otherwise leave its id in a room for ever)."""
        if self.gone:
            return SENT
        joined = (rooms,) if isinstance(rooms, str) else tuple(rooms)
        self.nsp.adapter.add_all(self.id, joined)
        if self.nsp.server.observer is not None:
            self.nsp.server.observer.rooms_joined(self, joined)
        return SENT

    def leave(self, room: str) -> Sent:
        """Leave a room. Returns at once (awaiting the result is allowed)."""
        self.nsp.adapter.delete(self.id, room)
        if self.nsp.server.observer is not None:
            self.nsp.server.observer.room_left(self, room)
        return SENT

    # -- listeners --------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[F], F]: ...
    @overload
    def on(self, event: str, handler: F) -> F: ...

    def on(self, event: str, handler: F | None = None) -> F | Callable[[F], F]:
        """Register a listener for one event on this socket only (as Node's ``socket.on``).

        The listener receives the client's arguments (not the socket: it is a closure).
        It takes precedence over the namespace's handler for that event. Special events:
        ``"disconnecting"`` and ``"disconnect"`` (with the reason), ``"error"`` (with the
        exception a packet middleware raised).
        """

        def register(fn: F) -> F:
            self.set_listener(event, fn)
            return fn

        return register if handler is None else register(handler)

    def off(self, event: str) -> None:
        """Remove this socket's listener for ``event``."""
        self.remove_listener(event)

    def on_any(self, listener: F) -> F:
        """Call ``listener(event, *args)`` for every incoming event, before its handler."""
        self.add_any(listener)
        return listener

    def off_any(self, listener: Callable[..., Any] | None = None) -> None:
        """Remove one catch-all listener, or all of them."""
        self.remove_any(listener)

    def on_any_outgoing(self, listener: F) -> F:
        """Call ``listener(event, *args)`` for every event sent to this socket (broadcasts
        included)."""
        self.add_any(listener, outgoing=True)
        return listener

    def off_any_outgoing(self, listener: Callable[..., Any] | None = None) -> None:
        """Remove one outgoing catch-all listener, or all of them."""
        self.remove_any(listener, outgoing=True)

    def use(self, middleware: F) -> F:
        """Add a packet middleware (Node's ``socket.use``): ``middleware(packet)`` gets the
        incoming event as a list ``[event, *args]`` that it may modify, before the handler.
        Raising refuses the packet: the exception goes to the socket's ``"error"`` listener
        (or is logged). Sync or async."""
        self.add_middleware(middleware)
        return middleware

    # -- emitting to this client ---------------------------------------------------------

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> Sent:
        """Send an event to this client. Returns at once.

        ``callback(*ack_args)`` is called when the client acknowledges; see also
        :meth:`emit_with_ack` and :meth:`timeout`. ``bytes`` anywhere in ``args`` are sent
        as binary.
        """
        self.send_event(event, args, _user_callback(callback) if callback else None)
        return SENT

    def send(self, *args: Any, callback: Callable[..., Any] | None = None) -> Sent:
        """Emit a ``"message"`` event."""
        return self.emit("message", *args, callback=callback)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send an event and wait for the client's acknowledgement; return its value (one
        argument: it; none: None; several: a tuple). Raises :class:`AckTimeout` after
        ``timeout`` seconds, :class:`SocketDisconnected` if the socket goes away first."""
        return await self.wait_for_ack(event, args, timeout, True)

    async def wait_for_ack(
        self, event: str, args: tuple[Any, ...], timeout: float | None, compress: bool
    ) -> Any:
        """:meth:`emit_with_ack` with every option (what :class:`SocketEmitter` calls)."""
        if not self.connected:
            raise SocketDisconnected(f"socket {self.id} is disconnected")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()

        def on_ack(ack: list[Any] | None) -> None:
            if fut.done():
                return
            if ack is None:
                fut.set_exception(SocketDisconnected(f"socket {self.id} disconnected"))
            else:
                fut.set_result(ack_value(ack))

        ack_id = self.send_event(event, args, on_ack, compress=compress)
        handle = None
        if timeout is not None:
            handle = loop.call_later(timeout, self._expire, ack_id, fut, timeout)
        try:
            return await fut
        finally:
            if handle is not None:
                handle.cancel()
            self.forget_ack(ack_id)  # answered, timed out, or the caller was cancelled

    def _expire(self, ack_id: int, fut: asyncio.Future[Any], timeout: float) -> None:
        self.forget_ack(ack_id)
        if not fut.done():
            fut.set_exception(AckTimeout(f"no ack from socket {self.id} within {timeout} s"))

    async def drain(self) -> None:
        """Wait until the connection's outbound queue is short: for code that emits a lot
        to one client, to go at the pace the client reads."""
        await self.client.session.drain()

    def timeout(self, seconds: float) -> SocketEmitter:
        """Emit with an ack timeout: ``socket.timeout(5).emit("ev", callback=cb)`` calls
        ``cb(err, *args)``, err None or :class:`AckTimeout` (Node's style)."""
        return SocketEmitter(self, timeout=seconds)

    @property
    def volatile(self) -> SocketEmitter:
        """Emit that may be dropped if the client is not ready to receive it."""
        return SocketEmitter(self, volatile=True)

    def compress(self, compress: bool) -> SocketEmitter:
        """Emit with per-message compression on or off."""
        return SocketEmitter(self, compress=compress)

    def send_event(
        self,
        event: str,
        args: tuple[Any, ...] | list[Any],
        on_ack: AckCallback | None,
        volatile: bool = False,
        compress: bool = True,
    ) -> int:
        """Send one event to this client, with every option; returns its ack id (-1: none,
        or not sent). What :meth:`emit` and :class:`SocketEmitter` call."""
        _check_event(event)
        if self.state is not _CONNECTED:
            return -1
        packet = Packet(_EVENT, self.nsp.name, [event, *args])
        ack_id = -1
        adapter = self.nsp.adapter
        if on_ack is None and not volatile and adapter.stores_packets:
            # connection state recovery: stored and given its offset, as Node does
            recorded = adapter.record_packet(packet, self.id)
            if recorded is None:  # the offset comes from the adapter's broadcast (a stream)
                opts = BroadcastOptions(frozenset((self.id,)), compress=compress)
                adapter.broadcast(packet, opts)
                return ack_id
            packet = recorded
        if on_ack is not None:
            ack_id = packet.id = self.nsp.next_ack_id()
        client = self.client
        # data the parser cannot carry raises here, to the caller, before any state changes
        try:
            messages = client.parser.encode(packet)
        except Exception:
            log.error(
                "event %r to socket %s (namespace %s) cannot be encoded by the %s parser: not sent",
                event,
                self.id,
                self.nsp.name,
                client.parser.name,
            )
            raise
        if on_ack is not None:
            observer = self.nsp.server.observer
            self.expect_ack(ack_id, on_ack if observer is None else observer.time_ack(on_ack))
        if self._any_out:
            self._notify_outgoing(packet.data)
        if self._held is not None:  # the connect handler runs: after the CONNECT reply
            self._held.append(lambda: client.write(messages, volatile, compress))
            return ack_id
        client.write(messages, volatile, compress)
        return ack_id

    def write_encoded(self, encoded: Encoded, volatile: bool, compress: bool) -> None:
        """Write a broadcast's packet, encoded once for every member (the adapter's)."""
        if self._any_out:
            self._notify_outgoing(encoded.packet.data)
        if self._held is not None:  # the connect handler runs: after the CONNECT reply
            client = self.client
            self._held.append(lambda: client.write_encoded(encoded, volatile, compress))
            return
        self.client.write_encoded(encoded, volatile, compress)

    # the names the adapter used before issue 13 (an adapter written against them works)
    _write_encoded = write_encoded
    _expect_ack = SocketDispatch.expect_ack

    def _notify_outgoing(self, data: list[Any]) -> None:
        for listener in self.outgoing_listeners():
            call_listener(listener, data)

    # -- broadcasting from this socket -----------------------------------------------------

    def to(self, room: Rooms) -> BroadcastOperator:
        """Broadcast to a room (or rooms), excluding this socket."""
        return self.broadcast.to(room)

    in_ = to

    def except_(self, room: Rooms) -> BroadcastOperator:
        """Broadcast to everyone but these rooms, excluding this socket."""
        return self.broadcast.except_(room)

    @property
    def broadcast(self) -> BroadcastOperator:
        """Every socket of the namespace but this one."""
        return BroadcastOperator(self.nsp, except_rooms=frozenset((self.id,)))  # type: ignore[arg-type]

    # -- disconnecting -----------------------------------------------------------------------

    def disconnect(self, close: bool = False) -> Socket:
        """Disconnect from the namespace (the client sees ``io server disconnect``); with
        ``close`` also close the connection, and with it the client's other namespaces."""
        if not self.connected:
            return self
        if close:
            self.client.disconnect_all()
        else:
            self.leave_namespace()
        return self


_CONNECTED = SocketState.CONNECTED  # module globals: 18 ns a read, not 82 (see core.py)


class SocketEmitter:
    """``socket.timeout(s)``, ``socket.volatile``, ``socket.compress(b)``: emit with flags."""

    __slots__ = ("_compress", "_socket", "_timeout", "_volatile")

    def __init__(
        self,
        socket: Socket,
        *,
        timeout: float | None = None,
        volatile: bool = False,
        compress: bool = True,
    ) -> None:
        self._socket = socket
        self._timeout = timeout
        self._volatile = volatile
        self._compress = compress

    def timeout(self, seconds: float) -> SocketEmitter:
        """The ack timeout of the next emit."""
        return SocketEmitter(
            self._socket, timeout=seconds, volatile=self._volatile, compress=self._compress
        )

    @property
    def volatile(self) -> SocketEmitter:
        """The next emit may be dropped if the client is not ready to receive it."""
        return SocketEmitter(
            self._socket, timeout=self._timeout, volatile=True, compress=self._compress
        )

    def compress(self, compress: bool) -> SocketEmitter:
        """Per-message compression on or off for the next emit."""
        return SocketEmitter(
            self._socket, timeout=self._timeout, volatile=self._volatile, compress=compress
        )

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> Sent:
        """As :meth:`Socket.emit`; with a timeout the callback is ``cb(err, *args)``."""
        socket = self._socket
        on_ack: AckCallback | None = None
        if callback is not None:
            if self._timeout is None:
                on_ack = _user_callback(callback)
            else:
                on_ack = self._timed_callback(callback)
        ack_id = socket.send_event(event, args, on_ack, self._volatile, self._compress)
        if callback is not None and self._timeout is not None:
            assert on_ack is not None
            loop = asyncio.get_running_loop()
            loop.call_later(self._timeout, self._on_timeout, ack_id, on_ack)
        return SENT

    def _timed_callback(self, callback: Callable[..., Any]) -> AckCallback:
        done = False

        def on_ack(args: list[Any] | None) -> None:
            nonlocal done
            if done:
                return
            done = True
            if args is None:
                call_listener(callback, [SocketDisconnected("socket disconnected")])
            elif args and isinstance(args[0], AckTimeout):
                call_listener(callback, args)
            else:
                call_listener(callback, [None, *args])

        return on_ack

    def _on_timeout(self, ack_id: int, on_ack: AckCallback) -> None:
        if self._socket.forget_ack(ack_id) is not None:
            on_ack([AckTimeout(f"no ack from socket {self._socket.id} within {self._timeout} s")])

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """As :meth:`Socket.emit_with_ack`, with this emitter's timeout by default."""
        return await self._socket.wait_for_ack(
            event, args, self._timeout if timeout is None else timeout, self._compress
        )


def _user_callback(callback: Callable[..., Any]) -> AckCallback:
    def on_ack(args: list[Any] | None) -> None:
        if args is not None:
            call_listener(callback, args)

    return on_ack
