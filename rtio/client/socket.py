"""One namespace of a client connection: the npm socket.io-client ``Socket``.

Owns the namespace's lifecycle (CONNECT, the server's answer, DISCONNECT), its event
handlers (run one at a time, in arrival order), its acks both ways and the packets
emitted while disconnected (a bounded buffer, sent once connected, as the JS client
does). Knows the connection only through :class:`Connection`, the few things it asks of
the :class:`~rtio.client.manager.Manager` (which imports this module, not the other way
round), and Socket.IO packets only as :class:`rtio.socketio.Packet` values (the manager's
parser encodes them). The manager drives it through the methods under "called by the
manager": ``send_connect``, ``receive_packet``, ``connection_failed``,
``connection_closed``, ``reconnection_failed``, ``deactivate``.

States (:class:`SocketState`): IDLE -> CONNECTING (``open``/``connect``) -> CONNECTED
(the server's CONNECT answer); CONNECTED -> CONNECTING when the connection ends (it
reconnects with the manager); any -> IDLE on ``disconnect()``, a refusal or a server
DISCONNECT. Errors: ConnectError, AckTimeout, SocketDisconnected, SendBufferFull
(rtio.client.errors, all under ClientError).

Events given to handlers, as in the JS client:

    "connect"            ()                 the server accepted the namespace
    "connect_error"      (ConnectError)     it refused (message, data), or the
                                            connection could not be made
    "disconnect"         (reason: str)      "io server disconnect", "io client
                                            disconnect", "transport close", "transport
                                            error", "ping timeout", "parse error"
    anything else        (*args)            an event from the server; a handler's return
                                            value answers its ack (None: no arguments, a
                                            tuple: several)
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar, overload

from rtio.socketio import SENT, Packet, PacketType, Sent

from .acks import AckTable
from .errors import AckTimeout, ConnectError, SendBufferFull, SocketDisconnected

__all__ = ["AuthProvider", "ClientSocket", "Connection", "SocketState"]

logger = logging.getLogger("rtio.client")

F = TypeVar("F", bound=Callable[..., Any])

#: ``auth=``: a dict, or a function (sync or async) returning one, called for every
#: CONNECT (a token refreshed on each reconnection)
AuthProvider = dict[str, Any] | Callable[[], dict[str, Any] | Awaitable[dict[str, Any]]] | None

RESERVED = frozenset({"connect", "connect_error", "disconnect"})


class Connection(Protocol):
    """What a socket asks of the connection under it (:class:`~rtio.client.manager.Manager`
    is the one implementation)."""

    #: seconds ``connect()`` waits by default
    timeout: float
    #: seconds ``emit_with_ack``/``call`` wait by default
    ack_timeout: float

    @property
    def is_open(self) -> bool: ...

    def open_soon(self) -> None:
        """Open the connection in the background (a no-op while open or opening)."""

    def send_packet(self, packet: Packet) -> None:
        """Encode and send a packet (only while open)."""

    def attach(self, sock: ClientSocket) -> None:
        """The socket wants the connection (it reconnects with it)."""

    def detach(self, sock: ClientSocket) -> None:
        """The socket no longer wants the connection."""

    async def close_if_unused(self) -> None:
        """Close the connection once no socket is attached."""

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a task the connection cancels when it closes."""


class SocketState(enum.Enum):
    #: not wanting a connection (new, or after disconnect() / a server disconnect)
    IDLE = "idle"
    #: CONNECT sent (or waiting for the connection to send it)
    CONNECTING = "connecting"
    CONNECTED = "connected"


class ClientSocket:
    """A namespace over a :class:`Manager`'s connection. Make one with
    ``client.socket("/admin")`` (or ``Manager.socket``)."""

    def __init__(
        self,
        manager: Connection,
        namespace: str,
        *,
        auth: AuthProvider = None,
        max_buffered_packets: int = 1000,
        max_queued_events: int = 1000,
        max_pending_acks: int = 10_000,
    ) -> None:
        self.manager = manager
        self.namespace = namespace
        self.auth = auth
        #: the id the server gave this socket (None while not connected)
        self.id: str | None = None
        self.state = SocketState.IDLE
        self.max_buffered_packets = max_buffered_packets
        self.max_queued_events = max_queued_events
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._any: list[Callable[..., Any]] = []
        self._acks = AckTable(max_pending_acks)
        self._ack_timer: asyncio.TimerHandle | None = None
        self._send_buffer: deque[Packet] = deque()
        self._receive_buffer: deque[tuple[str, tuple[Any, ...], int | None]] = deque()
        self._events: deque[tuple[str, tuple[Any, ...], int | None]] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._connect_task: asyncio.Task[None] | None = None
        self._retry = False
        #: connection state recovery: the session id the server gave (Node's
        #: connectionStateRecovery; None when the server does not offer it) and the offset
        #: of the last event received
        self._pid: str | None = None
        self._last_offset: str | None = None
        #: the last connection recovered the previous session (missed events follow)
        self.recovered = False

    def __repr__(self) -> str:
        return f"<ClientSocket {self.namespace} {self.state.value} {self.id}>"

    @property
    def connected(self) -> bool:
        return self.state is SocketState.CONNECTED

    @property
    def active(self) -> bool:
        """Wants a connection: it reconnects with the manager (the JS ``socket.active``)."""
        return self.state is not SocketState.IDLE

    # -- handlers ---------------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[F], F]: ...
    @overload
    def on(self, event: str, handler: F) -> F: ...
    def on(self, event: str, handler: F | None = None) -> F | Callable[[F], F]:
        """Set the handler of ``event`` (one per event); usable as a decorator. Handlers
        may be plain functions or coroutines; they run one at a time, in order."""

        def register(fn: F) -> F:
            self._handlers[event] = fn
            return fn

        return register if handler is None else register(handler)

    def on_any(self, handler: F) -> F:
        """Also call ``handler(event, *args)`` for every event from the server."""
        self._any.append(handler)
        return handler

    def off_any(self, handler: Callable[..., Any]) -> None:
        """Stop calling ``handler`` for every event (the JS ``offAny(listener)``); a
        handler not set is ignored."""
        if handler in self._any:
            self._any.remove(handler)

    def off(self, event: str) -> None:
        self._handlers.pop(event, None)

    # -- connecting -------------------------------------------------------------------------

    async def connect(self, *, timeout: float | None = None, retry: bool = False) -> None:
        """Join the namespace (opening the connection if needed) and return once the
        server accepted. Raises ConnectError: the server refused (its message and data),
        or, unless ``retry``, the connection failed; with ``retry`` the manager's
        reconnection keeps trying until ``timeout`` (default: the manager's ``timeout``)."""
        if self.connected:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        self._retry = retry
        self.open()
        try:
            await asyncio.wait_for(
                asyncio.shield(waiter), timeout if timeout is not None else self.manager.timeout
            )
        except asyncio.TimeoutError:
            self._forget(waiter)
            await self.disconnect()
            raise ConnectError("timeout") from None
        except ConnectError:
            self._forget(waiter)
            await self.disconnect()
            raise
        finally:
            self._forget(waiter)

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        if waiter.done() and not waiter.cancelled():
            waiter.exception()  # retrieved: no "never retrieved" warning

    def open(self) -> None:
        """Start joining the namespace without waiting (the JS ``socket.connect()``)."""
        if self.active:
            return
        self.state = SocketState.CONNECTING
        self.manager.attach(self)
        if self.manager.is_open:
            self.send_connect()
        else:
            self.manager.open_soon()

    def send_connect(self) -> None:
        """The connection is open: send CONNECT with the auth payload."""
        auth = self.auth
        if callable(auth):
            self._connect_task = asyncio.get_running_loop().create_task(self._connect_with(auth))
        else:
            self._send_connect_packet(auth)

    def _send_connect_packet(self, auth: dict[str, Any] | None) -> None:
        """CONNECT, with the session to recover (``pid``, ``offset``) when the server gave
        one, as the JS client's ``_sendConnectPacket`` (the auth's own keys win)."""
        data = auth
        if self._pid is not None:
            data = {"pid": self._pid}
            if self._last_offset is not None:
                data["offset"] = self._last_offset
            data.update(auth or {})
        self.manager.send_packet(Packet(PacketType.CONNECT, self.namespace, data))

    async def _connect_with(self, auth: Callable[[], Any]) -> None:
        try:
            data = auth()
            if inspect.isawaitable(data):
                data = await data
        except Exception as exc:
            logger.exception("client: the auth function of %s failed", self.namespace)
            self._refused(ConnectError(f"auth function failed: {exc!r}"))
            return
        if self.state is SocketState.CONNECTING and self.manager.is_open:
            self._send_connect_packet(data)

    # -- sending ----------------------------------------------------------------------------

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> Sent:
        """Send an event; ``callback(*ack_args)`` is called with the server's answer.
        While disconnected the packet waits in a bounded buffer (SendBufferFull past
        ``max_buffered_packets``) and is sent once connected, as the JS client does."""
        if event in RESERVED:
            raise ValueError(f"{event!r} is a reserved event name")
        ack_id = None
        if callback is not None:
            cb = callback

            def answered(result: list[Any] | BaseException) -> None:
                if not isinstance(result, BaseException):
                    self._run_soon(cb, tuple(result))

            ack_id = self._add_ack(answered, None)
        self._send(Packet(PacketType.EVENT, self.namespace, [event, *args], ack_id))
        return SENT

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send an event and return the first argument of the server's answer (the JS
        ``emitWithAck``). Raises AckTimeout after ``timeout`` seconds (default: the
        manager's ``ack_timeout``), SocketDisconnected if the connection ends first."""
        answer = await self._request(event, args, timeout)
        return answer[0] if answer else None

    async def call(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """python-socketio's ``call``: the answer's argument (None for none, a tuple for
        several)."""
        answer = await self._request(event, args, timeout)
        if not answer:
            return None
        return answer[0] if len(answer) == 1 else tuple(answer)

    async def _request(self, event: str, args: tuple[Any, ...], timeout: float | None) -> list[Any]:
        if event in RESERVED:
            raise ValueError(f"{event!r} is a reserved event name")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()

        def answered(result: list[Any] | BaseException) -> None:
            if future.done():
                return
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

        seconds = timeout if timeout is not None else self.manager.ack_timeout
        ack_id = self._add_ack(answered, loop.time() + seconds)
        self._send(Packet(PacketType.EVENT, self.namespace, [event, *args], ack_id))
        return await future

    def _add_ack(
        self, callback: Callable[[list[Any] | BaseException], None], deadline: float | None
    ) -> int:
        ack_id = self._acks.add(callback, deadline)
        if deadline is not None:
            self._arm_ack_timer()
        return ack_id

    def _arm_ack_timer(self) -> None:
        deadline = self._acks.next_deadline()
        timer = self._ack_timer
        if timer is not None:
            if deadline is not None and timer.when() <= deadline:
                return
            timer.cancel()
            self._ack_timer = None
        if deadline is not None:
            self._ack_timer = asyncio.get_running_loop().call_at(deadline, self._acks_due)

    def _acks_due(self) -> None:
        self._ack_timer = None
        for callback in self._acks.expire(asyncio.get_running_loop().time()):
            callback(AckTimeout("the server did not acknowledge in time"))
        self._arm_ack_timer()

    def _send(self, packet: Packet) -> None:
        if self.connected:
            self.manager.send_packet(packet)
            return
        if len(self._send_buffer) >= self.max_buffered_packets:
            raise SendBufferFull(
                f"{self.max_buffered_packets} packets already wait for the connection"
            )
        self._send_buffer.append(packet)

    # -- called by the manager --------------------------------------------------------------

    def receive_packet(self, packet: Packet) -> None:
        ptype = packet.type
        if ptype is PacketType.CONNECT:
            data = packet.data
            if not (isinstance(data, dict) and isinstance(data.get("sid"), str)):
                self._refused(ConnectError("invalid CONNECT answer (a Socket.IO v2 server?)"))
                return
            if self.state is not SocketState.CONNECTING:
                return
            self.id = data["sid"]
            pid = data.get("pid")
            pid = pid if isinstance(pid, str) else None
            self.recovered = pid is not None and pid == self._pid
            self._pid = pid
            self.state = SocketState.CONNECTED
            while self._receive_buffer:  # (the JS client: emitBuffered, then "connect")
                self._dispatch(*self._receive_buffer.popleft())
            self._dispatch("connect", ())
            while self._send_buffer and self.connected:
                self.manager.send_packet(self._send_buffer.popleft())
            self._resolve(None)
        elif ptype is PacketType.CONNECT_ERROR:
            data = packet.data
            if isinstance(data, dict):
                err = ConnectError(str(data.get("message")), data.get("data"))
            else:
                err = ConnectError(str(data))
            self._refused(err)
        elif ptype is PacketType.EVENT or ptype is PacketType.BINARY_EVENT:
            if self.state is SocketState.IDLE:
                return
            args = packet.data
            if self._pid is not None and packet.id is None and isinstance(args[-1], str):
                # the server appends each event's offset (recovery on): the JS client
                # remembers the last one, and hands it to the handlers too
                self._last_offset = args[-1]
            if self.connected:
                self._dispatch(args[0], tuple(args[1:]), packet.id)
            elif len(self._receive_buffer) < self.max_queued_events:
                # before the CONNECT answer: a recovering server sends the missed events
                # first; they are handled once connected (the JS receiveBuffer)
                self._receive_buffer.append((args[0], tuple(args[1:]), packet.id))
            else:
                logger.warning("client %s: receive buffer full; %r dropped",
                               self.namespace, args[0])
        elif ptype is PacketType.ACK or ptype is PacketType.BINARY_ACK:
            if packet.id is None:
                return
            callback = self._acks.pop(packet.id)
            if callback is not None:
                callback(packet.data)
        elif ptype is PacketType.DISCONNECT and self.connected:
            self.deactivate()
            self._closed("io server disconnect")

    def _refused(self, err: ConnectError) -> None:
        """The server refused the namespace: the socket gives up (JS: ``destroy()``)."""
        self.deactivate()
        self._dispatch("connect_error", (err,))
        self._resolve(err)

    def connection_failed(self, err: ConnectError) -> None:
        """The connection could not be opened (the manager may retry)."""
        if self.connected:
            return
        self._dispatch("connect_error", (err,))
        if not self._retry:
            self._resolve(err)

    def connection_closed(self, reason: str) -> None:
        """The connection ended: disconnected, connecting again when it reopens."""
        self._receive_buffer.clear()
        if self.connected:
            self.state = SocketState.CONNECTING
            self._closed(reason)

    def reconnection_failed(self) -> None:
        self._resolve(ConnectError("reconnection failed"))

    def _closed(self, reason: str) -> None:
        self.id = None
        self._receive_buffer.clear()
        if self.state is SocketState.CONNECTED:
            self.state = SocketState.CONNECTING
        # as the JS client (4.8 ``_clearAcks``): the acks of packets already sent fail
        # now; those of packets still in the send buffer wait for the next connection
        buffered = frozenset(p.id for p in self._send_buffer if p.id is not None)
        for callback in self._acks.clear(keep=buffered):
            callback(SocketDisconnected(f"disconnected ({reason})"))
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        self._arm_ack_timer()
        self._dispatch("disconnect", (reason,))

    def deactivate(self) -> None:
        if self.state is not SocketState.IDLE:
            self.state = SocketState.IDLE
            self.manager.detach(self)

    def _resolve(self, err: ConnectError | None) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                if err is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(err)

    # -- leaving ----------------------------------------------------------------------------

    async def disconnect(self) -> None:
        """Leave the namespace (DISCONNECT); the connection closes once no namespace uses
        it. Packets still buffered are dropped."""
        was_connected = self.connected
        if was_connected:
            self.manager.send_packet(Packet(PacketType.DISCONNECT, self.namespace))
        self._send_buffer.clear()
        for callback in self._acks.clear():
            callback(SocketDisconnected("disconnected by the client"))
        if self._connect_task is not None:
            self._connect_task.cancel()
        if self.active:
            self.deactivate()
        if was_connected:
            self._closed("io client disconnect")
        self._resolve(ConnectError("disconnected by the client"))
        await self.manager.close_if_unused()

    # -- dispatch ---------------------------------------------------------------------------

    def _dispatch(self, event: str, args: tuple[Any, ...], ack_id: int | None = None) -> None:
        """Queue an event for the handlers (one worker task runs them in order)."""
        if len(self._events) >= self.max_queued_events:
            logger.warning(
                "client %s: %d events wait for their handlers; %r dropped",
                self.namespace, len(self._events), event,
            )
            return
        self._events.append((event, args, ack_id))
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run_events())

    async def _run_events(self) -> None:
        try:
            while self._events:
                event, args, ack_id = self._events.popleft()
                handler = self._handlers.get(event)
                result: Any = None
                if event not in RESERVED:
                    for catch_all in self._any:
                        await self._call(catch_all, (event, *args))
                if handler is not None:
                    result = await self._call(handler, args)
                # no handler, no answer: the server's ack times out (as with the JS client)
                if ack_id is not None and handler is not None and self.connected:
                    if result is None:
                        answer: list[Any] = []
                    elif isinstance(result, tuple):
                        answer = list(result)
                    else:
                        answer = [result]
                    try:
                        self.manager.send_packet(
                            Packet(PacketType.ACK, self.namespace, answer, ack_id)
                        )
                    except (TypeError, ValueError):
                        logger.exception("client: the answer to %r cannot be encoded", event)
        finally:
            self._worker = None
            if self._events:  # (cancelled: the rest is dropped with the loop)
                self._events.clear()

    async def _call(self, handler: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        try:
            result = handler(*args)
            if inspect.isawaitable(result):
                result = await result
            return result
        except Exception:
            logger.exception("client: handler %r of %s failed", handler, self.namespace)
            return None

    def _run_soon(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """Call an emit callback (a coroutine runs as a task)."""
        try:
            result = fn(*args)
        except Exception:
            logger.exception("client: ack callback %r failed", fn)
            return
        if inspect.isawaitable(result):
            self.manager.spawn(_awaited(result))


async def _awaited(awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except Exception:
        logger.exception("client: ack callback failed")
