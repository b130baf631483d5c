"""Socket: one client connected to one namespace.

Owns the per-socket state (id, data, handshake, acks, listeners, packet middlewares), the
handling of incoming EVENT/ACK/DISCONNECT packets in arrival order, and emitting to this
one client. Rooms live in the namespace's adapter; the connection (Engine.IO session,
decoder) lives in the :class:`~rtio.socketio.client.Client` shared by the namespaces a
client joined.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._serial import SerialRunner, run_inline
from .errors import AckTimeout, DisconnectReason, SocketDisconnected
from .handlers import PLAIN_RESULTS, SENT, Handler, Sent, ack_args, ack_value
from .packet import Packet, PacketType
from .parsers.json_parser import RESERVED_EVENTS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rtio.engine import HandshakeRequest

    from .broadcast import BroadcastOperator
    from .client import Client, Encoded
    from .namespace import Namespace
    from .server import Server

__all__ = ["Handshake", "Socket", "SocketEmitter"]

log = logging.getLogger("rtio.socketio")

F = TypeVar("F", bound=Callable[..., Any])
#: internal ack callback: the client's ack arguments, or None if the socket went away
AckCallback = Callable[[list[Any] | None], None]

_EVENT = PacketType.EVENT
_BINARY_EVENT = PacketType.BINARY_EVENT
_ACK = PacketType.ACK
_BINARY_ACK = PacketType.BINARY_ACK
_DISCONNECT = PacketType.DISCONNECT


_ID_BYTES = 15  # 20 base64 characters, no padding
_IDS_PER_DRAW = 64
_id_pool: list[str] = []
# a forked child must not hand out the ids its parent drew
os.register_at_fork(after_in_child=_id_pool.clear)


def new_socket_id() -> str:
    """20 url-safe characters, as Node's (the Redis adapter tells ids from rooms by it):
    ``secrets.token_urlsafe(15)``, drawn from the OS 64 at a time (one system call for 64
    connections, not one each)."""
    if not _id_pool:
        text = base64.urlsafe_b64encode(os.urandom(_ID_BYTES * _IDS_PER_DRAW)).decode()
        step = _ID_BYTES * 4 // 3
        _id_pool.extend(text[i : i + step] for i in range(0, len(text), step))
    return _id_pool.pop()


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


class Socket:
    """A client connected to a namespace. Handlers receive it as their first argument.

    ``socket.data`` is yours: a dict kept for the socket's lifetime (and returned by
    ``fetch_sockets``).

    One is held per connected client for as long as it stays, so everything a socket may
    never use (its data dict, acks, listeners, middlewares, serial runner, handshake
    snapshot) is created on first use: an idle socket is this object, its id and a float.
    """

    __slots__ = (
        "__weakref__",
        "_acks",
        "_any_in",
        "_any_out",
        "_auth",
        "_closed",
        "_data",
        "_handlers",
        "_handshake",
        "_issued",
        "_middlewares",
        "_runner",
        "client",
        "connected",
        "id",
        "nsp",
    )

    def __init__(self, nsp: Namespace, client: Client, auth: dict[str, Any] | None) -> None:
        #: 20 characters, unique, also the name of the socket's own room
        self.id = new_socket_id()
        #: the namespace this socket is connected to
        self.nsp = nsp
        self.client = client
        #: True from the CONNECT reply until the socket disconnects
        self.connected = False
        # disconnected (connected is False before the CONNECT reply too)
        self._closed = False
        # the handshake snapshot is built from these when first asked for (None: no auth)
        self._auth = auth
        self._issued = time.time()
        self._handshake: Handshake | None = None
        self._data: dict[str, Any] | None = None
        self._acks: dict[int, AckCallback] | None = None
        self._handlers: dict[str, Handler] | None = None
        self._any_in: list[Callable[..., Any]] | None = None
        self._any_out: list[Callable[..., Any]] | None = None
        self._middlewares: list[Callable[[list[Any]], Any]] | None = None
        self._runner: SerialRunner | None = None

    def __repr__(self) -> str:
        return f"<rtio.Socket {self.id} {self.nsp.name} connected={self.connected}>"

    # -- state ------------------------------------------------------------------------

    @property
    def server(self) -> Server:
        """The server of this socket's namespace."""
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
                self.client.session.request, self._auth_dict(), self._issued
            )
        return handshake

    def _auth_dict(self) -> dict[str, Any]:
        """The CONNECT payload, ``{}`` when there was none (made on first use, then the
        same dict for the middlewares, the ``connect`` handler and the handshake)."""
        auth = self._auth
        if auth is None:
            auth = self._auth = {}
        return auth

    @property
    def disconnected(self) -> bool:
        return not self.connected

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
        Nothing once the socket has disconnected: its rooms are gone and stay so (a handler
        still running then would otherwise leave its id in a room for ever)."""
        if self._closed:
            return SENT
        self.nsp.adapter.add_all(self.id, (rooms,) if isinstance(rooms, str) else rooms)
        return SENT

    def leave(self, room: str) -> Sent:
        """Leave a room. Returns at once (awaiting the result is allowed)."""
        self.nsp.adapter.delete(self.id, room)
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
            if self._handlers is None:
                self._handlers = {}
            self._handlers[event] = Handler(fn, 0)
            return fn

        return register if handler is None else register(handler)

    def off(self, event: str) -> None:
        """Remove this socket's listener for ``event``."""
        if self._handlers is not None:
            self._handlers.pop(event, None)

    def on_any(self, listener: F) -> F:
        """Call ``listener(event, *args)`` for every incoming event, before its handler."""
        if self._any_in is None:
            self._any_in = []
        self._any_in.append(listener)
        return listener

    def off_any(self, listener: Callable[..., Any] | None = None) -> None:
        """Remove one catch-all listener, or all of them."""
        self._any_in = _remove(self._any_in, listener)

    def on_any_outgoing(self, listener: F) -> F:
        """Call ``listener(event, *args)`` for every event sent to this socket (broadcasts
        included)."""
        if self._any_out is None:
            self._any_out = []
        self._any_out.append(listener)
        return listener

    def off_any_outgoing(self, listener: Callable[..., Any] | None = None) -> None:
        """Remove one outgoing catch-all listener, or all of them."""
        self._any_out = _remove(self._any_out, listener)

    def use(self, middleware: F) -> F:
        """Add a packet middleware (Node's ``socket.use``): ``middleware(packet)`` gets the
        incoming event as a list ``[event, *args]`` that it may modify, before the handler.
        Raising refuses the packet: the exception goes to the socket's ``"error"`` listener
        (or is logged). Sync or async."""
        if self._middlewares is None:
            self._middlewares = []
        self._middlewares.append(middleware)
        return middleware

    # -- emitting to this client ---------------------------------------------------------

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> Sent:
        """Send an event to this client. Returns at once.

        ``callback(*ack_args)`` is called when the client acknowledges; see also
        :meth:`emit_with_ack` and :meth:`timeout`. ``bytes`` anywhere in ``args`` are sent
        as binary.
        """
        self._emit(event, args, _user_callback(callback) if callback else None)
        return SENT

    def send(self, *args: Any, callback: Callable[..., Any] | None = None) -> Sent:
        """Emit a ``"message"`` event."""
        return self.emit("message", *args, callback=callback)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send an event and wait for the client's acknowledgement; return its value (one
        argument: it; none: None; several: a tuple). Raises :class:`AckTimeout` after
        ``timeout`` seconds, :class:`SocketDisconnected` if the socket goes away first."""
        return await self._emit_with_ack(event, args, timeout, True)

    async def _emit_with_ack(
        self, event: str, args: tuple[Any, ...], timeout: float | None, compress: bool
    ) -> Any:
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

        ack_id = self._emit(event, args, on_ack, compress=compress)
        handle = None
        if timeout is not None:
            handle = loop.call_later(timeout, self._expire, ack_id, fut, timeout)
        try:
            return await fut
        finally:
            if handle is not None:
                handle.cancel()
            self._forget_ack(ack_id)  # answered, timed out, or the caller was cancelled

    def _expire(self, ack_id: int, fut: asyncio.Future[Any], timeout: float) -> None:
        self._forget_ack(ack_id)
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

    def _emit(
        self,
        event: str,
        args: tuple[Any, ...] | list[Any],
        on_ack: AckCallback | None,
        volatile: bool = False,
        compress: bool = True,
    ) -> int:
        _check_event(event)
        if not self.connected:
            return -1
        packet = Packet(_EVENT, self.nsp.name, [event, *args])
        ack_id = -1
        if on_ack is not None:
            ack_id = packet.id = self.nsp._next_ack_id()
        # data the parser cannot carry raises here, to the caller, before any state changes
        try:
            messages = self.client.parser.encode(packet)
        except Exception:
            log.error(
                "event %r to socket %s (namespace %s) cannot be encoded by the %s parser: not sent",
                event,
                self.id,
                self.nsp.name,
                self.client.parser.name,
            )
            raise
        if on_ack is not None:
            self._expect_ack(ack_id, on_ack)
        if self._any_out:
            self._notify_outgoing(packet.data)
        self.client.write(messages, volatile, compress)
        return ack_id

    def _expect_ack(self, ack_id: int, on_ack: AckCallback) -> None:
        acks = self._acks
        if acks is None:
            acks = self._acks = {}
        acks[ack_id] = on_ack

    def _forget_ack(self, ack_id: int) -> AckCallback | None:
        """The callback waiting for ``ack_id``, which waits no longer (None if none)."""
        acks = self._acks
        return None if acks is None else acks.pop(ack_id, None)

    def _send_packet(self, packet: Packet) -> None:
        self.client.send_packet(packet)

    def _write_encoded(self, encoded: Encoded, volatile: bool, compress: bool) -> None:
        """Write a broadcast's packet, encoded once for every member."""
        if self._any_out:
            self._notify_outgoing(encoded.packet.data)
        self.client.write_encoded(encoded, volatile, compress)

    def _notify_outgoing(self, data: list[Any]) -> None:
        for listener in tuple(self._any_out or ()):
            _call_listener(listener, data)

    # -- broadcasting from this socket -----------------------------------------------------

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Broadcast to a room (or rooms), excluding this socket."""
        return self.broadcast.to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Broadcast to everyone but these rooms, excluding this socket."""
        return self.broadcast.except_(room)

    @property
    def broadcast(self) -> BroadcastOperator:
        """Every socket of the namespace but this one."""
        from .broadcast import BroadcastOperator

        return BroadcastOperator(self.nsp, except_rooms=frozenset((self.id,)))

    # -- disconnecting -----------------------------------------------------------------------

    def disconnect(self, close: bool = False) -> Socket:
        """Disconnect from the namespace (the client sees ``io server disconnect``); with
        ``close`` also close the connection, and with it the client's other namespaces."""
        if not self.connected:
            return self
        if close:
            self.client.disconnect_all()
        else:
            self._send_packet(Packet(_DISCONNECT, self.nsp.name))
            self._on_close(DisconnectReason.SERVER_NAMESPACE_DISCONNECT)
        return self

    def _on_close(self, reason: DisconnectReason) -> None:
        """The socket is gone: at once, fail its pending acks and run ``disconnecting``,
        leave every room, run ``disconnect``, even while one of its handlers is still
        running (issue 12 defect 11).

        The handler still running is left to finish, not cancelled, as in Node and
        python-socketio: a CancelledError thrown into application code at any await could
        leave its work half done (aiohttp made handler cancellation opt-in for this
        reason). It sees ``socket.connected`` False; its emits are dropped, its
        ``emit_with_ack`` raises SocketDisconnected, ``join`` does nothing; the
        ``slow_handler_warning`` log shows one that never ends. The events already queued
        behind it still run after it, in order (the client sent them before it left, as
        Node runs every event received before a disconnect), no more can queue."""
        if not self.connected:
            return
        self.connected = False
        self._closed = True
        log.info("socket %s disconnected from %s: %s", self.id, self.nsp.name, reason.value)
        self.client.remove(self)
        self.nsp._remove(self)
        acks = self._acks
        self._acks = None
        for on_ack in acks.values() if acks else ():
            try:
                on_ack(None)
            except Exception:
                log.exception("error in an ack callback")
        # not behind the runner: a stuck handler would hold the disconnect (and the rooms)
        # for ever (before issue 12 defect 11 it did)
        run_inline(self._run_close(reason))

    async def _run_close(self, reason: DisconnectReason) -> None:
        await self._call_special("disconnecting", reason)
        self.nsp.adapter.delete_all(self.id)
        await self._call_special("disconnect", reason)

    async def _call_special(self, event: str, *args: Any) -> None:
        try:
            own = self._handlers.get(event) if self._handlers else None
            if own is not None:
                await own.call(*own.fit(list(args)))
            handler = self.nsp._handlers.get(event)
            if handler is not None:
                await handler.call(self, *handler.fit(list(args)))
        except Exception:
            log.exception("error in the %r handler of socket %s", event, self.id)

    # -- incoming packets ------------------------------------------------------------------------

    def _serial(self) -> SerialRunner:
        """The runner of this socket's handlers (created on first use)."""
        runner = self._runner
        if runner is None:
            runner = self._runner = SerialRunner()
        return runner

    def _on_packet(self, packet: Packet) -> None:
        ptype = packet.type
        if ptype is _EVENT or ptype is _BINARY_EVENT:
            self._on_event(packet.data, packet.id)
        elif ptype is _ACK or ptype is _BINARY_ACK:
            if packet.id is not None:
                on_ack = self._forget_ack(packet.id)
                if on_ack is not None:
                    try:
                        on_ack(packet.data)
                    except Exception:
                        log.exception("error in an ack callback of socket %s", self.id)
        elif ptype is _DISCONNECT:
            self._on_close(DisconnectReason.CLIENT_NAMESPACE_DISCONNECT)
        # CONNECT is the client's business; CONNECT_ERROR from a client means nothing

    def _on_event(self, data: list[Any], ack_id: int | None) -> None:
        """An EVENT from the client: its handler runs after those of the events before it.

        The common case takes a straight line: no packet middleware, nothing running or
        queued, a plain function: it is called here and its return value answers the ack,
        with no coroutine or task. Anything else goes through the serial runner."""
        runner = self._runner
        if self._any_in or self._middlewares or (runner is not None and runner.busy):
            self._queue_event(data, ack_id)
            return
        event = data[0]
        own = self._handlers.get(event) if self._handlers else None
        handler = own if own is not None else self.nsp._handlers.get(event)
        if handler is None:
            return
        if handler.is_async:
            self._start(self._run_handler(handler, own is not None, data, ack_id))
            return
        if runner is None:
            runner = self._runner = SerialRunner()
        runner.claim()  # idle (checked above); events that arrive meanwhile queue behind
        try:
            result = self._invoke(handler, own is not None, data, ack_id)
            if type(result) not in PLAIN_RESULTS and inspect.isawaitable(result):
                # a plain function that returned an awaitable (a partial of a coroutine
                # function...): awaited in its turn, as a coroutine handler is
                runner.submit(self._finish_handler(result, handler, event, ack_id))
            elif ack_id is not None and not handler.takes_ack:
                self._send_ack(ack_id, result, event)
        except Exception:
            # the handler raised, or its return value cannot be encoded as the ack
            log.exception("error in the %r handler of socket %s", event, self.id)
        finally:
            runner.release()
            if runner.timer is None and runner.running_async:
                self._watch(runner)

    def _queue_event(self, data: list[Any], ack_id: int | None) -> None:
        """The general path of an event: catch-all listeners at once, then the packet
        middlewares and the handler in the event's turn (run at once if it is now)."""
        runner = self._serial()
        if runner.backlog >= self.server.max_queued_events:
            # bound the inbound queue: a client that sends events faster than its
            # handlers finish is cut off rather than let grow memory without limit
            log.warning(
                "socket %s: over %d events wait for its handlers: disconnecting the client",
                self.id,
                self.server.max_queued_events,
            )
            self.client.close(DisconnectReason.FORCED_SERVER_CLOSE)
            return
        if self._any_in:
            for listener in tuple(self._any_in):
                _call_listener(listener, data)
        # the handler is looked up when the event's turn comes: a handler queued before
        # it may register it
        self._start(self._run_event(data, ack_id))

    async def _run_event(self, data: list[Any], ack_id: int | None) -> None:
        """An event's turn in the serial runner: packet middlewares, then its handler."""
        self._runner.label = data[0]  # type: ignore[union-attr]  # jobs run on it
        if self._middlewares:
            try:
                for middleware in tuple(self._middlewares):
                    result = middleware(data)
                    if result is not None and asyncio.iscoroutine(result):
                        await result
            except Exception as exc:
                await self._on_middleware_error(exc)
                return
        event = data[0]
        own = self._handlers.get(event) if self._handlers else None
        handler = own if own is not None else self.nsp._handlers.get(event)
        if handler is not None:
            await self._run_handler(handler, own is not None, data, ack_id)

    async def _run_handler(
        self, handler: Handler, own: bool, data: list[Any], ack_id: int | None
    ) -> None:
        self._runner.label = data[0]  # type: ignore[union-attr]  # jobs run on it
        try:
            result = self._invoke(handler, own, data, ack_id)
        except Exception:
            log.exception("error in the %r handler of socket %s", data[0], self.id)
            return
        if handler.is_async or (type(result) not in PLAIN_RESULTS and inspect.isawaitable(result)):
            await self._finish_handler(result, handler, data[0], ack_id)
        elif ack_id is not None and not handler.takes_ack:
            self._send_ack(ack_id, result, data[0])

    async def _finish_handler(
        self, awaitable: Any, handler: Handler, event: Any, ack_id: int | None
    ) -> None:
        self._runner.label = event  # type: ignore[union-attr]  # jobs run on it
        try:
            result = await awaitable
        except Exception:
            log.exception("error in the %r handler of socket %s", event, self.id)
            return
        if ack_id is not None and not handler.takes_ack:
            self._send_ack(ack_id, result, event)

    def _invoke(self, handler: Handler, own: bool, data: list[Any], ack_id: int | None) -> Any:
        """Call an event's handler with the client's arguments (fitted): a namespace
        handler gets the socket first, a socket's own listener does not. Returns what the
        handler returned (maybe an awaitable)."""
        args = handler.fit(data[1:])
        fn = handler.fn
        if handler.takes_ack:
            ack = None if ack_id is None else self._make_ack(ack_id, data[0])
            return fn(*args, ack=ack) if own else fn(self, *args, ack=ack)
        return fn(*args) if own else fn(self, *args)

    def _send_ack(self, ack_id: int, result: Any, event: Any) -> None:
        """Answer the client's ack with a handler's return value (unless gone meanwhile)."""
        if self.connected:
            self._answer(ack_id, ack_args(result), event)

    def _answer(self, ack_id: int, args: list[Any], event: Any) -> None:
        """Send the ACK of ``event``. Data the parser cannot carry still answers: the client
        would otherwise wait for ever (issue 12 defect 10; the protocol has no error ack),
        so it gets an ack without arguments, and the error is logged, naming the event."""
        client = self.client
        try:
            client.send_ack(self.nsp.name, ack_id, args)
        except Exception:
            log.error(
                "the ack of event %r of socket %s (namespace %s) cannot be encoded by the "
                "%s parser: the client gets an ack without arguments",
                event,
                self.id,
                self.nsp.name,
                client.parser.name,
                exc_info=True,
            )
            client.send_ack(self.nsp.name, ack_id, [])

    async def _on_middleware_error(self, exc: Exception) -> None:
        listener = self._handlers.get("error") if self._handlers else None
        if listener is None:
            log.warning("packet refused by a middleware of socket %s: %r", self.id, exc)
            return
        try:
            await listener.call(*listener.fit([exc]))
        except Exception:
            log.exception("error in the 'error' listener of socket %s", self.id)

    def _make_ack(self, ack_id: int, event: Any) -> Callable[..., None]:
        # v5 "Acknowledgement": "The receiver MUST respond with an `ACK` packet with the
        # same event ID." (once: later calls are ignored, as in Node)
        sent = False

        def ack(*args: Any) -> None:
            nonlocal sent
            if sent or not self.connected:
                return
            sent = True
            self._answer(ack_id, list(args), event)

        return ack

    def _start(self, job: Any) -> None:
        runner = self._serial()
        runner.submit(job)
        if runner.timer is None and runner.running_async:
            self._watch(runner)

    # -- the watch on slow handlers (issue 12 defect 11) ----------------------------------
    #
    # One timer per socket whose runner has a task (a handler suspended), armed when the
    # task starts and re-armed by itself while the runner is busy; a handler that never
    # suspends costs nothing (and cannot be watched: it holds the whole loop, which
    # asyncio's debug mode reports). Each job notes when it began (runner.since); the timer
    # warns once per job that runs past slow_handler_warning, while it still runs.

    def _watch(self, runner: SerialRunner) -> None:
        threshold = self.server.slow_handler_warning
        if threshold is not None:
            loop = asyncio.get_running_loop()
            delay = max(runner.since + threshold - loop.time(), 0.0)
            runner.timer = loop.call_later(delay, self._check_slow)

    def _check_slow(self) -> None:
        runner = self._runner
        if runner is None:
            return
        runner.timer = None
        threshold = self.server.slow_handler_warning
        if not runner.running_async or threshold is None:
            return  # idle: armed again when a handler suspends
        loop = asyncio.get_running_loop()
        elapsed = loop.time() - runner.since
        if elapsed >= threshold and runner.warned != runner.since:
            runner.warned = runner.since
            log.warning(
                "the %r handler of socket %s (namespace %s) is still running after %.1f s "
                "(slow_handler_warning): the socket's later events wait for it (%d "
                "waiting; over max_queued_events=%d the client is disconnected)",
                runner.label,
                self.id,
                self.nsp.name,
                elapsed,
                runner.backlog,
                self.server.max_queued_events,
            )
        if runner.warned == runner.since:  # watch for the job after it
            runner.timer = loop.call_later(threshold, self._check_slow)
        else:
            self._watch(runner)


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
        ack_id = socket._emit(event, args, on_ack, self._volatile, self._compress)
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
                _call_listener(callback, [SocketDisconnected("socket disconnected")])
            elif args and isinstance(args[0], AckTimeout):
                _call_listener(callback, args)
            else:
                _call_listener(callback, [None, *args])

        return on_ack

    def _on_timeout(self, ack_id: int, on_ack: AckCallback) -> None:
        if self._socket._forget_ack(ack_id) is not None:
            on_ack([AckTimeout(f"no ack from socket {self._socket.id} within {self._timeout} s")])

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """As :meth:`Socket.emit_with_ack`, with this emitter's timeout by default."""
        return await self._socket._emit_with_ack(
            event, args, self._timeout if timeout is None else timeout, self._compress
        )


def _user_callback(callback: Callable[..., Any]) -> AckCallback:
    def on_ack(args: list[Any] | None) -> None:
        if args is not None:
            _call_listener(callback, args)

    return on_ack


def _call_listener(listener: Callable[..., Any], args: list[Any]) -> None:
    """Call a listener; a coroutine it returns runs inline until it suspends."""
    try:
        result = listener(*args)
    except Exception:
        log.exception("error in listener %r", listener)
        return
    if asyncio.iscoroutine(result):
        run_inline(result)


def _remove(
    listeners: list[Callable[..., Any]] | None, listener: Callable[..., Any] | None
) -> list[Callable[..., Any]] | None:
    """``listeners`` without ``listener`` (all of them if None); None when none is left."""
    if listeners is None or listener is None:
        return None
    if listener in listeners:
        listeners.remove(listener)
    return listeners or None
