"""asyncio glue, network side: drives a WebSocketProtocol from the connection below it.

Owns what the network does to a WebSocket: bytes in (``receive_data``: the protocol's
events, its answers written, messages queued for ``recv()`` or handed to the push-mode
receiver), the end of the connection (``receive_eof``), the close handshake's timers,
failing the connection (the peer's violations, the limits the glue enforces: max_queue,
write_limit and max_write_buffer, message_timeout) and the transport's state
(``TransportState``). ``WebSocket`` (connection.py) subclasses it with what the application
calls (send, recv, ping, close); the two are one object, split in two modules by side.

Knows nothing of HTTP: the adapters (aiohttp_adapter.py, stream.py, client.py) do the
opening handshake, then feed bytes in and give a ``Link`` (link.py: the transport's writes,
coalesced per loop iteration by writes.py, and flow control in both directions).
Keepalive pings are keepalive.py's, the queue for ``recv()`` messages.py's.

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
from collections.abc import Callable, Iterable

from .errors import ConnectionClosed, PolicyViolation
from .frames import CloseCode
from .keepalive import Pings
from .link import Link, ReadHold
from .messages import Inbox
from .offload import SendQueue
from .options import DEFAULT_OPTIONS, ConnectionOptions
from .protocol import Event, Pong, State, WebSocketProtocol

__all__ = ["LOST", "OPEN", "TransportState", "WebSocketDriver"]

logger = logging.getLogger("rtio.ws")


class TransportState(enum.Enum):
    """The TCP connection under a WebSocket, as the WebSocket sees it (the close handshake
    itself is the protocol's State)."""

    OPEN = "open"  # bytes flow both ways
    CLOSING = "closing"  # we closed or aborted the transport; its end is not reported yet
    LOST = "lost"  # the TCP connection is gone (receive_eof)


#: aliases, read on every send (the send guard): ~70 ns less per test than an enum
#: attribute lookup such as TransportState.LOST (bench_tricks.py); they pay for the guard
#: being one method rather than a test written at each send (send_now: 767 ns before the
#: split, 850 with the method, back to 7xx with these; /tmp A/B in the issue-13 report)
LOST = TransportState.LOST
OPEN = State.OPEN


class WebSocketDriver:
    """The network side of a WebSocket: drives its WebSocketProtocol from the bytes that
    arrive, and ends it. ``WebSocket`` (connection.py) adds what the application calls;
    the underscored methods below the receiving section are its interface to this class."""

    # slots: one per connection, whose attributes mostly keep their first value: an idle
    # connection costs ~45 B less than with an instance dict (bench_tricks.py, 2026-12-04;
    # the set-up time differs by noise)
    __slots__ = (
        "__weakref__",
        "_close_handle",
        "_closed_waiter",
        "_fail_handle",
        "_inbox",
        "_link",
        "_loop",
        "_message_handle",
        "_message_serial",
        "_on_closed",
        "_on_message",
        "_pings",
        "_proto",
        "_send_queue",
        "_tcp",
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
        # messages waiting for recv() (messages.py; created on first use)
        self._inbox: Inbox | None = None
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

    def receive_data(self, data: bytes) -> None:
        """Bytes from the network (called by the adapter)."""
        proto = self._proto
        events = proto.receive_data(data)
        out = proto.data_to_send()
        if out:
            self._link.write(out)
        if self._link.writing_paused and not self._link.reading_held(ReadHold.WRITE_BLOCKED):
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
            inbox = self._inbox
            if inbox is None:
                inbox = self._inbox_of()
            messages = inbox.messages
            for event in events:
                kind = type(event)
                if kind is str or kind is bytes:
                    messages.append(event)  # type: ignore[arg-type]
                elif kind is Pong:
                    self._receive_pong(event.payload)  # type: ignore[union-attr]
            inbox.added()
        if proto.pending_failure is not None:
            if self._inbox is not None and self._inbox.messages:
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
        self._proto.answer_latest_ping_only = True
        self._link.hold_reading(ReadHold.WRITE_BLOCKED)
        self._link.call_when_writable(self._writes_drained)

    def _writes_drained(self) -> None:
        self._proto.answer_latest_ping_only = False
        self._link.release_reading(ReadHold.WRITE_BLOCKED)

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
                # _deliver's body, inline: this is the push-mode hot path, once per message
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

    def _deliver(
        self, messages: Iterable[str | bytes], on_message: Callable[[str | bytes], None]
    ) -> bool:
        """Push mode: each message (queued before set_receiver) to the receiver; False (the
        connection failed, nothing more delivered) if it raised, or if it replaced the
        receiver meanwhile."""
        for message in messages:
            if self._on_message is not on_message:
                return False
            try:
                on_message(message)
            except ConnectionClosed:
                pass  # it answered after the close (see set_receiver): not a bug
            except Exception:
                logger.exception("WebSocket message handler raised")
                self._fail_locally(CloseCode.INTERNAL_ERROR, "message handler raised")
                return False
        return True

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
        if self._inbox is not None:
            self._inbox.wake()

    # -- for the application side (connection.py) -------------------------------------

    def _inbox_of(self) -> Inbox:
        """The inbox, created when the first message waits in it or recv() is first called
        (a connection in push mode from the start never has one)."""
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = Inbox(self._loop, self._link, self.options.max_queue)
        return inbox

    def _check_open(self) -> None:
        """The one send guard: raise ConnectionClosed unless a message (or a ping) may be
        sent now."""
        if self._proto.state is not OPEN or self._tcp is LOST:
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


def _drop(message: str | bytes) -> None:
    """The receiver of a failed connection: later messages are not delivered."""
