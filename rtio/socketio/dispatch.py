"""The asyncio side of a socket's incoming packets: events start their handlers in arrival
order (concurrent once they await, or one at a time with ``ordered_handlers``), acks
answer, the socket closes.

:class:`SocketDispatch` is :class:`~.core.SocketCore` (the decisions) plus the I/O: the
runner of the socket's handlers (_concurrent.py, or _serial.py for the strict order), the
watch on slow handlers, and the client that the acks are written to.
:class:`~.socket.Socket` adds the public API on top. What it needs of its namespace,
server and client is the small :class:`SocketHost` / :class:`Connection` interface below
(the namespace and the client implement it).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from rtio.stepping import with_task

from ._concurrent import ConcurrentRunner
from ._serial import SerialRunner, run_inline
from .adapter import Adapter
from .core import Route, SocketCore, SocketState
from .errors import ConnectionRefused, DisconnectReason, refusal_payload
from .handlers import CATCH_ALL, PLAIN_RESULTS, Handler, ack_args
from .observer import Observer
from .packet import Packet, PacketType
from .parsers.base import Parser

__all__ = ["Connection", "ServerOptions", "SocketDispatch", "SocketHost", "call_listener"]

log = logging.getLogger("rtio.socketio")

_EVENT = PacketType.EVENT  # module globals: 18 ns a read, not 82 (see core.py)
_BINARY_EVENT = PacketType.BINARY_EVENT
_ACK = PacketType.ACK
_BINARY_ACK = PacketType.BINARY_ACK
_DISCONNECT = PacketType.DISCONNECT
_QUEUE = Route.QUEUE
_DROP = Route.DROP
_CONNECTED = SocketState.CONNECTED


class ServerOptions(Protocol):
    """What a socket reads of its server."""

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


class SocketHost(Protocol):
    """What a socket needs of its namespace (rtio.Namespace)."""

    @property
    def name(self) -> str: ...
    @property
    def server(self) -> ServerOptions: ...
    @property
    def adapter(self) -> Adapter: ...
    @property
    def handlers(self) -> dict[Any, Handler]: ...
    def next_ack_id(self) -> int: ...
    def remove_socket(self, socket: Any) -> None: ...
    def finish_connect(self, socket: Any, refusal: dict[str, Any] | None) -> None: ...


class Connection(Protocol):
    """What a socket needs of its client (the Engine.IO session seen from Socket.IO)."""

    @property
    def parser(self) -> Parser: ...
    def send_ack(self, nsp: str, ack_id: int, args: list[Any]) -> None: ...
    def send_packet(self, packet: Packet) -> None: ...
    def close(self, reason: DisconnectReason) -> None: ...
    def remove(self, socket: Any) -> None: ...


class SocketDispatch(SocketCore):
    """A socket's incoming side: see the module docstring."""

    __slots__ = ("_held", "_runner", "client", "nsp")

    # set by the subclass's __init__ (one constructor call less per connection)
    nsp: SocketHost
    client: Connection
    _runner: SerialRunner | ConcurrentRunner | None
    #: while the ``connect`` handler runs: what the socket is sent, held until the
    #: CONNECT reply (None otherwise)
    _held: list[Callable[[], None]] | None

    @property
    def handlers_running(self) -> bool:
        """Handlers of this socket are suspended in an await, or events wait for them
        (what a graceful shutdown waits for: drain.py)."""
        runner = self._runner
        return runner is not None and not runner.idle

    @property
    def queued_events(self) -> int:
        """Events of this socket waiting for their handlers to start (what
        ``max_queued_events`` bounds)."""
        runner = self._runner
        return 0 if runner is None else runner.backlog

    def receive_packet(self, packet: Packet) -> None:
        """A packet from the client for this socket's namespace."""
        ptype = packet.type
        if ptype is _EVENT or ptype is _BINARY_EVENT:
            self.receive_event(packet.data, packet.id)
        elif ptype is _ACK or ptype is _BINARY_ACK:
            if packet.id is not None:
                on_ack = self.forget_ack(packet.id)
                if on_ack is not None:
                    try:
                        on_ack(packet.data)
                    except Exception:
                        log.exception("error in an ack callback of socket %s", self.id)
        elif ptype is _DISCONNECT:
            self.on_close(DisconnectReason.CLIENT_NAMESPACE_DISCONNECT)
        # CONNECT is the client's business; CONNECT_ERROR from a client means nothing

    def receive_event(self, data: list[Any], ack_id: int | None) -> None:
        """An EVENT from the client: its handler starts after those of the events before it.

        The common case takes a straight line: no packet middleware, nothing running or
        queued, a plain function: it is called here and its return value answers the ack,
        with no coroutine or task (benchmarks/socketio/bench_dispatch.py: echo 3.4 µs;
        through the runner's coroutine it was 4.8). Anything else goes through the
        serial runner."""
        runner = self._runner
        step = self.route(data[0], self.nsp.handlers, runner is not None and runner.busy)
        if step is _QUEUE:
            self._queue_event(data, ack_id)
            return
        if step is _DROP:
            return
        handler: Handler = step  # type: ignore[assignment]  # neither Route: a Handler
        if handler.is_async:
            self.run_in_turn(self._run_handler(handler, data, ack_id))
            return
        if runner is None:
            runner = self._serial()
        runner.claim()  # idle (routed so); events that arrive meanwhile queue behind
        event = data[0]
        try:
            result = self._invoke(handler, data, ack_id)
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
            if runner.release() and runner.timer is None:  # a job suspended meanwhile
                self._watch(runner)

    def _queue_event(self, data: list[Any], ack_id: int | None) -> None:
        """The general path of an event: catch-all listeners at once, then the packet
        middlewares and the handler in the event's turn (run at once if it is now)."""
        runner = self._serial()
        limit = self.nsp.server.max_queued_events
        if self.queue_full(runner.backlog, limit):
            # bound the inbound queue: a client that sends events faster than its
            # handlers finish is cut off rather than let grow memory without limit
            log.warning(
                "socket %s: over %d events wait for its handlers: disconnecting the client",
                self.id,
                limit,
            )
            self.client.close(DisconnectReason.FORCED_SERVER_CLOSE)
            return
        for listener in self.incoming_listeners():
            call_listener(listener, data)
        self.run_in_turn(self._run_event(data, ack_id))

    async def _run_event(self, data: list[Any], ack_id: int | None) -> None:
        """An event's turn in the runner: packet middlewares, then its handler."""
        self._runner.label = data[0]  # type: ignore[union-attr]  # jobs run on it
        try:
            for middleware in self.middlewares():
                result = middleware(data)
                if result is not None and asyncio.iscoroutine(result):
                    await with_task(result)
        except Exception as exc:
            await self._on_middleware_error(exc)
            return
        handlers = self.nsp.handlers
        handler = self.lookup(data[0], handlers)
        if handler is not None:
            await self._run_handler(handler, data, ack_id)
            return
        catch_all = handlers.get(CATCH_ALL)
        if catch_all is not None:  # python-socketio's: the event's name first
            await self._run_handler(catch_all, [data[0], *data], ack_id)

    async def _run_handler(self, handler: Handler, data: list[Any], ack_id: int | None) -> None:
        self._runner.label = data[0]  # type: ignore[union-attr]  # jobs run on it
        try:
            result = self._invoke(handler, data, ack_id)
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
            result = await with_task(awaitable)
        except Exception:
            log.exception("error in the %r handler of socket %s", event, self.id)
            return
        if ack_id is not None and not handler.takes_ack:
            self._send_ack(ack_id, result, event)

    def _invoke(self, handler: Handler, data: list[Any], ack_id: int | None) -> Any:
        """Call an event's handler with the client's arguments (fitted): a namespace
        handler gets the socket first, a socket's own listener does not. Returns what the
        handler returned (maybe an awaitable)."""
        args = handler.fit(data[1:])
        fn = handler.fn
        if handler.takes_ack:
            ack = None if ack_id is None else self._make_ack(ack_id, data[0])
            return fn(self, *args, ack=ack) if handler.passes_socket else fn(*args, ack=ack)
        return fn(self, *args) if handler.passes_socket else fn(*args)

    def _send_ack(self, ack_id: int, result: Any, event: Any) -> None:
        """Answer the client's ack of ``event`` with a handler's return value, or the
        arguments an ``ack`` callable got (a tuple), unless the socket is gone meanwhile.

        Data the parser cannot carry still answers: the client would otherwise wait for
        ever (issue 12 defect 10; the protocol has no error ack), so it gets an ack without
        arguments, and the error is logged, naming the event."""
        if self.state is not _CONNECTED:
            return
        client = self.client
        try:
            client.send_ack(self.nsp.name, ack_id, ack_args(result))
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
            if sent or self.state is not _CONNECTED:
                return
            sent = True
            self._send_ack(ack_id, args, event)  # a tuple: each argument

        return ack

    def run_in_turn(self, job: Coroutine[Any, Any, Any]) -> None:
        """Run ``job`` after the socket's handlers running or waiting (now if none)."""
        runner = self._serial()
        runner.submit(job)
        if runner.timer is None and runner.running_async:
            self._watch(runner)

    def _serial(self) -> SerialRunner | ConcurrentRunner:
        """The runner of this socket's handlers (created on first use): concurrent, or
        one at a time with the server's ``ordered_handlers``."""
        runner = self._runner
        if runner is None:
            server = self.nsp.server
            if server.ordered_handlers:
                runner = self._runner = SerialRunner()
            else:
                runner = self._runner = ConcurrentRunner(server.max_concurrent_handlers)
        return runner

    def run_connect_handler(self, handler: Handler, auth: dict[str, Any]) -> None:
        """The namespace's ``connect`` handler, in the socket's first turn, before the
        CONNECT reply: what the socket is sent meanwhile is held until the reply."""
        self._held = []
        self.run_in_turn(self._run_connect(handler, auth))

    async def _run_connect(self, handler: Handler, auth: dict[str, Any]) -> None:
        """A refusal in the ``connect`` handler refuses (python-socketio's rule, and what
        an authentication check there needs): returning False, raising ConnectionRefused
        or the builtin ConnectionRefusedError. A handler that fails refuses too (logged):
        an authentication check that crashes must not let the client in."""
        self._serial().label = "connect"  # what the slow handler warning names
        refusal: dict[str, Any] | None = None
        try:
            if await handler.call(self, *handler.fit([auth])) is False:
                refusal = ConnectionRefused().payload()
        except Exception as exc:
            refusal = refusal_payload(exc)
            if refusal is None:
                log.exception("error in the 'connect' handler of socket %s: refused", self.id)
                refusal = ConnectionRefused().payload()
        self.nsp.finish_connect(self, refusal)

    def release_held(self) -> None:
        """The CONNECT reply is out: write what was held, in order."""
        held, self._held = self._held, None
        for write in held or ():
            write()

    def refuse(self) -> None:
        """The ``connect`` handler refused: the socket goes without a trace (the client
        gets CONNECT_ERROR, not DISCONNECT; no ``disconnect`` handler runs)."""
        self._held = None
        if not self.begin_close():
            return  # gone meanwhile (the connection closed)
        self.client.remove(self)
        self.nsp.remove_socket(self)
        for on_ack in self.take_acks() or ():
            try:
                on_ack(None)
            except Exception:
                log.exception("error in an ack callback")
        self.nsp.adapter.delete_all(self.id)
        self.finish_close()
        if self.nsp.server.observer is not None:
            self.nsp.server.observer.socket_disconnected(self, "connect refused")

    # -- the watch on slow handlers (issue 12 defect 11) ----------------------------------
    #
    # One timer per socket whose runner has a task (a handler suspended), armed when the
    # task starts and re-armed by itself while the runner is busy; a handler that never
    # suspends costs nothing (and cannot be watched: it holds the whole loop, which
    # asyncio's debug mode reports). Each job notes when it began (runner.since); the timer
    # warns once per job that runs past slow_handler_warning, while it still runs.

    def _watch(self, runner: SerialRunner | ConcurrentRunner) -> None:
        threshold = self.nsp.server.slow_handler_warning
        if threshold is not None:
            loop = asyncio.get_running_loop()
            delay = max(runner.since + threshold - loop.time(), 0.0)
            runner.timer = loop.call_later(delay, self._check_slow)

    def _check_slow(self) -> None:
        runner = self._runner
        if runner is None:
            return
        runner.timer = None
        server = self.nsp.server
        threshold = server.slow_handler_warning
        if not runner.running_async or threshold is None:
            return  # idle: armed again when a handler suspends
        loop = asyncio.get_running_loop()
        elapsed = loop.time() - runner.since
        if elapsed >= threshold and runner.warned != runner.since:
            runner.warned = runner.since
            log.warning(
                "the %r handler of socket %s (namespace %s) is still running after %.1f s "
                "(slow_handler_warning): %s (%d waiting; over max_queued_events=%d the "
                "client is disconnected)",
                runner.label,
                self.id,
                self.nsp.name,
                elapsed,
                "the socket's later events wait for it (ordered_handlers)"
                if runner.ordered
                else f"{len(runner)} of the socket's handlers are running "
                f"(max_concurrent_handlers={server.max_concurrent_handlers}; past it "
                "later events wait)",
                runner.backlog,
                server.max_queued_events,
            )
        if runner.warned == runner.since:  # watch for the job after it
            runner.timer = loop.call_later(threshold, self._check_slow)
        else:
            self._watch(runner)

    # -- closing ------------------------------------------------------------------------

    def keep_session(self, reason: DisconnectReason) -> Awaitable[None] | None:
        """Connection state recovery: the socket's session is kept (the socket's)."""
        return None

    def leave_namespace(self) -> None:
        """The server disconnects the socket: the client gets a DISCONNECT packet (and
        reports "io server disconnect")."""
        if self.connected:
            if self._held is None:  # else the client was not told it is connected
                self.client.send_packet(Packet(_DISCONNECT, self.nsp.name))
            self.on_close(DisconnectReason.SERVER_NAMESPACE_DISCONNECT)

    def on_close(self, reason: DisconnectReason) -> None:
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
        if not self.begin_close():
            return
        log.info("socket %s disconnected from %s: %s", self.id, self.nsp.name, reason.value)
        if self.nsp.server.observer is not None:
            self.nsp.server.observer.socket_disconnected(self, reason.value)
        self.client.remove(self)
        self.nsp.remove_socket(self)
        for on_ack in self.take_acks() or ():
            try:
                on_ack(None)
            except Exception:
                log.exception("error in an ack callback")
        # not behind the runner: a stuck handler would hold the disconnect (and the rooms)
        # for ever (before issue 12 defect 11 it did)
        run_inline(self._run_close(reason))

    async def _run_close(self, reason: DisconnectReason) -> None:
        await self._call_special("disconnecting", reason)
        kept = self.keep_session(reason)
        if kept is not None:
            try:
                await kept
            except Exception:
                log.exception("the session of socket %s could not be kept", self.id)
        self.nsp.adapter.delete_all(self.id)
        self.finish_close()
        await self._call_special("disconnect", reason)

    async def _call_special(self, event: str, *args: Any) -> None:
        try:
            own = self._handlers.get(event) if self._handlers else None
            if own is not None:
                await own.call(*own.fit(list(args)))
            handler = self.nsp.handlers.get(event)
            if handler is not None:
                await handler.call(self, *handler.fit(list(args)))
        except Exception:
            log.exception("error in the %r handler of socket %s", event, self.id)


def call_listener(listener: Callable[..., Any], args: list[Any]) -> None:
    """Call a listener; a coroutine it returns runs inline until it suspends."""
    try:
        result = listener(*args)
    except Exception:
        log.exception("error in listener %r", listener)
        return
    if asyncio.iscoroutine(result):
        run_inline(result)
