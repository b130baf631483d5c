"""asyncio glue, application side: the WebSocket object the application holds.

``WebSocket`` adds to ``WebSocketDriver`` (driver.py: bytes in, the connection's end,
failures and limits) what the application calls. Two ways to receive: ``recv()`` / ``async
for`` (messages wait in a bounded queue, messages.py; reading pauses when it is full), or
push mode (``set_receiver``: each message is handed to a callback from ``receive_data``,
with no queue, task or future per message). Two ways to send: ``await send()``, or
``send_now()`` which writes synchronously and says whether the caller should ``await
drain()`` before writing more; big messages with permessage-deflate are compressed in a
worker thread (offload.py). Also ``ping`` (keepalive.py) and the close handshake.

Options are options.py's; ConnectionOptions, ServerOptions, Link and open_protocol are
re-exported here for the adapters and benchmarks that import them from this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from .driver import LOST, TransportState, WebSocketDriver
from .errors import ConnectionClosed, InvalidState
from .frames import CloseCode, Opcode
from .link import Link
from .offload import SendQueue, compress_in_thread
from .options import ConnectionOptions, ServerOptions, open_protocol
from .protocol import PreparedMessage

__all__ = [
    "ConnectionOptions",
    "Link",
    "ServerOptions",
    "TransportState",
    "WebSocket",
    "open_protocol",
]

_NORMAL_CODES = frozenset(
    {CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD}
)


class WebSocket(WebSocketDriver):
    """One WebSocket connection, for the application."""

    __slots__ = ()  # every attribute is WebSocketDriver's

    # -- receiving ---------------------------------------------------------------------

    async def recv(self) -> str | bytes:
        """The next message (str for text, bytes for binary); raises ConnectionClosed once
        the connection is closed and every received message was returned."""
        while True:
            if self._on_message is not None:
                raise InvalidState("recv() in push mode: messages go to the receiver")
            inbox = self._inbox
            if inbox is None:
                inbox = self._inbox_of()
            messages = inbox.messages
            if messages:
                message = messages.pop(0)
                if inbox.full:
                    inbox.taken()
                if not messages and self._proto.pending_failure is not None:
                    # The app answers this message first (an echo's send() writes before
                    # it awaits anything), then the violation behind it fails the
                    # connection: on the next recv() or, at the latest, on the next turn
                    # of the loop.
                    self._loop.call_soon(self._fail_pending)
                return message
            if self._proto.pending_failure is not None:
                self._fail_pending()
            if self.closed:
                raise self._closed_error()
            await inbox.wait()

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        """``async for message in ws``: every message until the connection closes; ends
        cleanly on a normal close (1000, 1001, 1005), raises ConnectionClosed otherwise."""
        return self

    async def __anext__(self) -> str | bytes:
        inbox = self._inbox
        if (
            inbox is not None
            and inbox.messages
            and not inbox.full
            and self._proto.pending_failure is None
        ):
            return inbox.messages.pop(0)  # the common case, without recv()'s bookkeeping
        try:
            return await self.recv()
        except ConnectionClosed as exc:
            if exc.code in _NORMAL_CODES:
                raise StopAsyncIteration from None
            raise

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
        inbox, self._inbox = self._inbox, None
        queued = inbox.take_all() if inbox is not None else []
        if not self._deliver(queued, on_message):
            return  # a handler raised (the connection failed) or replaced the receiver
        if self._proto.pending_failure is not None:
            self._fail_pending()
        if self.closed:
            self._notify_closed()

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

    async def _send_offloaded(self, message: str | bytes | PreparedMessage, compress: bool) -> None:
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
