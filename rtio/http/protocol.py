"""FrontProtocol: rtio's HTTP/1.1 front, one asyncio protocol per connection.

It answers the Engine.IO paths itself (keep-alive, pipelining in order, Content-Length and
chunked bodies, 100-continue, write backpressure) with no Request/Response objects nor a
task per request, and hands any other request, with the bytes already read, to the aiohttp
app's protocol, which then keeps the connection (an Engine.IO request there still reaches
the engine through the route ``attach`` added). A WebSocket upgrade gives it to rtio.ws.

Running a request: the engine's coroutine is stepped once by hand; most requests (a POST,
a GET with packets queued, a handshake) finish in that step and are answered at once. Only
one that waits (a long-poll GET, a body still arriving) continues in a task, which a lost
connection cancels (the contract of rtio/engine/http.py). That first step runs with no
current task: a route whose handler may await application code needing one
(``asyncio.timeout``) is marked ``Route(inline=False)`` and always runs in a task. (Speed:
the inline step is rtio.stepping's, with its figure.) A response with ``close`` set (the
engine refused or gave up on the request's body) is written, then the connection closes.

Limits (FrontOptions, options.py): a head too large gets 431, a malformed one 400 (505 for
another HTTP version, 501 for an unknown transfer coding), a head or body too slow 408
(deadlines.py), then the connection closes; the body limit is the handler's
(``read_body(limit)``); while a request is in flight at most ``max_pipelined`` more is read;
a client that closes its side (EOF) is taken as gone.

Owns the connection's state and HTTP framing only: parsing is parser.py's, the bytes of
a response response.py's, the deadlines' decisions deadlines.py's, what to answer the
engine's, the WebSocket rtio.ws's, the hand-off to aiohttp rtio.aiohttp_internals'.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import CoroutineType
from typing import Any, cast

from rtio.aiohttp_internals import hand_off
from rtio.engine import HttpResponse, PayloadTooLarge
from rtio.stepping import Stepped
from rtio.ws import ServerOptions, WebSocket, serve_upgrade

from .deadlines import Waiting, expiry
from .options import FrontOptions, Handler, Redirect, Route
from .parser import BadRequest, BodyTooLarge, ChunkedDecoder, RequestHead, parse_head
from .request import FrontRequest
from .response import CONTINUE, serialize_response, text_response

__all__ = ["Front", "FrontProtocol", "State"]

logger = logging.getLogger("rtio.http")

#: parsed heads a connection keeps for reuse (keyed by their bytes). A fixed bound, not an
#: option: a cache of this connection's own recent heads (a polling client repeats its GET
#: and its POST), bounded so that a client sending ever-new heads cannot grow it. Speed:
#: ~5.8 µs per request (benchmarks/http/front_inprocess.py: a POST+GET pair 17.5 µs
#: without it, 5.9 with it, 2026-12-04).
MAX_HEADS_KEPT = 4


class Front:
    """What the connections of one listening socket share: the engine routes (path ->
    handler), the aiohttp protocol factory that takes other requests (None: answer 404),
    the open connections, and their limits (``options``; ``keepalive_timeout``, when
    given, replaces the options' own)."""
    redirect: Redirect | None = None  # may take a request's connection elsewhere (options.py)

    def __init__(
        self,
        routes: Mapping[str, Route | Handler],
        fallback: Callable[[], asyncio.Protocol] | None = None,
        *,
        keepalive_timeout: float | None = None,
        scheme: str = "http",
        options: FrontOptions | None = None,
    ) -> None:
        if options is None:
            options = FrontOptions()
        if keepalive_timeout is not None:
            options = dataclasses.replace(options, keepalive_timeout=keepalive_timeout)
        self.options = options
        #: "https" when the listening socket has TLS (the URL a request reports)
        self.scheme = scheme
        self.routes = {
            path: route if isinstance(route, Route) else Route(route)
            for path, route in routes.items()
        }
        self.fallback = fallback
        self.connections: set[FrontProtocol] = set()
        self.closing = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self) -> FrontProtocol:
        """A protocol for a new connection (the protocol factory of ``create_server``)."""
        loop = self._loop
        if loop is None:
            # asked once: get_running_loop() makes a getpid() system call each time
            loop = self._loop = asyncio.get_running_loop()
        return FrontProtocol(self, loop)

    def close_idle(self) -> None:
        """Stop: close the idle connections now; a busy one closes after its response."""
        self.closing = True
        for connection in list(self.connections):
            connection.close_if_idle()


class State(enum.Enum):
    IDLE = "idle"  # waiting for (the rest of) a request head
    BUSY = "busy"  # a request is being answered
    UPGRADED = "upgraded"  # the connection is a WebSocket's now
    HANDED_OFF = "handed off"  # the connection is aiohttp's now
    CLOSED = "closed"


# Speed: the hot states as module names: on Python 3.11 each ``State.IDLE`` is a class
# attribute lookup through the enum's metaclass; spelt out, a POST+GET pair costs 7.1 µs
# instead of 6.0 (benchmarks/http/front_inprocess.py, 2026-12-04).
_IDLE = State.IDLE
_BUSY = State.BUSY


class FrontProtocol(asyncio.Protocol):
    """One connection of the front."""

    __slots__ = (
        "_body_since",
        "_body_waiter",
        "_buffer",
        "_front",
        "_head_since",
        "_heads",
        "_incoming",
        "_last_active",
        "_loop",
        "_reading_paused",
        "_request",
        "_task",
        "_timer",
        "_writing_paused",
        "state",
        "transport",
    )

    def __init__(self, front: Front, loop: asyncio.AbstractEventLoop) -> None:
        self._front = front
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self.state = _IDLE
        self._buffer = b""
        self._request: FrontRequest | None = None
        self._task: asyncio.Task[Any] | None = None
        self._body_waiter: asyncio.Future[None] | None = None
        #: while a body is read: the pieces received since read_body last looked
        self._incoming: list[bytes] | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._last_active = 0.0
        #: when the first byte of the head awaited arrived (0: none yet)
        self._head_since = 0.0
        #: when read_body started waiting for the body (0: not waiting)
        self._body_since = 0.0
        self._heads: dict[bytes, RequestHead] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<FrontProtocol {self.state.value}>"

    # -- asyncio.Protocol -----------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return self._front.scheme

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses, but behave as one)
        self.transport = cast(asyncio.Transport, transport)
        self._front.connections.add(self)
        self._last_active = self._loop.time()
        self._timer = self._loop.call_at(
            self._last_active + self._front.options.keepalive_timeout, self._on_timer
        )

    def data_received(self, data: bytes) -> None:
        incoming = self._incoming
        if incoming is not None:
            # a body is being read: its pieces wait as they came, for read_body
            incoming.append(data)
            waiter = self._body_waiter
            if waiter is not None:
                self._body_waiter = None
                if not waiter.done():
                    waiter.set_result(None)
            return
        self._buffer = self._buffer + data if self._buffer else data
        state = self.state
        if state is _IDLE:
            self._process()
        elif state is _BUSY and len(self._buffer) > self._front.options.max_pipelined:
            self._pause_reading()

    def eof_received(self) -> bool:
        # the client closed its side: like aiohttp, take it as gone (the transport closes,
        # connection_lost cancels a long poll); browsers never half-close
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._detach(State.CLOSED)
        task = self._task
        if task is not None:
            self._task = None
            task.cancel()
        waiter = self._body_waiter
        if waiter is not None:
            self._body_waiter = None
            if not waiter.done():
                waiter.set_exception(ConnectionResetError("connection lost"))

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self.state is _IDLE:
            self._process()

    # -- reading requests -------------------------------------------------------------------

    def _process(self) -> None:
        """Answer the complete requests in the buffer, in order, while nothing is in
        flight and the transport takes writes."""
        max_head = self._front.options.max_head
        while self.state is _IDLE and not self._writing_paused:
            buffer = self._buffer
            if not buffer:
                break
            # RFC 9112 2.2: "a server that is expecting to receive and parse a
            # request-line SHOULD ignore at least one empty line (CRLF) received prior"
            if buffer[0] == 13 and buffer[:2] == b"\r\n":
                self._buffer = buffer = buffer.lstrip(b"\r\n")
                continue
            end = buffer.find(b"\r\n\r\n")
            if end < 0 or end > max_head:
                if end > max_head or len(buffer) > max_head:
                    self._refuse(BadRequest("request head too large", 431))
                elif end < 0 and b"\n\n" in buffer:
                    # a head ended by bare LFs never ends here: say so now, not at 408
                    self._refuse(BadRequest("bare LF in the request head"))
                elif not self._head_since:
                    # the head is coming in pieces: it has head_timeout to complete
                    now = self._head_since = self._loop.time()
                    self._arm(now + self._front.options.head_timeout)
                break
            self._head_since = 0.0
            raw = buffer[:end]
            heads = self._heads
            head = heads.get(raw) if heads is not None else None
            if head is None:
                try:
                    head = parse_head(raw, max_head)
                except BadRequest as exc:
                    self._refuse(exc)
                    break
                # a polling client sends the same heads again and again (its GET, its
                # POST of a given length): the last few are kept, parsed
                if heads is None:
                    heads = self._heads = {}
                elif len(heads) >= MAX_HEADS_KEPT:
                    heads.clear()
                heads[raw] = head
            route = self._front.routes.get(head.path)
            if route is None:
                if head.chunked and not self._check_chunked_start(end + 4):
                    break
                self._hand_off()
                break
            redirect, transport = self._front.redirect, self.transport
            if redirect is not None and transport is not None and redirect(head, transport, buffer):
                self._detach(State.HANDED_OFF)  # (the hook has the bytes read)
                break
            self._buffer = buffer[end + 4 :]
            self._start(route, FrontRequest(self, head))
        if self.state is _IDLE and len(self._buffer) > self._front.options.max_pipelined:
            self._pause_reading()

    def _check_chunked_start(self, start: int) -> bool:
        """Before a chunked request goes to aiohttp: refuse (400, False) a body whose first
        bytes, already here, are malformed (ChunkedDecoder's rules); later ones are
        aiohttp's to judge."""
        options = self._front.options
        decoder = ChunkedDecoder(1 << 62, options.max_chunk_line, options.max_trailers)
        try:
            decoder.feed(self._buffer[start:])
        except BadRequest as exc:
            self._refuse(exc)
            return False
        return True

    def _start(self, route: Route, request: FrontRequest) -> None:
        self.state = _BUSY
        self._request = request
        coro = route.handle(request)
        # (the type first: isinstance with an ABC costs more than the rest of this)
        if route.inline and (type(coro) is CoroutineType or isinstance(coro, Coroutine)):
            self._step(request, coro)
        else:
            self._run_in_task(coro)

    def _step(self, request: FrontRequest, coro: Coroutine[Any, Any, HttpResponse | None]) -> None:
        """Run the handler's coroutine one step, outside a task."""
        try:
            first = coro.send(None)
        except StopIteration as stop:
            self._respond(request, stop.value)
        except Exception:
            logger.exception("rtio.http: %s %s failed", request.method, request.head.target)
            self._respond(request, HttpResponse(500, {}))
        else:
            # it waits (a long poll, a body still arriving): a task takes it from here
            self._run_in_task(Stepped(coro, first))

    def _run_in_task(self, awaitable: Awaitable[HttpResponse | None]) -> None:
        task = asyncio.ensure_future(awaitable, loop=self._loop)
        self._task = task
        task.add_done_callback(self._on_task_done)

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        if self._task is not task:
            return  # cancelled by connection_lost
        self._task = None
        request = self._request
        assert request is not None
        if task.cancelled():
            response: HttpResponse | None = HttpResponse(500, {})
        elif (exc := task.exception()) is not None:
            target = request.head.target
            logger.error("rtio.http: %s %s failed", request.method, target, exc_info=exc)
            response = HttpResponse(500, {})
        else:
            response = task.result()
        self._respond(request, response)
        if self.state is _IDLE:
            self._process()

    def _respond(self, request: FrontRequest, response: HttpResponse | None) -> None:
        self._request = None
        transport = self.transport
        if self.state is not _BUSY or transport is None:
            return  # the connection was lost, or became a WebSocket
        if response is None:
            logger.error("rtio.http: the handler returned no response without an upgrade")
            transport.close()
            self._detach(State.CLOSED)
            return
        head = request.head
        keep_alive = head.keep_alive and not response.close and not self._front.closing
        if not request.body_read and (head.chunked or head.content_length):
            # the handler did not read the body: skip it when it is all here, else the
            # connection cannot be reused
            length = head.content_length
            if length is not None and len(self._buffer) >= length:
                self._buffer = self._buffer[length:]
            else:
                keep_alive = False
        try:
            data = serialize_response(
                response.status,
                response.headers,
                response.body,
                keep_alive=keep_alive,
                http10=head.http10,
                head_only=head.head_only,
            )
        except (ValueError, TypeError, UnicodeEncodeError):
            logger.exception("rtio.http: invalid response headers %r", response.headers)
            data = serialize_response(500, {}, b"", keep_alive=False)
            keep_alive = False
        transport.write(data)
        self._last_active = self._loop.time()
        if not keep_alive:
            transport.close()
            self._detach(State.CLOSED)
            return
        self.state = _IDLE
        if self._reading_paused:
            self._resume_reading()

    def _refuse(self, error: BadRequest) -> None:
        """Answer a malformed request (or one too slow) with its status and reason, then
        close (at once if the peer is not reading)."""
        transport = self.transport
        assert transport is not None
        logger.info(
            "rtio.http: %d %s (from %s): closing the connection",
            error.status,
            error.reason,
            transport.get_extra_info("peername"),
        )
        transport.write(text_response(error.status, error.reason))
        if self._writing_paused:
            transport.abort()
        else:
            transport.close()
        self._detach(State.CLOSED)

    # -- bodies -------------------------------------------------------------------------------

    async def read_body(self, request: FrontRequest, limit: int) -> bytes:
        """The body of the request in flight (FrontRequest.read_body). While it arrives,
        each piece is kept as it came (joined once at the end), never re-copied."""
        if request is not self._request or request.body_read:
            raise RuntimeError("the body of this request cannot be read (read already?)")
        head = request.head
        if not head.chunked:
            length = head.content_length or 0
            if length > limit:
                raise PayloadTooLarge(length, limit)
            buffer = self._buffer
            if len(buffer) >= length:  # the usual case: it came with the head
                if len(buffer) == length:
                    body, self._buffer = buffer, b""
                else:
                    body, self._buffer = buffer[:length], buffer[length:]
                request.body_read = True
                return body
        # RFC 9110 10.1.1: a client that sent "Expect: 100-continue" waits for a 100
        # before the body (unless it gave up waiting: some of the body is here)
        expect_continue = head.expect_continue and not self._buffer
        piece, self._buffer = self._buffer, b""
        self._incoming = []
        # the rest of the body has body_timeout to arrive (issue 12, defect 3: a POST that
        # announced 1,000 bytes and sent 1 held its connection for ever)
        now = self._body_since = self._loop.time()
        self._arm(now + self._front.options.body_timeout)
        try:
            if head.chunked:
                options = self._front.options
                decoder = ChunkedDecoder(limit, options.max_chunk_line, options.max_trailers)
                while True:
                    try:
                        end = decoder.feed(piece)
                    except BodyTooLarge as exc:
                        raise PayloadTooLarge(exc.size, limit) from None
                    except BadRequest as exc:
                        # no way to find the next request: answer 400 and close, and the
                        # handler sees a broken connection
                        self._refuse(exc)
                        raise ConnectionResetError(exc.reason) from None
                    if end is not None:
                        body, rest = decoder.body(), piece[end:]
                        break
                    piece = await self._more_data(expect_continue)
                    expect_continue = False
            else:
                length = head.content_length or 0
                pieces = [piece]
                have = len(piece)
                while have < length:
                    piece = await self._more_data(expect_continue)
                    expect_continue = False
                    pieces.append(piece)
                    have += len(piece)
                data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
                body, rest = (data, b"") if have == length else (data[:length], data[length:])
        finally:
            # (on an error the body stays unread: _respond closes the connection)
            self._incoming = None
            self._body_since = 0.0
        self._buffer = rest
        request.body_read = True
        return body

    async def _more_data(self, expect_continue: bool) -> bytes:
        """The bytes received since the last call (waiting for some)."""
        incoming = self._incoming
        assert incoming is not None
        if not incoming:
            transport = self.transport
            if self.state is not _BUSY or transport is None or transport.is_closing():
                raise ConnectionResetError("connection lost")
            if expect_continue:
                transport.write(CONTINUE)
            self._resume_reading()
            waiter = self._loop.create_future()
            self._body_waiter = waiter
            await waiter
        data = incoming[0] if len(incoming) == 1 else b"".join(incoming)
        incoming.clear()
        return data

    # -- giving the connection away --------------------------------------------------------

    def accept_websocket(
        self, request: FrontRequest, options: ServerOptions, headers: Mapping[str, str] | None
    ) -> WebSocket:
        """Switch the request in flight to a WebSocket (FrontRequest.accept_websocket)."""
        transport = self.transport
        if request is not self._request or transport is None or self.state is not _BUSY:
            raise ConnectionResetError("connection lost")
        head = request.head
        ws = serve_upgrade(
            transport,
            head.method,
            (1, 1) if head.version == "HTTP/1.1" else (1, 0),
            head.headers.raw,
            options=options,
            extra_headers=headers,
            tail=self._buffer,
            writing_paused=self._writing_paused,
        )
        self._buffer = b""
        self._resume_reading()
        self._detach(State.UPGRADED)
        return ws

    def _hand_off(self) -> None:
        """Give the connection, with what was read of it, to the aiohttp app."""
        transport = self.transport
        assert transport is not None
        fallback = self._front.fallback
        if fallback is None:
            transport.write(text_response(404, "Not Found"))
            transport.close()
            self._detach(State.CLOSED)
            return
        buffered, self._buffer = self._buffer, b""
        self._detach(State.HANDED_OFF)
        self._resume_reading()
        hand_off(fallback, transport, buffered, writing_paused=self._writing_paused)

    # -- the rest ------------------------------------------------------------------------------

    def close_if_idle(self) -> None:
        """Close now if no request is in flight (shutdown); else after the response."""
        if self.state is _IDLE and self.transport is not None:
            self.transport.close()
            self._detach(State.CLOSED)

    def _detach(self, state: State) -> None:
        self.state = state
        self._front.connections.discard(self)
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()

    def _arm(self, when: float) -> None:
        """Have the connection's timer fire at ``when`` at the latest."""
        timer = self._timer
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._timer = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        # one timer per connection, re-armed lazily (deadlines.py): a request only stamps
        # _last_active; the timer checks the deadline of what the connection waits for
        self._timer = None
        state = self.state
        if state is _IDLE:
            if self._head_since:
                waiting, since = Waiting.HEAD, self._head_since
            else:
                waiting, since = Waiting.NEXT_HEAD, self._last_active
        elif state is _BUSY:
            if self._body_since:
                waiting, since = Waiting.BODY, self._body_since
            else:
                waiting, since = Waiting.HANDLER, 0.0
        else:
            return
        look_again = expiry(waiting, since, self._loop.time(), self._front.options)
        if look_again is not None:
            self._timer = self._loop.call_at(look_again, self._on_timer)
        elif waiting is Waiting.NEXT_HEAD:
            if self.transport is not None:
                self.transport.close()
            self._detach(State.CLOSED)
        else:
            # 408 (nothing of a response is written while a head or body is awaited),
            # close, and a handler waiting in read_body gets an error
            reason = waiting.timeout_reason
            self._refuse(BadRequest(reason, 408))
            waiter = self._body_waiter
            if waiter is not None:
                self._body_waiter = None
                if not waiter.done():
                    waiter.set_exception(ConnectionResetError(reason))

    def _pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
