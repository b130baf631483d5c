"""What the engine needs of an HTTP server, so that the same Engine.IO code runs behind
either front:

- aiohttp's web stack (``EngineServer.attach(app)``: a route; aiohttp_front.py adapts a
  ``web.Request``), or
- rtio's own HTTP/1.1 front (``rtio.http``): a small asyncio protocol that answers the
  Engine.IO path itself, with no Request/Response objects, and hands any other request of
  the connection to aiohttp.

The engine handles one request with ``await EngineServer.handle(request)`` and gets an
``HttpResponse`` back, or None once the request was switched to a WebSocket (the 101 was
written by ``request.accept_websocket``; nothing more is answered on that connection).

Contract of a front (tests/engine/test_http_contract.py checks both):
- ``query``: the first value of each query parameter, percent-decoded;
  ``headers``: case-insensitive lookup, the first value of each header.
- ``read_body(limit)`` raises PayloadTooLarge beyond ``limit`` bytes before buffering them.
- If the client's connection is lost while ``handle`` is awaiting (a long-poll GET), the
  task running ``handle`` is cancelled (aiohttp's handler cancellation does this).
- ``accept_websocket`` answers 101 with rtio.ws's handshake (raising HandshakeRefused when
  the handshake is invalid) and returns a WebSocket that lives on its own: returning from
  ``handle`` does not close it.
- The front adds Content-Length (and Date/Server if it wants) to ``HttpResponse.headers``.
- ``HttpResponse.close``: the front closes the connection once the answer is written (the
  body of the request was not read: a refused or timed-out POST).

``BodyRead`` awaits a front's ``read_body`` with a deadline that its owner may also end
early (a session's close ends its pending POST).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator, Mapping
from typing import Any, Protocol

from rtio.ws import ServerOptions, WebSocket

__all__ = ["BodyRead", "BodyReadEnded", "HttpRequest", "HttpResponse"]


class HttpResponse:
    """An answer: status, headers (besides Content-Length), body; ``close``: close the
    connection after it."""

    __slots__ = ("body", "close", "headers", "status")

    def __init__(
        self, status: int, headers: dict[str, str], body: bytes = b"", *, close: bool = False
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.close = close

    def __repr__(self) -> str:
        return f"HttpResponse({self.status}, {self.headers!r}, {self.body[:40]!r})"


class HttpRequest(Protocol):
    """One HTTP request, as a front gives it to the engine."""

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def query(self) -> Mapping[str, str]: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def cookies(self) -> Mapping[str, str]: ...

    @property
    def remote(self) -> str | None: ...

    @property
    def transport(self) -> asyncio.BaseTransport | None:
        """The connection (a pending poll checks ``is_closing()`` before it is answered)."""
        ...

    @property
    def content_type(self) -> str:
        """The media type of Content-Type, without parameters, lower-case ('' if none)."""
        ...

    async def read_body(self, limit: int) -> bytes: ...

    async def accept_websocket(
        self, options: ServerOptions, headers: Mapping[str, str] | None
    ) -> WebSocket: ...


class BodyReadEnded(Exception):
    """A ``BodyRead`` was ended before the body was all there: ``reason`` is "timeout" (its
    deadline passed) or what its owner gave to ``end``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BodyRead:
    """``await BodyRead(request.read_body(limit), loop, timeout)``: the body, or
    BodyReadEnded once ``timeout`` seconds passed or ``end(reason)`` was called.

    It needs no task of its own and costs nothing when the body came with the head (the
    read finishes at its first step; the usual POST): rtio.http runs a handler's first step
    outside any task, so ``asyncio.timeout`` is not usable there. A read that has to wait
    gets a timer; ending it cancels the future the read waits on (what ``Task.cancel``
    does), and the CancelledError that comes out of the read becomes BodyReadEnded."""

    __slots__ = ("_coro", "_loop", "_timeout", "_waiting", "ended")

    def __init__(
        self,
        coro: Coroutine[Any, Any, bytes],
        loop: asyncio.AbstractEventLoop,
        timeout: float,
    ) -> None:
        self._coro = coro
        self._loop = loop
        self._timeout = timeout
        self._waiting: object = None
        #: why the read was ended (None: it was not)
        self.ended: str | None = None

    def end(self, reason: str) -> None:
        """Make the pending read fail with BodyReadEnded(reason) (no-op once it is over)."""
        if self.ended is None:
            self.ended = reason
        waiting = self._waiting
        if isinstance(waiting, asyncio.Future) and not waiting.done():
            waiting.cancel()

    def __await__(self) -> Generator[Any, Any, bytes]:
        coro = self._coro
        try:
            value = coro.send(None)
        except StopIteration as stop:
            body: bytes = stop.value
            return body
        handle = self._loop.call_later(self._timeout, self.end, "timeout")
        try:
            while True:
                self._waiting = value
                if self.ended is not None and isinstance(value, asyncio.Future):
                    value.cancel()  # ended before this wait began
                try:
                    sent = yield value
                except GeneratorExit:
                    coro.close()
                    raise
                except BaseException as exc:  # (a cancelled wait, or the task's cancel)
                    value = coro.throw(exc)
                else:
                    if self.ended is None:
                        value = coro.send(sent)
                    else:
                        value = coro.throw(asyncio.CancelledError())
        except StopIteration as stop:
            body = stop.value
            return body
        except asyncio.CancelledError:
            if self.ended is not None:
                raise BodyReadEnded(self.ended) from None
            raise
        finally:
            handle.cancel()
            self._waiting = None
