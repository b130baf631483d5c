"""asyncio glue: the application's WebSocket object over a WebSocketProtocol.

Owns the transport writes, the delivery of incoming messages, the timers (keepalive ping,
close timeout) and flow control in both directions. Knows nothing of HTTP: the aiohttp
adapter (server) and client.py (client) do the opening handshake, then feed bytes in through
``receive_data`` / ``receive_eof`` and give a ``Link`` for what only they can do (reading
pause/resume, write drain).

Two ways to receive: ``recv()`` / ``async for`` (messages wait in a bounded queue; reading
pauses when it is full), or push mode (``set_receiver``: each message is handed to a
callback from ``receive_data``, with no queue, task or future per message). Two ways to
send: ``await send()``, or ``send_now()`` which writes synchronously and says whether the
caller should ``await drain()`` before writing more.

Every byte queued for the peer is bounded, also those the peer drives itself (pongs, the
close reply): while the transport's write buffer is above ``write_limit`` reading from the
peer pauses, in both receiving modes, until the buffer drains (a peer that sends and never
reads stops being read; pongs queued meanwhile collapse to the latest one). A write that
finds more than ``max_write_buffer`` bytes already waiting for the peer (an application
that ignores backpressure) aborts the connection (close_code 1008, a warning in the log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from .deflate import DeflateOptions, DeflateParams, PerMessageDeflate
from .errors import ConnectionClosed, InvalidState, PolicyViolation
from .frames import CloseCode, Opcode
from .protocol import Event, Pong, PreparedMessage, Side, State, WebSocketProtocol

__all__ = ["ConnectionOptions", "Link", "ServerOptions", "WebSocket", "open_protocol"]

logger = logging.getLogger("rtio.ws")

#: messages at least this big (bytes, or characters of a str) are compressed in a worker
#: thread: zlib releases the GIL, so the loop keeps flushing and reading meanwhile
OFFLOAD_SIZE = 1 << 16

_NORMAL_CODES = frozenset(
    {CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD}
)


@dataclass(frozen=True)
class ConnectionOptions:
    """Limits and timers of one connection (None disables a limit or a timer).

    - max_message_size: bytes of one message after decompression (close 1009 beyond).
    - max_frame_size: bytes of one frame's payload (close 1009 beyond).
    - max_fragments: frames one message may arrive in (close 1008 beyond, logged). A
      message's fragments share one buffer, so their number costs no memory, but each
      frame costs work: an endless message of empty frames is cut off here. 100,000
      leaves room for Autobahn's 4 MiB in 64-byte fragments (65,536 frames).
    - message_timeout: seconds a fragmented message may stay open, from its first frame to
      its last (close 1008 beyond, logged); interleaved pings do not extend it.
    - max_write_buffer: bytes waiting for the peer in the transport's write buffer (what
      it has not read yet). A write that finds more already waiting aborts the connection
      without a close handshake (the peer would not read the close frame): close_code
      1008, reason "peer not reading", a warning in the log. Writers that honour
      backpressure (``await send()``, ``send_now()`` then ``drain()``) never reach it: they
      stop near ``write_limit``. Its default is Engine.IO's ``max_buffered_bytes``.
    - ping_interval / ping_timeout: keepalive pings; no pong within the timeout closes the
      connection with 1011.
    - close_timeout: how long the close handshake (and the wait for the TCP close after
      it) may take before the connection is dropped.
    - max_queue: received messages held before reading from the socket pauses.
    - write_limit: the transport's write buffer high-water mark; ``send`` waits above it,
      and reading from the peer pauses above it until the buffer drains.
    - coalesce_writes: the first frame of a loop iteration is written at once, later ones
      of the same iteration together at its end (one syscall for a burst; see _TickWrites).
      On by default: it costs a lone frame nothing and saves a syscall per frame of a
      burst (a broadcast's many emits, an echo's pipelined replies). Off: every frame is
      written at once.
    """

    max_message_size: int | None = 1 << 20
    max_frame_size: int | None = None
    max_fragments: int | None = 100_000
    message_timeout: float | None = 60.0
    max_write_buffer: int | None = 16 * 1024 * 1024
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    close_timeout: float = 10.0
    max_queue: int = 32
    write_limit: int = 1 << 16
    coalesce_writes: bool = True


@dataclass(frozen=True)
class ServerOptions(ConnectionOptions):
    """Server side: ConnectionOptions plus the subprotocols the server speaks (in order of
    preference) and permessage-deflate (None: not offered; off by default, as in Node's ws
    and Engine.IO)."""

    subprotocols: tuple[str, ...] = ()
    compression: DeflateOptions | None = None


def open_protocol(
    side: Side,
    options: ConnectionOptions,
    deflate_params: DeflateParams | None,
    compression: DeflateOptions | None,
    *,
    mask_key: Callable[[], bytes] | None = None,
) -> WebSocketProtocol:
    """The protocol of a connection whose handshake succeeded, for either role: the
    negotiated permessage-deflate (None: not negotiated) set up with this endpoint's
    compression options, and the connection's size limits."""
    deflate = None
    if deflate_params is not None:
        assert compression is not None, "deflate was negotiated without being offered"
        deflate = PerMessageDeflate(
            deflate_params,
            is_server=side is Side.SERVER,
            threshold=compression.threshold,
            level=compression.level,
            mem_level=compression.mem_level,
        )
    return WebSocketProtocol(
        side,
        deflate=deflate,
        max_frame_size=options.max_frame_size,
        max_message_size=options.max_message_size,
        max_fragments=options.max_fragments,
        deliver_before_failing=True,
        mask_key=mask_key,
    )


_DEFAULT_OPTIONS = ConnectionOptions()


class Link:
    """What a WebSocket needs from the connection below it beyond ``transport.write``.
    The adapters subclass it; this base works on a plain asyncio transport whose protocol
    forwards ``pause_writing``/``resume_writing`` here."""

    __slots__ = ("_drain_waiters", "_paused", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self._paused = False
        # created on first use: most connections never wait for a drain
        self._drain_waiters: list[asyncio.Future[None]] | None = None

    @property
    def writing_paused(self) -> bool:
        return self._paused

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        waiters, self._drain_waiters = self._drain_waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    async def drain(self) -> None:
        if not self._paused:
            return
        waiter = asyncio.get_running_loop().create_future()
        if self._drain_waiters is None:
            self._drain_waiters = []
        self._drain_waiters.append(waiter)
        await waiter

    def call_when_writable(self, callback: Callable[[], None]) -> None:
        """``callback()`` once writing is no longer paused (or the connection is lost)."""
        if not self._paused:
            callback()
            return
        waiter = asyncio.get_running_loop().create_future()
        waiter.add_done_callback(lambda _: callback())
        if self._drain_waiters is None:
            self._drain_waiters = []
        self._drain_waiters.append(waiter)

    def connection_lost(self) -> None:
        self.resume_writing()

    def pause_reading(self) -> None:
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        self.transport.resume_reading()


class _TickWrites:
    """Coalesces writes per loop iteration, for every connection of one loop.

    The first frame a connection writes in an iteration goes to the transport at once (an
    echo's answer leaves with no delay); later ones wait in the connection's batch until
    one callback at the end of the iteration writes each batch with a single
    ``transport.write``. A burst of N messages to one connection (a broadcast loop) costs two
    write syscalls instead of N; the order of the bytes is unchanged.
    """

    __slots__ = ("_loop", "_scheduled", "_touched")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._touched: list[WebSocket] = []
        self._scheduled = False

    def touch(self, ws: WebSocket) -> None:
        self._touched.append(ws)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._end_of_iteration)

    def _end_of_iteration(self) -> None:
        self._scheduled = False
        touched, self._touched = self._touched, []
        for ws in touched:
            ws._end_of_iteration()


_tick_writes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _TickWrites] = (
    weakref.WeakKeyDictionary()
)


#: the last loop's, found without a WeakKeyDictionary lookup per connection (one loop per
#: process, as a rule)
_last_tick: _TickWrites | None = None


def _tick_writes_of(loop: asyncio.AbstractEventLoop) -> _TickWrites:
    global _last_tick
    tick = _last_tick
    if tick is not None and tick._loop is loop:
        return tick
    tick = _tick_writes.get(loop)
    if tick is None:
        tick = _tick_writes[loop] = _TickWrites(loop)
    _last_tick = tick
    return tick


class WebSocket:
    """One WebSocket connection, for the application."""

    # slots: one is created per connection set-up, and most of its attributes stay at their
    # first value for the connection's life (a connection set-up costs ~1 us less, an idle
    # connection ~100 bytes less than with an instance dict)
    __slots__ = (
        "__weakref__",
        "_batch",
        "_batch_size",
        "_close_handle",
        "_closed_waiter",
        "_closing_transport",
        "_fail_handle",
        "_keepalive_handle",
        "_keepalive_payload",
        "_link",
        "_loop",
        "_lost",
        "_max_queue",
        "_message_handle",
        "_message_serial",
        "_messages",
        "_offload_task",
        "_offloads",
        "_on_closed",
        "_on_message",
        "_ping_counter",
        "_pings",
        "_proto",
        "_reading_paused",
        "_recv_waiter",
        "_send_lock",
        "_tick",
        "_touched",
        "_transport",
        "_write_blocked",
        "_write_limit",
        "options",
        "subprotocol",
    )

    def __init__(
        self,
        protocol: WebSocketProtocol,
        link: Link,
        *,
        subprotocol: str | None = None,
        options: ConnectionOptions | None = None,
    ) -> None:
        if options is None:
            options = _DEFAULT_OPTIONS
        self._proto = protocol
        self._link = link
        transport = self._transport = link.transport
        loop = self._loop = asyncio.get_running_loop()
        self.subprotocol = subprotocol
        self.options = options  # shared by every connection of a server: never copied
        # a list, not a deque: at most max_queue items, and an empty deque costs 760 bytes
        # per connection (an empty list, 56)
        self._messages: list[str | bytes] = []
        self._recv_waiter: asyncio.Future[None] | None = None
        self._max_queue = max(options.max_queue, 1)
        # reading is paused while either is set: the queue is full (iterator mode), or the
        # transport's write buffer is above write_limit (any mode)
        self._reading_paused = False
        self._write_blocked = False
        # the time limit of the fragmented message being received, and which one it is
        self._message_handle: asyncio.TimerHandle | None = None
        self._message_serial = 0
        # pings waiting for their pong (created on the first ping: an idle connection
        # without keepalive never needs it; an empty dict is 64 bytes, a future 150)
        self._pings: dict[bytes, tuple[asyncio.Future[float], float]] | None = None
        self._ping_counter = 0
        self._keepalive_handle: asyncio.TimerHandle | None = None
        self._keepalive_payload: bytes | None = None
        self._close_handle: asyncio.TimerHandle | None = None
        self._fail_handle: asyncio.TimerHandle | None = None
        # sends waiting behind a big message compressed in a worker thread
        self._offloads = 0
        self._send_lock: asyncio.Lock | None = None
        # the latest send_now() that waits behind (or is) an offloaded compression
        self._offload_task: asyncio.Task[None] | None = None
        # push mode (set_receiver)
        self._on_message: Callable[[str | bytes], None] | None = None
        self._on_closed: Callable[[], None] | None = None  # None again once called
        self._lost = False
        # created when someone waits (wait_closed, close); set when the TCP connection ends
        self._closed_waiter: asyncio.Future[None] | None = None
        self._closing_transport = False
        # writes of this loop iteration (see _TickWrites)
        self._tick = _tick_writes_of(loop) if options.coalesce_writes else None
        self._touched = False
        self._batch: list[bytes] | None = None
        self._batch_size = 0
        self._write_limit = options.write_limit
        # not contextlib.suppress: its object costs ~0.3 us per connection
        try:  # noqa: SIM105
            transport.set_write_buffer_limits(high=options.write_limit)
        except (AttributeError, NotImplementedError):
            pass  # a transport without flow control (a test's)
        if options.ping_interval:
            self._schedule_keepalive()

    # -- state -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once no more messages can be sent or received (the close handshake is done
        or the connection failed or dropped)."""
        return self._proto.state is State.CLOSED or self._lost

    @property
    def close_code(self) -> int | None:
        if not self.closed:
            return None
        code = self._proto.close_code
        return CloseCode.ABNORMAL_CLOSURE if code is None else code

    @property
    def close_reason(self) -> str:
        return self._proto.close_reason

    @property
    def transport(self) -> asyncio.Transport:
        return self._transport

    def _closed_error(self) -> ConnectionClosed:
        return ConnectionClosed(self.close_code or CloseCode.ABNORMAL_CLOSURE, self.close_reason)

    # -- receiving ---------------------------------------------------------------------

    async def recv(self) -> str | bytes:
        """The next message (str for text, bytes for binary); raises ConnectionClosed once
        the connection is closed and every received message was returned."""
        while True:
            if self._on_message is not None:
                raise InvalidState("recv() in push mode: messages go to the receiver")
            messages = self._messages
            if messages:
                message = messages.pop(0)
                if not messages and self._proto.pending_failure is not None:
                    # The app answers this message first (an echo's send() writes before
                    # it awaits anything), then the violation behind it fails the
                    # connection: on the next recv() or, at the latest, on the next turn
                    # of the loop.
                    self._loop.call_soon(self._fail_pending)
                if self._reading_paused and len(messages) <= self._max_queue >> 1:
                    self._reading_paused = False
                    if not (self._lost or self._write_blocked):
                        self._link.resume_reading()
                return message
            if self._proto.pending_failure is not None:
                self._fail_pending()
            if self.closed:
                raise self._closed_error()
            if self._recv_waiter is not None:
                raise InvalidState("recv() is already being awaited")
            waiter = self._recv_waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._recv_waiter = None

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        """``async for message in ws``: every message until the connection closes; ends
        cleanly on a normal close (1000, 1001, 1005), raises ConnectionClosed otherwise."""
        return self

    async def __anext__(self) -> str | bytes:
        messages = self._messages
        if messages and not self._reading_paused and self._proto.pending_failure is None:
            return messages.pop(0)  # the common case, without recv()'s bookkeeping
        try:
            return await self.recv()
        except ConnectionClosed as exc:
            if exc.code in _NORMAL_CODES:
                raise StopAsyncIteration from None
            raise

    def receive_data(self, data: bytes) -> None:
        """Bytes from the network (called by the adapter)."""
        proto = self._proto
        events = proto.receive_data(data)
        out = proto.data_to_send()
        if out:
            self._write(out)
        if self._link.writing_paused and not self._write_blocked:
            self._block_reading(len(out))
        if proto._msg_opcode:
            if self._message_serial != proto.fragmented_messages:
                self._start_message_timer()
        elif self._message_handle is not None:
            self._message_handle.cancel()
            self._message_handle = None
        if events:
            on_message = self._on_message
            if on_message is not None:
                self._push(events, on_message)
                return
            messages = self._messages
            for event in events:
                kind = type(event)
                if kind is str or kind is bytes:
                    messages.append(event)  # type: ignore[arg-type]
                elif kind is Pong:
                    self._receive_pong(event.payload)  # type: ignore[union-attr]
            waiter = self._recv_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            if len(messages) >= self._max_queue and not self._reading_paused:
                self._reading_paused = True
                if not self._write_blocked:
                    self._link.pause_reading()
        if proto.pending_failure is not None:
            if self._messages:
                # the violation waits for the app to read the messages before it; bounded
                # by close_timeout for an app that stopped reading
                if self._fail_handle is None:
                    self._fail_handle = self._loop.call_later(
                        self.options.close_timeout, self._fail_pending
                    )
            else:
                self._fail_pending()
        elif proto.state is State.CLOSED:
            self._protocol_closed()

    def _block_reading(self, written: int) -> None:
        """The transport's write buffer is above write_limit: stop reading from the peer
        until it drains (what the peer sends meanwhile could make us queue more for it:
        pongs, answers), and answer only the latest ping while blocked. A peer that sends
        without reading thus costs at most write_limit plus one read of pongs."""
        if self._lost or self._over_write_buffer(written):
            return
        self._write_blocked = True
        self._proto.answer_latest_ping_only = True
        if not self._reading_paused:
            self._link.pause_reading()
        self._link.call_when_writable(self._writes_drained)

    def _writes_drained(self) -> None:
        self._write_blocked = False
        self._proto.answer_latest_ping_only = False
        if not (self._lost or self._reading_paused):
            self._link.resume_reading()

    def _over_write_buffer(self, written: int) -> bool:
        """Called with writing paused, after a write of ``written`` bytes: True (and the
        connection aborted) if more than max_write_buffer bytes were waiting for the peer
        before that write."""
        limit = self.options.max_write_buffer
        if limit is None or self._lost:
            return False
        try:
            waiting = self._transport.get_write_buffer_size() - written
        except (AttributeError, NotImplementedError):
            return False  # a transport without flow control (a test's)
        if waiting <= limit:
            return False
        logger.warning(
            "WebSocket peer not reading: %d bytes waiting for it, over max_write_buffer"
            " (%d); aborting the connection (close_code 1008)",
            waiting,
            limit,
        )
        self._abort(PolicyViolation("peer not reading: write buffer over max_write_buffer"))
        return True

    def _abort(self, exc: PolicyViolation) -> None:
        """End the connection at once, without a close handshake, for ``exc`` (its code and
        reason become the close_code and close_reason). The end is reported (on_closed,
        ConnectionClosed) when the transport calls back with the connection lost, on a
        later turn of the loop: never from inside the write that found the limit."""
        proto = self._proto
        if proto.close_code is None:
            proto.failure = exc
        proto.fail(exc.close_code, str(exc))
        proto.data_to_send()  # dropped: the peer is not reading, or is failed already
        self._batch = None
        self._closing_transport = True
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._transport.abort()

    def _start_message_timer(self) -> None:
        """A fragmented message began (in this receive_data): time it."""
        self._message_serial = self._proto.fragmented_messages
        if self._message_handle is not None:
            self._message_handle.cancel()
            self._message_handle = None
        timeout = self.options.message_timeout
        if timeout is not None and not self._lost:
            self._message_handle = self._loop.call_later(timeout, self._message_timed_out)

    def _message_timed_out(self) -> None:
        self._message_handle = None
        if self._lost or self._proto.state is not State.OPEN:
            return
        proto = self._proto
        exc = PolicyViolation(
            f"fragmented message not completed within message_timeout"
            f" ({self.options.message_timeout}s)"
        )
        # the close code the application sees (not the 1006 of a peer that does not
        # answer our close frame); _protocol_closed logs it
        proto.failure = exc
        proto.fail(exc.close_code, str(exc))
        out = proto.data_to_send()
        if out:
            self._write(out)
        self._protocol_closed()

    def _push(self, events: list[Event], on_message: Callable[[str | bytes], None]) -> None:
        """receive_data's end in push mode: each message to the receiver, in order, then
        what the protocol decided (a violation held back behind these messages fails the
        connection now: the receiver has seen them and had its chance to answer)."""
        for event in events:
            kind = type(event)
            if kind is str or kind is bytes:
                try:
                    on_message(event)  # type: ignore[arg-type]
                except ConnectionClosed:
                    pass  # it answered after the close (see set_receiver): not a bug
                except Exception:
                    logger.exception("WebSocket message handler raised")
                    self._fail_locally(CloseCode.INTERNAL_ERROR, "message handler raised")
                    return
            elif kind is Pong:
                self._receive_pong(event.payload)  # type: ignore[union-attr]
        proto = self._proto
        if proto.pending_failure is not None:
            self._fail_pending()
        elif proto.state is State.CLOSED:
            self._protocol_closed()

    def set_receiver(
        self, on_message: Callable[[str | bytes], None], on_closed: Callable[[], None]
    ) -> None:
        """Push mode: from now on every message is passed to ``on_message(message)``
        synchronously from ``receive_data``, in order (no queue, no future, no recv());
        messages already queued are delivered at once, in order. ``on_closed()`` is called
        exactly once when the connection is closed (close handshake done, failed, or
        dropped: ``close_code`` is set by then), also when it is already closed.
        ``recv()`` / async iteration raise InvalidState in push mode. An exception from
        ``on_message`` is logged (logger ``rtio.ws``) and fails the connection with 1011;
        messages after it are not delivered.

        Messages that arrived together with the peer's close frame are delivered after the
        protocol reached CLOSED: answering them raises ConnectionClosed, as it would after
        ``recv()``; a ConnectionClosed out of ``on_message`` is therefore no error (not
        logged, later messages still delivered). In push mode reading never pauses for the
        consumer (it is synchronous), only while the transport's write buffer is above
        ``write_limit`` (as in both modes); write backpressure is otherwise the caller's,
        through send_now()'s result and drain()."""
        self._on_message = on_message
        self._on_closed = on_closed
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)  # a pending recv() raises InvalidState
        queued, self._messages = self._messages, []
        if self._reading_paused:
            self._reading_paused = False
            if not (self._lost or self._write_blocked):
                self._link.resume_reading()
        for message in queued:
            if self._on_message is not on_message:
                return  # a handler raised (the connection failed) or replaced the receiver
            try:
                on_message(message)
            except ConnectionClosed:
                pass
            except Exception:
                logger.exception("WebSocket message handler raised")
                self._fail_locally(CloseCode.INTERNAL_ERROR, "message handler raised")
                return
        if self._proto.pending_failure is not None:
            self._fail_pending()
        if self.closed:
            self._notify_closed()

    def _fail_locally(self, code: int, reason: str) -> None:
        """Fail the connection for a local reason (the receiver raised): a close frame if
        none was sent, no more messages delivered, and the TCP connection closed."""
        self._on_message = _drop
        if self._lost:
            return
        proto = self._proto
        proto.fail(code, reason)
        out = proto.data_to_send()
        if out:
            self._write(out)
        self._protocol_closed()

    def _notify_closed(self) -> None:
        """Tell the receiver (push mode) that the connection is closed, once."""
        on_closed = self._on_closed
        if on_closed is None:
            return
        self._on_closed = None
        try:
            on_closed()
        except Exception:
            logger.exception("WebSocket on_closed handler raised")

    def _fail_pending(self) -> None:
        """Fail the connection with the violation held back by the protocol (if still)."""
        if self._fail_handle is not None:
            self._fail_handle.cancel()
            self._fail_handle = None
        proto = self._proto
        if proto.pending_failure is None or self._lost:
            return
        proto.fail_pending()
        out = proto.data_to_send()
        if out:
            self._write(out)
        self._protocol_closed()

    def receive_eof(self) -> None:
        """The TCP connection is gone (called by the adapter)."""
        if self._lost:
            return
        self._lost = True
        self._batch = None  # nobody will read it
        self._proto.receive_eof()
        for handle in (
            self._keepalive_handle,
            self._close_handle,
            self._fail_handle,
            self._message_handle,
        ):
            if handle is not None:
                handle.cancel()
        self._keepalive_handle = self._close_handle = self._fail_handle = None
        self._message_handle = None
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        error = self._closed_error()
        for future, _ in (self._pings or {}).values():
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: nobody has to await an unanswered ping
        self._pings = None
        self._link.connection_lost()
        waiter = self._closed_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._notify_closed()

    def _protocol_closed(self) -> None:
        """The protocol reached CLOSED: wake the reader and end the TCP connection."""
        failure = self._proto.failure
        if type(failure) is PolicyViolation and not self._closing_transport:
            # a limit of ConnectionOptions (max_fragments, message_timeout) was exceeded;
            # (max_write_buffer's abort has logged already, and closed the transport)
            logger.warning("WebSocket failed with 1008: %s", failure)
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
            self._keepalive_handle = None
        if not (self._closing_transport or self._lost):
            proto = self._proto
            if proto.is_client and proto.close_received and proto.failure is None:
                # 7.1.1: the server closes the TCP connection first; the client waits for
                # it, then gives up after close_timeout.
                self._arm_close_timer()
            else:
                self._close_transport()
        self._notify_closed()

    def _close_transport(self) -> None:
        self._closing_transport = True
        self._flush_batch()
        self._transport.close()  # flushes what is buffered first
        # a peer that does not read would hold the flush forever
        self._arm_close_timer()

    def _arm_close_timer(self) -> None:
        if self._close_handle is None and not self._lost:
            self._close_handle = self._loop.call_later(
                self.options.close_timeout, self._close_timed_out
            )

    def _close_timed_out(self) -> None:
        self._close_handle = None
        if not self._lost:
            self._transport.abort()

    # -- writing -----------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        """Every write to the transport goes through here (see _TickWrites)."""
        if not self._touched:
            tick = self._tick
            if tick is not None:
                self._touched = True
                tick.touch(self)
            self._transport.write(data)
            return
        batch = self._batch
        if batch is None:
            self._batch = [data]
            self._batch_size = len(data)
        else:
            batch.append(data)
            self._batch_size += len(data)
        if self._batch_size >= self._write_limit:
            self._flush_batch()  # the transport's own buffer limit applies from here

    def _write_first(self, data: bytes) -> None:
        """The connection's first bytes, before any frame (the 101 of ``stream.detach``):
        held in the batch until the end of this loop iteration, so that the frames written
        meanwhile (an Engine.IO open packet) leave in the same write syscall; written at
        once when writes are not coalesced. Backpressure (a batch above write_limit) and
        the close path flush it like any batch, always ahead of what came after it."""
        tick = self._tick
        if tick is None or self._touched or self._batch is not None:
            self._write(data)
            return
        self._touched = True
        tick.touch(self)
        self._batch = [data]
        self._batch_size = len(data)

    def _flush_batch(self) -> None:
        batch = self._batch
        if batch is None:
            return
        self._batch = None
        self._batch_size = 0
        if self._lost or self._transport.is_closing():
            return
        self._transport.write(batch[0] if len(batch) == 1 else b"".join(batch))

    def _end_of_iteration(self) -> None:
        self._touched = False
        if self._batch is not None:
            self._flush_batch()

    # -- sending -----------------------------------------------------------------------

    async def send(self, message: str | bytes, *, compress: bool = True) -> None:
        """Send one message (str: text, bytes: binary). Writes at once; waits only while the
        transport's write buffer is above its limit. ``compress=False``: uncompressed even
        with permessage-deflate on."""
        proto = self._proto
        if proto.state is not State.OPEN or self._lost:
            raise self._closed_or_closing()
        if self._offloads or (
            compress and proto.deflate is not None and len(message) >= OFFLOAD_SIZE
        ):
            await self._send_in_order(message, compress)
            return
        data = proto.encode_message(message, compress)
        self._write(data)
        if self._link.writing_paused:
            self._over_write_buffer(len(data))
            await self._drain()

    async def _send_in_order(self, message: str | bytes | PreparedMessage, compress: bool) -> None:
        """A send while a big message is compressed in a worker thread (zlib releases the
        GIL, so the loop goes on flushing and reading meanwhile): every send waits its turn
        behind the lock, which keeps the messages and the compressor's state in order."""
        if self._send_lock is None:
            self._send_lock = asyncio.Lock()
        self._offloads += 1
        try:
            async with self._send_lock:
                proto = self._proto
                if proto.state is not State.OPEN or self._lost:
                    raise self._closed_or_closing()
                if isinstance(message, PreparedMessage):
                    proto.send_prepared(message, compress)
                else:
                    await self._compress_and_send(message, compress)
                data = proto.data_to_send()
                self._write(data)
                if self._link.writing_paused:
                    self._over_write_buffer(len(data))
                    await self._drain()
        finally:
            self._offloads -= 1

    async def _compress_and_send(self, message: str | bytes, compress: bool) -> None:
        proto = self._proto
        deflate = proto.deflate
        if isinstance(message, str):
            opcode, payload = Opcode.TEXT, message.encode()
        else:
            opcode, payload = Opcode.BINARY, bytes(message)
        if not (
            compress
            and deflate is not None
            and len(payload) >= OFFLOAD_SIZE
            and deflate.should_compress(len(payload))
        ):
            proto.send_message(message, compress)
            return
        future = self._loop.run_in_executor(None, deflate.compress, payload)
        try:
            compressed = await asyncio.shield(future)
        except asyncio.CancelledError:
            # The compressor consumed (or will consume) this message whose frame will not
            # go out: the peer's decompressor could not follow any later message.
            if proto.state is State.OPEN and not self._lost:
                proto.send_close(CloseCode.INTERNAL_ERROR, "send cancelled while compressing")
                self._write(proto.data_to_send())
                self._arm_close_timer()
            raise
        if proto.state is not State.OPEN or self._lost:
            raise self._closed_or_closing()
        proto.send_compressed(opcode, compressed)

    async def send_prepared(self, prepared: PreparedMessage, *, compress: bool = True) -> None:
        """Send a message encoded once by ``prepare_message`` (the same bytes for many
        connections); ``compress`` as in :meth:`send`."""
        proto = self._proto
        if proto.state is not State.OPEN or self._lost:
            raise self._closed_or_closing()
        if self._offloads:
            await self._send_in_order(prepared, compress)
            return
        proto.send_prepared(prepared, compress)
        data = proto.data_to_send()
        self._write(data)
        if self._link.writing_paused:
            self._over_write_buffer(len(data))
            await self._drain()

    def send_now(self, message: str | bytes, *, compress: bool = True) -> bool:
        """Write one message at once, synchronously. Raises ConnectionClosed if the
        connection is not open. Returns False when the transport's write buffer is above
        ``write_limit`` after this write (the caller should ``await drain()`` before
        writing more), True otherwise. Keeps message order with a big message being
        compressed in a worker thread (if one is in flight, this message goes behind it
        and the call returns False)."""
        proto = self._proto
        if proto.state is not State.OPEN or self._lost:
            raise self._closed_or_closing()
        if self._offloads or (
            compress and proto.deflate is not None and len(message) >= OFFLOAD_SIZE
        ):
            self._send_later(message, compress)
            return False
        data = proto.encode_message(message, compress)
        self._write(data)
        if not self._link.writing_paused:
            return True
        self._over_write_buffer(len(data))
        return False

    def send_prepared_now(self, prepared: PreparedMessage, *, compress: bool = True) -> bool:
        """send_now() for a message encoded once by ``prepare_message``."""
        proto = self._proto
        if proto.state is not State.OPEN or self._lost:
            raise self._closed_or_closing()
        if self._offloads:
            self._send_later(prepared, compress)
            return False
        proto.send_prepared(prepared, compress)
        data = proto.data_to_send()
        self._write(data)
        if not self._link.writing_paused:
            return True
        self._over_write_buffer(len(data))
        return False

    def _send_later(self, message: str | bytes | PreparedMessage, compress: bool) -> None:
        """A synchronous send that must wait its turn behind an offloaded compression (or
        is one): a task takes it through _send_in_order; drain() waits for it. Rare (big
        messages with permessage-deflate only), so a task here costs the hot path
        nothing."""
        # counted from now, so that the next send_now() goes behind this one
        self._offloads += 1
        task = self._loop.create_task(self._send_queued(message, compress))
        task.add_done_callback(_retrieve)
        self._offload_task = task

    async def _send_queued(self, message: str | bytes | PreparedMessage, compress: bool) -> None:
        try:
            await self._send_in_order(message, compress)
        finally:
            self._offloads -= 1

    async def drain(self) -> None:
        """Wait until the write buffer is below its limit (and any send_now() waiting
        behind an offloaded compression was written); raises ConnectionClosed if the
        connection closes."""
        task = self._offload_task
        if task is not None:
            with contextlib.suppress(ConnectionClosed):
                await asyncio.shield(task)
            if self._offload_task is task:
                self._offload_task = None
        if self.closed:
            raise self._closed_error()
        if self._link.writing_paused:
            await self._drain()
        if self.closed:
            raise self._closed_error()

    def _closed_or_closing(self) -> ConnectionClosed:
        if self.closed:
            return self._closed_error()
        return ConnectionClosed(CloseCode.NO_STATUS_RCVD, "the close handshake is in progress")

    async def _drain(self) -> None:
        try:
            await self._link.drain()
        except ConnectionError as exc:
            raise self._closed_error() from exc
        if self._lost:
            raise self._closed_error()

    async def ping(self, data: bytes = b"") -> Awaitable[float]:
        """Send a ping; the returned awaitable gives the round-trip time in seconds when its
        pong arrives (5.5.3: a pong answers the ping with the same payload; one pong may
        answer several pings, so earlier ones are resolved too)."""
        proto = self._proto
        if proto.state is not State.OPEN or self._lost:
            raise self._closed_or_closing()
        if not data:
            self._ping_counter += 1
            data = struct.pack("!I", self._ping_counter & 0xFFFFFFFF)
        pings = self._pings
        if pings is None:
            pings = self._pings = {}
        elif data in pings:
            raise InvalidState("a ping with this payload is already waiting for its pong")
        proto.send_ping(data)
        future: asyncio.Future[float] = self._loop.create_future()
        pings[data] = (future, self._loop.time())
        out = proto.data_to_send()
        self._write(out)
        if self._link.writing_paused:
            self._over_write_buffer(len(out))
            await self._drain()
        return future

    def _receive_pong(self, payload: bytes) -> None:
        pings = self._pings
        if pings is None or payload not in pings:
            return  # 5.5.3: "A response to an unsolicited Pong frame is not expected."
        now = self._loop.time()
        while pings:
            key = next(iter(pings))
            future, sent = pings.pop(key)
            if not future.done():
                future.set_result(now - sent)
            if key == payload:
                break
        if payload == self._keepalive_payload:
            self._keepalive_payload = None
            if self._keepalive_handle is not None:
                self._keepalive_handle.cancel()
            self._schedule_keepalive()

    def _schedule_keepalive(self) -> None:
        interval = self.options.ping_interval
        if interval is not None and interval > 0 and not self.closed:
            self._keepalive_handle = self._loop.call_later(interval, self._keepalive_ping)
        else:
            self._keepalive_handle = None

    def _keepalive_ping(self) -> None:
        self._keepalive_handle = None
        proto = self._proto
        if proto.state is not State.OPEN or self._lost:
            return
        self._ping_counter += 1
        payload = struct.pack("!I", self._ping_counter & 0xFFFFFFFF)
        proto.send_ping(payload)
        future: asyncio.Future[float] = self._loop.create_future()
        if self._pings is None:
            self._pings = {}
        self._pings[payload] = (future, self._loop.time())
        self._keepalive_payload = payload
        self._write(proto.data_to_send())
        timeout = self.options.ping_timeout
        if timeout is not None and timeout > 0:
            self._keepalive_handle = self._loop.call_later(timeout, self._keepalive_timed_out)
        else:
            self._schedule_keepalive()

    def _keepalive_timed_out(self) -> None:
        self._keepalive_handle = None
        proto = self._proto
        if proto.state is State.OPEN and not self._lost:
            proto.send_close(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
            self._write(proto.data_to_send())
            proto.receive_eof()  # we stop here: the peer is not answering
            proto.close_code = CloseCode.ABNORMAL_CLOSURE
            proto.close_reason = "keepalive ping timeout"
            self._protocol_closed()

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Run the close handshake (7.1.2) and wait until the TCP connection is closed,
        at most about ``close_timeout``."""
        proto = self._proto
        if proto.pending_failure is not None:
            self._fail_pending()  # the peer's violation decides the close code
        if proto.state is State.OPEN and not self._lost:
            proto.send_close(code, reason)
            self._write(proto.data_to_send())
            self._arm_close_timer()
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is closed."""
        if self._lost:
            return
        if self._closed_waiter is None:
            self._closed_waiter = self._loop.create_future()
        await asyncio.shield(self._closed_waiter)


def _drop(message: str | bytes) -> None:
    """The receiver of a failed connection: later messages are not delivered."""


def _retrieve(task: asyncio.Task[None]) -> None:
    """Done callback of a send_now() that waited behind an offloaded compression."""
    if task.cancelled():
        return
    exc = task.exception()
    # ConnectionClosed: the connection closed meanwhile, which drain() or the next send
    # reports to the caller; anything else is a bug worth a log line
    if exc is not None and not isinstance(exc, ConnectionClosed):
        logger.error("send_now() behind a compression failed", exc_info=exc)
