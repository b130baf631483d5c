"""asyncio glue: the application's WebSocket object over a WebSocketProtocol.

Owns the delivery of incoming messages, sending, the close handshake and its timers, and
flow control in both directions; it is the one place that drives the sans-I/O protocol.
Knows nothing of HTTP: the aiohttp adapter (server) and client.py (client) do the opening
handshake, then feed bytes in through ``receive_data`` / ``receive_eof`` and give a
``Link`` (link.py: the transport's writes, coalesced per loop iteration by writes.py, and
pause/resume). Keepalive pings are keepalive.py's, compression in a worker thread
offload.py's, the options options.py's.

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
import enum
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from .errors import ConnectionClosed, InvalidState, PolicyViolation
from .frames import CloseCode, Opcode
from .keepalive import Pings
from .link import Link
from .offload import SendQueue, compress_in_thread
from .options import DEFAULT_OPTIONS, ConnectionOptions, ServerOptions, open_protocol
from .protocol import Event, Pong, PreparedMessage, State, WebSocketProtocol

# ConnectionOptions, ServerOptions, Link and open_protocol: re-exported for the adapters
__all__ = [
    "ConnectionOptions",
    "Link",
    "ServerOptions",
    "TransportState",
    "WebSocket",
    "open_protocol",
]

logger = logging.getLogger("rtio.ws")

_NORMAL_CODES = frozenset(
    {CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD}
)


class TransportState(enum.Enum):
    """The TCP connection under a WebSocket, as the WebSocket sees it (the close handshake
    itself is the protocol's State)."""

    OPEN = "open"  # bytes flow both ways
    CLOSING = "closing"  # we closed or aborted the transport; its end is not reported yet
    LOST = "lost"  # the TCP connection is gone (receive_eof)


LOST = TransportState.LOST


class WebSocket:
    """One WebSocket connection, for the application."""

    # slots: one is created per connection set-up, and most of its attributes stay at their
    # first value for the connection's life (a connection set-up costs ~1 us less, an idle
    # connection ~100 bytes less than with an instance dict)
    __slots__ = (
        "__weakref__",
        "_close_handle",
        "_closed_waiter",
        "_fail_handle",
        "_link",
        "_loop",
        "_max_queue",
        "_message_handle",
        "_message_serial",
        "_messages",
        "_on_closed",
        "_on_message",
        "_pings",
        "_proto",
        "_reading_paused",
        "_recv_waiter",
        "_send_queue",
        "_tcp",
        "_write_blocked",
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
            options = DEFAULT_OPTIONS
        self._proto = protocol
        self._link = link
        self._loop = asyncio.get_running_loop()
        self._tcp = TransportState.OPEN
        self.subprotocol = subprotocol
        self.options = options  # shared by every connection of a server: never copied
        # a list, not a deque: at most max_queue items, and an empty deque costs 760 bytes
        # per connection (an empty list, 56)
        self._messages: list[str | bytes] = []
        self._recv_waiter: asyncio.Future[None] | None = None
        self._max_queue = max(options.max_queue, 1)
        # reading is paused while either is set (two reasons, each lifted on its own): the
        # queue is full (iterator mode), or the transport's write buffer is above
        # write_limit (any mode)
        self._reading_paused = False
        self._write_blocked = False
        # the time limit of the fragmented message being received, and which one it is
        self._message_handle: asyncio.TimerHandle | None = None
        self._message_serial = 0
        # pings waiting for their pong, and keepalive (created on the first ping: an idle
        # connection without keepalive never needs it)
        self._pings: Pings | None = None
        self._close_handle: asyncio.TimerHandle | None = None
        self._fail_handle: asyncio.TimerHandle | None = None
        # sends in line behind a big message compressed in a worker thread (offload.py)
        self._send_queue: SendQueue | None = None
        # push mode (set_receiver)
        self._on_message: Callable[[str | bytes], None] | None = None
        self._on_closed: Callable[[], None] | None = None  # None again once called
        # created when someone waits (wait_closed, close); set when the TCP connection ends
        self._closed_waiter: asyncio.Future[None] | None = None
        link.set_write_limit(options.write_limit, coalesce=options.coalesce_writes)
        if options.ping_interval:
            self._pings_of().start_keepalive()

    # -- state -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once no more messages can be sent or received (the close handshake is done
        or the connection failed or dropped)."""
        return self._proto.state is State.CLOSED or self._tcp is LOST

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
        return self._link.transport

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
                    if not (self._tcp is LOST or self._write_blocked):
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
            self._link.write(out)
        if self._link.writing_paused and not self._write_blocked:
            self._block_reading(len(out))
        if proto.message_opcode:
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
            self._wake_reader()
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
        if self._tcp is LOST or self._over_write_buffer(written):
            return
        self._write_blocked = True
        self._proto.answer_latest_ping_only = True
        if not self._reading_paused:
            self._link.pause_reading()
        self._link.call_when_writable(self._writes_drained)

    def _writes_drained(self) -> None:
        self._write_blocked = False
        self._proto.answer_latest_ping_only = False
        if not (self._tcp is LOST or self._reading_paused):
            self._link.resume_reading()

    def _over_write_buffer(self, written: int) -> bool:
        """Called with writing paused, after a write of ``written`` bytes: True (and the
        connection aborted) if more than max_write_buffer bytes were waiting for the peer
        before that write."""
        limit = self.options.max_write_buffer
        if limit is None or self._tcp is LOST:
            return False
        buffered = self._link.write_buffer_size()
        if buffered is None:
            return False
        waiting = buffered - written
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
        self._tcp = TransportState.CLOSING
        self._wake_reader()
        self._link.abort()

    def _start_message_timer(self) -> None:
        """A fragmented message began (in this receive_data): time it."""
        self._message_serial = self._proto.fragmented_messages
        if self._message_handle is not None:
            self._message_handle.cancel()
            self._message_handle = None
        timeout = self.options.message_timeout
        if timeout is not None and self._tcp is not LOST:
            self._message_handle = self._loop.call_later(timeout, self._message_timed_out)

    def _message_timed_out(self) -> None:
        self._message_handle = None
        if not self._can_send():
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
            self._link.write(out)
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
        self._wake_reader()  # a pending recv() raises InvalidState
        queued, self._messages = self._messages, []
        if self._reading_paused:
            self._reading_paused = False
            if not (self._tcp is LOST or self._write_blocked):
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
        if self._tcp is LOST:
            return
        proto = self._proto
        proto.fail(code, reason)
        out = proto.data_to_send()
        if out:
            self._link.write(out)
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
        if proto.pending_failure is None or self._tcp is LOST:
            return
        proto.fail_pending()
        out = proto.data_to_send()
        if out:
            self._link.write(out)
        self._protocol_closed()

    def receive_eof(self) -> None:
        """The TCP connection is gone (called by the adapter)."""
        if self._tcp is LOST:
            return
        self._tcp = LOST
        self._proto.receive_eof()
        for handle in (self._close_handle, self._fail_handle, self._message_handle):
            if handle is not None:
                handle.cancel()
        self._close_handle = self._fail_handle = self._message_handle = None
        self._wake_reader()
        if self._pings is not None:
            self._pings.close(self._closed_error())
        self._link.connection_lost()
        waiter = self._closed_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._notify_closed()

    def _protocol_closed(self) -> None:
        """The protocol reached CLOSED: wake the reader and end the TCP connection."""
        failure = self._proto.failure
        if type(failure) is PolicyViolation and self._tcp is not TransportState.CLOSING:
            # a limit of ConnectionOptions (max_fragments, message_timeout) was exceeded;
            # (max_write_buffer's abort has logged already, and closed the transport)
            logger.warning("WebSocket failed with 1008: %s", failure)
        self._wake_reader()
        if self._pings is not None:
            self._pings.stop_keepalive()
        if self._tcp is TransportState.OPEN:
            proto = self._proto
            if proto.is_client and proto.close_received and proto.failure is None:
                # 7.1.1: the server closes the TCP connection first; the client waits for
                # it, then gives up after close_timeout.
                self._arm_close_timer()
            else:
                self._close_transport()
        self._notify_closed()

    def _close_transport(self) -> None:
        self._tcp = TransportState.CLOSING
        self._link.close()  # flushes what is buffered first
        # a peer that does not read would hold the flush forever
        self._arm_close_timer()

    def _arm_close_timer(self) -> None:
        if self._close_handle is None and self._tcp is not LOST:
            self._close_handle = self._loop.call_later(
                self.options.close_timeout, self._close_timed_out
            )

    def _close_timed_out(self) -> None:
        self._close_handle = None
        if self._tcp is not LOST:
            self._link.abort()

    def _wake_reader(self) -> None:
        """A recv() waiting has something to look at (a message, or the end)."""
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- sending -----------------------------------------------------------------------

    def _check_open(self) -> None:
        """The one send guard: raise ConnectionClosed unless a message (or a ping) may be
        sent now."""
        if self._proto.state is not State.OPEN or self._tcp is LOST:
            if self.closed:
                raise self._closed_error()
            raise ConnectionClosed(CloseCode.NO_STATUS_RCVD, "the close handshake is in progress")

    def _can_send(self) -> bool:
        """_check_open() as a test, for the paths that do not raise (timers, close)."""
        try:
            self._check_open()
        except ConnectionClosed:
            return False
        return True

    def _offloaded(self, message: str | bytes | PreparedMessage, compress: bool) -> bool:
        """This send must go through the send queue: one is in line, or it is a message
        big enough to be compressed in a worker thread (options.offload_size). Only asked
        with a send queue or permessage-deflate: the hot path skips the call."""
        if self._send_queue is not None and self._send_queue.busy:
            return True
        return (
            compress
            and self._proto.deflate is not None
            and not isinstance(message, PreparedMessage)
            and len(message) >= self.options.offload_size
        )

    async def send(self, message: str | bytes, *, compress: bool = True) -> None:
        """Send one message (str: text, bytes: binary). Writes at once; waits only while the
        transport's write buffer is above its limit. ``compress=False``: uncompressed even
        with permessage-deflate on."""
        self._check_open()
        if (self._send_queue is not None or self._proto.deflate is not None) and (
            self._offloaded(message, compress)
        ):
            await self._queue().run(lambda: self._send_offloaded(message, compress))
            return
        data = self._proto.encode_message(message, compress)
        link = self._link
        link.write(data)
        if link.writing_paused:
            self._over_write_buffer(len(data))
            await self._drain()

    async def send_prepared(self, prepared: PreparedMessage, *, compress: bool = True) -> None:
        """Send a message encoded once by ``prepare_message`` (the same bytes for many
        connections); ``compress`` as in :meth:`send`."""
        self._check_open()
        if self._send_queue is not None and self._offloaded(prepared, compress):
            await self._queue().run(lambda: self._send_offloaded(prepared, compress))
            return
        proto = self._proto
        proto.send_prepared(prepared, compress)
        data = proto.data_to_send()
        link = self._link
        link.write(data)
        if link.writing_paused:
            self._over_write_buffer(len(data))
            await self._drain()

    def send_now(self, message: str | bytes, *, compress: bool = True) -> bool:
        """Write one message at once, synchronously. Raises ConnectionClosed if the
        connection is not open. Returns False when the transport's write buffer is above
        ``write_limit`` after this write (the caller should ``await drain()`` before
        writing more), True otherwise. Keeps message order with a big message being
        compressed in a worker thread (if one is in flight, this message goes behind it
        and the call returns False)."""
        self._check_open()
        if (self._send_queue is not None or self._proto.deflate is not None) and (
            self._offloaded(message, compress)
        ):
            self._queue().later(lambda: self._send_offloaded(message, compress))
            return False
        data = self._proto.encode_message(message, compress)
        link = self._link
        link.write(data)
        if not link.writing_paused:
            return True
        self._over_write_buffer(len(data))
        return False

    def send_prepared_now(self, prepared: PreparedMessage, *, compress: bool = True) -> bool:
        """send_now() for a message encoded once by ``prepare_message``."""
        self._check_open()
        if self._send_queue is not None and self._offloaded(prepared, compress):
            self._queue().later(lambda: self._send_offloaded(prepared, compress))
            return False
        proto = self._proto
        proto.send_prepared(prepared, compress)
        data = proto.data_to_send()
        link = self._link
        link.write(data)
        if not link.writing_paused:
            return True
        self._over_write_buffer(len(data))
        return False

    def _queue(self) -> SendQueue:
        if self._send_queue is None:
            self._send_queue = SendQueue()
        return self._send_queue

    async def _send_offloaded(
        self, message: str | bytes | PreparedMessage, compress: bool
    ) -> None:
        """A send whose turn came in the send queue: a big message is compressed in a
        worker thread meanwhile (offload.py)."""
        self._check_open()
        proto = self._proto
        if isinstance(message, PreparedMessage):
            proto.send_prepared(message, compress)
        else:
            await self._compress_and_send(message, compress)
        data = proto.data_to_send()
        self._link.write(data)
        if self._link.writing_paused:
            self._over_write_buffer(len(data))
            await self._drain()

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
            and len(payload) >= self.options.offload_size
            and deflate.should_compress(len(payload))
        ):
            proto.send_message(message, compress)
            return
        try:
            compressed = await compress_in_thread(deflate, payload)
        except asyncio.CancelledError:
            # The compressor consumed (or will consume) this message whose frame will not
            # go out: the peer's decompressor could not follow any later message.
            if self._can_send():
                proto.send_close(CloseCode.INTERNAL_ERROR, "send cancelled while compressing")
                self._link.write(proto.data_to_send())
                self._arm_close_timer()
            raise
        self._check_open()
        proto.send_compressed(opcode, compressed)

    async def drain(self) -> None:
        """Wait until the write buffer is below its limit (and any send_now() waiting
        behind an offloaded compression was written); raises ConnectionClosed if the
        connection closes."""
        if self._send_queue is not None:
            await self._send_queue.wait()
        if self.closed:
            raise self._closed_error()
        if self._link.writing_paused:
            await self._drain()
        if self.closed:
            raise self._closed_error()

    async def _drain(self) -> None:
        try:
            await self._link.drain()
        except ConnectionError as exc:
            raise self._closed_error() from exc
        if self._tcp is LOST:
            raise self._closed_error()

    # -- pings -------------------------------------------------------------------------

    def _pings_of(self) -> Pings:
        pings = self._pings
        if pings is None:
            pings = self._pings = Pings(
                self._loop,
                interval=self.options.ping_interval,
                timeout=self.options.ping_timeout,
                send=self._send_ping,
                timed_out=self._keepalive_timed_out,
            )
        return pings

    def _send_ping(self, payload: bytes) -> int:
        """Write a ping: the bytes written (0: none, the connection cannot send)."""
        if not self._can_send():
            return 0
        self._proto.send_ping(payload)
        data = self._proto.data_to_send()
        self._link.write(data)
        return len(data)

    async def ping(self, data: bytes = b"") -> Awaitable[float]:
        """Send a ping; the returned awaitable gives the round-trip time in seconds when its
        pong arrives (5.5.3: a pong answers the ping with the same payload; one pong may
        answer several pings, so earlier ones are resolved too)."""
        self._check_open()
        pings = self._pings_of()
        if not data:
            data = pings.new_payload()
        future = pings.add(data)
        written = self._send_ping(data)
        if self._link.writing_paused:
            self._over_write_buffer(written)
            await self._drain()
        return future

    def _receive_pong(self, payload: bytes) -> None:
        if self._pings is not None:
            self._pings.receive_pong(payload)

    def _keepalive_timed_out(self) -> None:
        proto = self._proto
        if self._can_send():
            proto.send_close(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
            self._link.write(proto.data_to_send())
            proto.receive_eof()  # we stop here: the peer is not answering
            proto.close_code = CloseCode.ABNORMAL_CLOSURE
            proto.close_reason = "keepalive ping timeout"
            self._protocol_closed()

    # -- closing -----------------------------------------------------------------------

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Run the close handshake (7.1.2) and wait until the TCP connection is closed,
        at most about ``close_timeout``."""
        proto = self._proto
        if proto.pending_failure is not None:
            self._fail_pending()  # the peer's violation decides the close code
        if self._can_send():
            proto.send_close(code, reason)
            self._link.write(proto.data_to_send())
            self._arm_close_timer()
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is closed."""
        if self._tcp is LOST:
            return
        if self._closed_waiter is None:
            self._closed_waiter = self._loop.create_future()
        await asyncio.shield(self._closed_waiter)


def _drop(message: str | bytes) -> None:
    """The receiver of a failed connection: later messages are not delivered."""


