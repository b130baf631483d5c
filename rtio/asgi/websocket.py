"""An accepted ASGI WebSocket as the engine uses an rtio.ws WebSocket.

The ASGI server owns the WebSocket protocol (handshake, frames, compression, its own
message size limit): rtio.ws is not used on this path. :class:`AsgiWebSocket` presents
the ASGI ``websocket.*`` messages as what the engine calls on an rtio.ws WebSocket
(``set_receiver``, ``send_now``, ``send_prepared_now``, ``drain``, ``close``,
``wait_closed``, ``closed``, ``close_code``); :func:`pump` is the receive loop that feeds
it. States: open -> closing (our close queued, or a write failed) -> closed
(``close_code`` set; the ASGI server has our close or reported ``websocket.disconnect``).
Errors: ConnectionClosed from ``send_now`` once closing; a message over
``max_message_size`` closes with 1009, a handler that raises with 1011.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import CoroutineType
from typing import Any

from rtio.ws import ConnectionClosed, Opcode, PreparedMessage

from .endable import Endable
from .spec import Message, Receive, Send

__all__ = ["AsgiWebSocket", "pump"]

logger = logging.getLogger("rtio.asgi")

_TEXT = int(Opcode.TEXT)


def _drop(message: str | bytes) -> None:
    pass


def _nothing() -> None:
    pass


class AsgiWebSocket:
    """An accepted ASGI WebSocket, as the engine uses an rtio.ws WebSocket: push-mode
    receiving (``set_receiver``; the App's receive loop calls ``deliver``), synchronous
    sends (``send_now``: queued, written in order by one task while the queue is not empty;
    False above ``write_limit`` queued bytes), ``drain``, ``close``.

    A message over ``max_message_size`` closes with 1009, as rtio.ws does (the ASGI server
    has read it whole by then: its own limit, e.g. uvicorn's ``--ws-max-size``, bounds
    that)."""

    __slots__ = (
        "_closed_event",
        "_closing",
        "_drain_waiters",
        "_max_message",
        "_on_closed",
        "_on_message",
        "_queue",
        "_queued",
        "_send",
        "_write_limit",
        "_writer",
        "close_code",
        "close_reason",
        "pump",
        "subprotocol",
    )

    def __init__(self, send: Send, max_message: int | None, write_limit: int) -> None:
        self._send = send
        self._max_message = max_message
        self._write_limit = write_limit
        self._queue: deque[tuple[Message, int]] = deque()
        self._queued = 0
        self._writer: asyncio.Task[None] | None = None
        self._on_message: Callable[[str | bytes], None] = _drop
        self._on_closed: Callable[[], None] | None = _nothing
        self._closing = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._closed_event: asyncio.Event | None = None
        #: the App's receive loop (ended once the WebSocket is closed on our side)
        self.pump: Endable | None = None
        self.subprotocol: str | None = None
        self.close_code: int | None = None
        self.close_reason = ""

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    @property
    def writer(self) -> asyncio.Task[None] | None:
        """The task writing the queue (None: nothing to write)."""
        return self._writer

    # -- receiving ---------------------------------------------------------------------------

    def set_receiver(
        self, on_message: Callable[[str | bytes], None], on_closed: Callable[[], None]
    ) -> None:
        self._on_message = on_message
        if self._on_closed is None:  # notified already: the new receiver hears it at once
            self._on_closed = on_closed
            self._notify_closed()
        else:
            self._on_closed = on_closed

    def deliver(self, message: str | bytes) -> None:
        """One message from the ASGI server."""
        if self.close_code is not None:
            return
        limit = self._max_message
        if limit is not None and len(message) * 4 > limit:
            size = len(message.encode()) if isinstance(message, str) else len(message)
            if size > limit:
                self._fail(1009, "message too big")
                return
        try:
            self._on_message(message)
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("WebSocket message handler raised")
            self._fail(1011, "message handler raised")

    def disconnected(self, code: int) -> None:
        """The ASGI server reported ``websocket.disconnect``."""
        if self.close_code is None:
            self.close_code = code
        self._closing = True
        self._queue.clear()
        self._queued = 0
        self._finish()

    def _fail(self, code: int, reason: str) -> None:
        self._on_message = _drop
        self._start_close(code, reason)
        self.close_code = code
        self._notify_closed()

    def _notify_closed(self) -> None:
        on_closed = self._on_closed
        if on_closed is None:
            return
        self._on_closed = None
        try:
            on_closed()
        except Exception:
            logger.exception("WebSocket on_closed handler raised")

    def _finish(self) -> None:
        self._wake_drain_waiters()
        if self._closed_event is not None:
            self._closed_event.set()
        self._notify_closed()
        pump = self.pump
        if pump is not None:
            pump.end()

    # -- sending -----------------------------------------------------------------------------

    def send_now(self, message: str | bytes, *, compress: bool = True) -> bool:
        """Queue ``message``; False once more than ``write_limit`` bytes wait (``drain``)."""
        if self._closing:
            raise ConnectionClosed(self.close_code or 1006, self.close_reason)
        if isinstance(message, str):
            return self._push({"type": "websocket.send", "text": message}, len(message))
        return self._push({"type": "websocket.send", "bytes": bytes(message)}, len(message))

    def send_prepared_now(self, prepared: PreparedMessage, *, compress: bool = True) -> bool:
        payload = prepared.payload
        if prepared.opcode == _TEXT:
            return self.send_now(payload.decode())
        return self.send_now(payload)

    def _push(self, message: Message, size: int) -> bool:
        if self._writer is None:
            # Nothing queued: step the ASGI server's send by hand. uvicorn's (and most
            # servers') returns at its first step when the transport is writable, so the
            # message is written now, with no task and no queue: 11.8 -> 9.4 µs per echo
            # (benchmarks/asgi/bench_asgi_echo.py). If it waits (the transport applies
            # backpressure) or fails, a writer task takes the coroutine over from where it
            # stopped, and what follows queues behind it, as before.
            coro = self._send(message)
            if type(coro) is not CoroutineType:  # an awaitable of another kind: await it
                self._writer = asyncio.get_running_loop().create_task(self._write(coro))
                return True
            try:
                waiting = coro.send(None)
            except StopIteration:
                return True
            except Exception as exc:
                self._writer = asyncio.get_running_loop().create_task(self._write(_Failed(exc)))
                return True
            self._writer = asyncio.get_running_loop().create_task(
                self._write(_Resumed(coro, waiting))
            )
            return True
        self._queue.append((message, size))
        self._queued += size
        return self._queued <= self._write_limit

    async def _write(self, in_flight: Awaitable[Any] | None = None) -> None:
        queue = self._queue
        send = self._send
        low = self._write_limit // 4
        try:
            if in_flight is not None:
                await in_flight
            while queue:
                message, size = queue.popleft()
                self._queued -= size
                await send(message)
                if self._drain_waiters and self._queued <= low:
                    self._wake_drain_waiters()
                if message["type"] == "websocket.close":
                    self._finish()
                    break
        except Exception as exc:  # the connection is gone (each server has its own error)
            logger.debug("WebSocket write failed: %r", exc)
            queue.clear()
            self._queued = 0
            if self.close_code is None:
                self.close_code = 1006
            self._closing = True
            self._finish()
        finally:
            self._writer = None
            self._wake_drain_waiters()

    def _wake_drain_waiters(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def drain(self) -> None:
        """Wait until at most a quarter of ``write_limit`` bytes are queued."""
        while self._queued > self._write_limit // 4 and self._writer is not None:
            fut = asyncio.get_running_loop().create_future()
            self._drain_waiters.append(fut)
            await fut

    def _start_close(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        self.close_reason = reason
        message: Message = {"type": "websocket.close", "code": code}
        if reason:
            message["reason"] = reason
        self._queue.append((message, 0))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close after what is queued; done once the ASGI server has it."""
        if self.close_code is None:
            self._start_close(code, reason)
            if self.close_code is None:
                # our code, unless the peer's disconnect comes first
                self.close_code = code
        await self.wait_closed()

    async def wait_closed(self) -> None:
        writer = self._writer
        if writer is not None:
            await asyncio.shield(writer)
        if self._closed_event is None:
            self._closed_event = asyncio.Event()
            if self.close_code is not None and self._writer is None:
                self._closed_event.set()
        await self._closed_event.wait()


class _Resumed:
    """``await`` a coroutine that was stepped once by hand (``waiting``: what its first step
    yielded), to its end, in the task that awaits this."""

    __slots__ = ("_coro", "_waiting")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
        self._coro = coro
        self._waiting = waiting

    def __await__(self) -> Generator[Any, Any, None]:
        coro = self._coro
        value = self._waiting
        self._waiting = None
        try:
            while True:
                try:
                    sent = yield value
                except GeneratorExit:
                    coro.close()
                    raise
                except BaseException as exc:
                    value = coro.throw(exc)
                else:
                    value = coro.send(sent)
        except StopIteration:
            return


class _Failed:
    """``await`` raises ``exc`` (a send that failed at its first step, by hand)."""

    __slots__ = ("_exc",)

    def __init__(self, exc: Exception) -> None:
        self._exc = exc

    def __await__(self) -> Generator[Any, Any, None]:
        raise self._exc
        yield  # a generator


async def pump(receive: Receive, ws: AsgiWebSocket) -> None:
    """Feed the ASGI server's ``websocket.receive`` messages to ``ws`` until it reports
    ``websocket.disconnect`` (or ``ws`` ends the loop: ``ws.pump.end()``)."""
    deliver = ws.deliver
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            if text is not None:
                deliver(text)
            else:
                deliver(message.get("bytes") or b"")
        elif kind == "websocket.disconnect":
            code = int(message.get("code", 1005))
            if code == 1005 and "reason" not in message:
                # uvicorn reports a connection lost without a close frame as 1005 with no
                # reason (a close frame without a code has reason ""): rtio.ws says 1006
                code = 1006
            ws.disconnected(code)
            return
