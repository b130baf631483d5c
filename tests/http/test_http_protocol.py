"""rtio.http's front on real sockets: keep-alive, pipelining, bodies, limits and their
statuses, a slow client, backpressure, a lost connection during a long poll, the handoff
to aiohttp's routes, and shutdown. The engine is stood in for by small handlers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from rtio.engine import HttpRequest, HttpResponse, PayloadTooLarge
from rtio.http import FrontSite
from rtio.http.protocol import FrontProtocol, State

H = "Host: t\r\n"


class Stub:
    """Handlers on /engine.io/: ``?wait`` waits for ``release`` (a long poll); a POST
    echoes its body (limit 100); everything else answers at once with what it saw."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.in_task: list[bool] = []

    async def handle(self, request: HttpRequest) -> HttpResponse:
        self.in_task.append(asyncio.current_task() is not None)
        if "wait" in request.query:
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
            return HttpResponse(200, {}, b"released")
        if "close" in request.query:
            # what the engine answers to a POST it refuses without reading its body
            return HttpResponse(400, {}, b"refused", close=True)
        if request.method == "POST" and "skip" not in request.query:
            try:
                body = await request.read_body(100)
            except PayloadTooLarge:
                return HttpResponse(413, {}, b"too large")
            return HttpResponse(200, {"Content-Type": "text/plain"}, b"body=" + body)
        seen = f"{request.method} {request.path} {dict(request.query)} {request.content_type}"
        return HttpResponse(200, {"X-Seen": "1"}, seen.encode())


@pytest.fixture
async def served() -> AsyncIterator[tuple[Stub, FrontSite, list[str]]]:
    stub = Stub()
    log: list[str] = []

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="page " + (await request.text()))

    async def on_shutdown(_app: web.Application) -> None:
        log.append("shutdown")
        stub.release.set()

    app = web.Application()
    app.router.add_route("*", "/page", page)
    app.on_shutdown.append(on_shutdown)
    runner = web.AppRunner(app)
    await runner.setup()
    site = FrontSite(runner, "127.0.0.1", 0, routes={"/engine.io/": stub.handle})
    await site.start()
    try:
        yield stub, site, log
    finally:
        await runner.cleanup()


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, site: FrontSite) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def response(self) -> tuple[int, dict[str, str], bytes]:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 5)
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        n = int(headers.get("content-length", "0"))
        body = await asyncio.wait_for(self.reader.readexactly(n), 5)
        return int(lines[0].split()[1]), headers, body

    async def at_eof(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 5) == b""

    def close(self) -> None:
        self.writer.close()


def connection_of(site: FrontSite) -> FrontProtocol:
    (protocol,) = site.front.connections
    return protocol


async def until(predicate: Any) -> None:
    while not predicate():
        await asyncio.sleep(0.005)


async def test_keep_alive_and_fields(served: Any) -> None:
    _, site, _ = served
    c = await Conn.open(site)
    for n in range(3):
        c.send(f"GET /engine.io/?EIO=4&n={n}&s=a%20b+c HTTP/1.1\r\n{H}\r\n".encode())
        status, headers, body = await c.response()
        assert status == 200 and headers["x-seen"] == "1" and "date" in headers
        assert "connection" not in headers
        assert body == f"GET /engine.io/ {{'EIO': '4', 'n': '{n}', 's': 'a b c'}} ".encode()
    c.close()


async def test_a_request_answered_at_once_runs_without_a_task(served: Any) -> None:
    stub, site, _ = served
    c = await Conn.open(site)
    c.send(f"GET /engine.io/ HTTP/1.1\r\n{H}\r\n".encode())
    await c.response()
    c.send(f"GET /engine.io/?wait HTTP/1.1\r\n{H}\r\n".encode())
    await until(lambda: len(stub.in_task) == 2)
    stub.release.set()
    assert (await c.response())[2] == b"released"
    # the first ran in the protocol's callback; the long poll was stepped by hand too,
    # then continued in a task
    assert stub.in_task == [False, False]
    c.close()


async def test_pipelined_requests_answered_in_order(served: Any) -> None:
    stub, site, _ = served
    c = await Conn.open(site)
    c.send(
        f"GET /engine.io/?wait HTTP/1.1\r\n{H}\r\n"
        f"POST /engine.io/ HTTP/1.1\r\n{H}Content-Length: 3\r\n\r\nabc"
        f"GET /engine.io/?last HTTP/1.1\r\n{H}Connection: close\r\n\r\n".encode()
    )
    await until(lambda: len(stub.in_task) == 1)
    stub.release.set()
    assert (await c.response())[2] == b"released"
    assert (await c.response())[2] == b"body=abc"
    _, headers, body = await c.response()
    assert headers["connection"] == "close" and b"'last'" in body
    assert await c.at_eof()


async def test_chunked_and_a_slow_client(served: Any) -> None:
    _, site, _ = served
    c = await Conn.open(site)
    request = (
        f"POST /engine.io/ HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
        f"POST /engine.io/ HTTP/1.1\r\n{H}Content-Length: 5\r\n\r\nhello"
    ).encode()
    for i in range(len(request)):  # one byte at a time
        c.send(request[i : i + 1])
        await c.writer.drain()
        await asyncio.sleep(0)
    assert (await c.response())[2] == b"body=abcde"
    assert (await c.response())[2] == b"body=hello"
    c.close()


async def test_expect_100_continue(served: Any) -> None:
    _, site, _ = served
    c = await Conn.open(site)
    head = f"POST /engine.io/ HTTP/1.1\r\n{H}Expect: 100-continue\r\nContent-Length: 2\r\n"
    c.send(head.encode() + b"\r\n")
    assert await c.reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    c.send(b"ok")
    assert (await c.response())[2] == b"body=ok"
    c.close()


async def test_an_unread_body_is_skipped(served: Any) -> None:
    _, site, _ = served
    c = await Conn.open(site)
    c.send(
        f"POST /engine.io/?skip HTTP/1.1\r\n{H}Content-Length: 4\r\n\r\nxxxx"
        f"GET /engine.io/?after HTTP/1.1\r\n{H}\r\n".encode()
    )
    assert (await c.response())[0] == 200
    assert b"'after'" in (await c.response())[2]
    # not all of it here: the connection cannot be reused
    c.send(f"POST /engine.io/?skip HTTP/1.1\r\n{H}Content-Length: 4\r\n\r\nxx".encode())
    assert (await c.response())[1]["connection"] == "close"
    assert await c.at_eof()


async def test_a_response_with_close_set_is_written_then_the_connection_closes(
    served: Any,
) -> None:
    """HttpResponse.close (the engine refused or gave up on an unread body): the answer is
    written with Connection: close, then the connection closes; a request pipelined
    behind it, even one whose body is all here, is not answered."""
    _, site, _ = served
    c = await Conn.open(site)
    c.send(f"GET /engine.io/?first HTTP/1.1\r\n{H}\r\n".encode())
    assert (await c.response())[0] == 200
    protocol = connection_of(site)
    c.send(
        f"POST /engine.io/?close HTTP/1.1\r\n{H}Content-Length: 2\r\n\r\nxx"
        f"GET /engine.io/?after HTTP/1.1\r\n{H}\r\n".encode()
    )
    status, headers, body = await c.response()
    assert (status, headers["connection"], body) == (400, "close", b"refused")
    assert await c.at_eof()
    assert protocol.state is State.CLOSED and not site.front.connections
    c.close()


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        (
            b"GET /engine.io/ HTTP/1.1\r\nHost: t\r\nX: " + b"x" * 9000 + b"\r\n\r\n",
            431,
            b"too large",
        ),
        (b"GET /engine.io/?" + b"x" * 9000, 431, b"too large"),
        (b"GET /engine.io/ HTTP/1.1\r\n\r\n", 400, b"missing Host"),
        (b"BAD REQUEST\r\n\r\n", 400, b"request line"),
        (b"GET / HTTP/3.0\r\n\r\n", 505, b"version"),
        (
            b"POST /engine.io/ HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
            b"chunk size",
        ),
    ],
)
async def test_malformed_requests_get_their_status_then_close(
    served: Any, raw: bytes, status: int, reason: bytes
) -> None:
    _, site, _ = served
    c = await Conn.open(site)
    c.send(raw)
    got, headers, body = await c.response()
    assert (got, headers["connection"]) == (status, "close")
    assert reason in body
    assert await c.at_eof()


async def test_a_body_over_the_limit(served: Any) -> None:
    _, site, _ = served
    c = await Conn.open(site)
    c.send(f"POST /engine.io/ HTTP/1.1\r\n{H}Content-Length: 101\r\n\r\n".encode())
    status, headers, _ = await c.response()
    assert (status, headers["connection"]) == (413, "close")
    assert await c.at_eof()
    c = await Conn.open(site)
    c.send(f"POST /engine.io/ HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n65\r\n".encode())
    assert (await c.response())[0] == 413
    assert await c.at_eof()


async def test_http10(served: Any) -> None:
    _, site, _ = served
    c = await Conn.open(site)
    c.send(b"GET /engine.io/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert (await c.response())[1]["connection"] == "keep-alive"
    c.send(b"HEAD /engine.io/ HTTP/1.0\r\n\r\n")
    head = await c.reader.read()  # HEAD: a Content-Length but no body
    assert b"\r\nConnection: close\r\n" in head and head.endswith(b"\r\n\r\n")
    assert b"Content-Length: 0\r\n" not in head


async def test_a_lost_connection_cancels_the_long_poll(served: Any) -> None:
    stub, site, _ = served
    c = await Conn.open(site)
    c.send(f"GET /engine.io/?wait HTTP/1.1\r\n{H}\r\n".encode())
    await until(lambda: stub.in_task)
    c.writer.transport.abort()
    await asyncio.wait_for(stub.cancelled.wait(), 5)
    await until(lambda: not site.front.connections)


async def test_write_backpressure_holds_the_next_request(served: Any) -> None:
    _, site, _ = served
    c = await Conn.open(site)
    c.send(f"GET /engine.io/?one HTTP/1.1\r\n{H}\r\n".encode())
    await c.response()
    protocol = connection_of(site)
    protocol.pause_writing()
    c.send(f"GET /engine.io/?two HTTP/1.1\r\n{H}\r\n".encode())
    await until(lambda: protocol._buffer)
    assert protocol.state is State.IDLE  # read, not answered
    protocol.resume_writing()
    assert b"'two'" in (await c.response())[2]
    c.close()


async def test_other_paths_go_to_aiohttp(served: Any) -> None:
    _, site, _ = served
    c = await Conn.open(site)
    c.send(f"GET /page HTTP/1.1\r\n{H}\r\n".encode())
    status, headers, body = await c.response()
    assert (status, body) == (200, b"page ")
    assert "aiohttp" in headers["server"]
    c.send(f"POST /page HTTP/1.1\r\n{H}Content-Length: 4\r\n\r\ndata".encode())
    assert (await c.response())[2] == b"page data"
    # the connection is aiohttp's now: the engine path is its route's (none here: 404)
    c.send(f"GET /engine.io/ HTTP/1.1\r\n{H}\r\n".encode())
    assert (await c.response())[0] == 404
    c.close()


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        # what aiohttp would have taken and waited on (issue 12, defect 9)
        (b"Transfer-Encoding: chunked\r\n\r\n1000000000000000\r\nab", b"chunk size"),
        (b"Transfer-Encoding: chunked\r\n\r\n2;" + b"e" * 20_000, b"too long"),
        (b"Transfer-Encoding: chunked\r\n\r\n2;a\rb\r\nab\r\n0\r\n\r\n", b"control"),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nab", b"both"),
        (b"Host: u\r\nContent-Length: 2\r\n\r\nab", b"more than one Host"),
        (b"Content-Length: 2\r\nX: a\x01\r\n\r\nab", b"control"),
    ],
)
async def test_bad_requests_for_aiohttp_refused_before_the_handoff(
    served: Any, wire: bytes, reason: bytes
) -> None:
    """Issue 12, defect 9: what the front sees of a request it would hand to aiohttp (the
    head, and the start of a chunked body that came with it) is judged first: 400."""
    _, site, _ = served
    c = await Conn.open(site)
    c.send(f"POST /page HTTP/1.1\r\n{H}".encode() + wire)
    status, headers, body = await c.response()
    assert status == 400 and reason in body and "server" not in headers
    assert await c.at_eof()
    c.close()


async def test_a_good_chunked_request_still_goes_to_aiohttp(served: Any) -> None:
    _, site, _ = served
    c = await Conn.open(site)
    c.send(
        f"POST /page HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n"
        "2;x=y\r\nab\r\n1\r\nc\r\n0\r\n\r\n".encode()
    )
    status, headers, body = await c.response()
    assert (status, body) == (200, b"page abc") and "aiohttp" in headers["server"]
    c.close()


async def test_handoff_after_engine_requests_keeps_the_pipelined_bytes(served: Any) -> None:
    _, site, _ = served
    c = await Conn.open(site)
    c.send(
        f"GET /engine.io/?first HTTP/1.1\r\n{H}\r\n"
        f"POST /page HTTP/1.1\r\n{H}Content-Length: 2\r\n\r\nhi".encode()
    )
    assert b"'first'" in (await c.response())[2]
    status, headers, body = await c.response()
    assert (status, body) == (200, b"page hi") and "aiohttp" in headers["server"]
    assert not site.front.connections
    c.close()


async def test_shutdown_closes_idle_and_answers_the_pending(served: Any) -> None:
    stub, site, log = served
    idle = await Conn.open(site)
    idle.send(f"GET /engine.io/ HTTP/1.1\r\n{H}\r\n".encode())
    await idle.response()
    busy = await Conn.open(site)
    busy.send(f"GET /engine.io/?wait HTTP/1.1\r\n{H}\r\n".encode())
    await until(lambda: len(stub.in_task) == 2)
    await site.runner.cleanup()
    assert log == ["shutdown"]
    assert await idle.at_eof()
    status, headers, body = await busy.response()  # released by the app's on_shutdown
    assert (status, body, headers["connection"]) == (200, b"released", "close")
    assert await busy.at_eof()


async def test_no_fallback_answers_404() -> None:
    from rtio.http import Front

    stub = Stub()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Front({"/engine.io/": stub.handle}), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /other HTTP/1.1\r\n{H}\r\n".encode())
    answer = await asyncio.wait_for(reader.read(), 5)
    assert answer.startswith(b"HTTP/1.1 404 Not Found\r\n")
    writer.close()
    server.close()


async def test_a_handler_returning_another_awaitable_runs_in_a_task() -> None:
    from rtio.http import Front

    loop = asyncio.get_running_loop()

    def handle(request: HttpRequest) -> asyncio.Future[HttpResponse | None]:
        future: asyncio.Future[HttpResponse | None] = loop.create_future()
        future.set_result(HttpResponse(200, {}, b"from a future"))
        return future

    server = await loop.create_server(Front({"/engine.io/": handle}), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /engine.io/ HTTP/1.1\r\n{H}Connection: close\r\n\r\n".encode())
    answer = await asyncio.wait_for(reader.read(), 5)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"from a future")
    writer.close()
    server.close()


async def test_tls(tmp_path: Any) -> None:
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
    subprocess.run(
        [*make.split(), "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    seen: list[str] = []

    async def handle(request: HttpRequest) -> HttpResponse:
        seen.append(request.url)
        return HttpResponse(200, {}, b"secure")

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="page over tls")

    app = web.Application()
    app.router.add_get("/page", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = FrontSite(runner, "127.0.0.1", 0, routes={"/e/": handle}, ssl_context=context)
    await site.start()
    client = ssl.create_default_context(cafile=str(cert))
    client.check_hostname = False
    try:
        for path, body in (("/e/?x=1", b"secure"), ("/page", b"page over tls")):
            reader, writer = await asyncio.open_connection("127.0.0.1", site.port, ssl=client)
            writer.write(f"GET {path} HTTP/1.1\r\n{H}Connection: close\r\n\r\n".encode())
            answer = await asyncio.wait_for(reader.read(), 5)
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(body)
            writer.close()
        assert seen == ["https://t/e/?x=1"]
    finally:
        await runner.cleanup()


async def test_a_chunked_body_with_100_continue(served: Any) -> None:
    _, site, _ = served
    c = await Conn.open(site)
    head = f"POST /engine.io/ HTTP/1.1\r\n{H}Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n"
    c.send(head.encode() + b"\r\n")
    assert await c.reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    c.send(b"2\r\nok\r\n0\r\n\r\n")
    assert (await c.response())[2] == b"body=ok"
    c.close()


@pytest.mark.parametrize("value", ["1\r\nSet-Cookie: x=1", ["not", "a", "str"], "caf\u00e9\u2603"])
async def test_invalid_response_headers_answer_500_and_close(value: Any) -> None:
    from rtio.http import Front

    loop = asyncio.get_running_loop()

    async def handle(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, {"X-Bad": value}, b"never sent")

    server = await loop.create_server(Front({"/engine.io/": handle}), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /engine.io/ HTTP/1.1\r\n{H}\r\n".encode())
    answer = await asyncio.wait_for(reader.read(), 5)
    assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"never sent" not in answer and b"Set-Cookie" not in answer
    writer.close()
    server.close()


# -- without sockets: a fake transport, and the loop's clock and timers faked ----------------


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = self.aborted = False
        self.paused: list[str] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("10.1.2.3", 4) if name == "peername" else default

    def pause_reading(self) -> None:
        self.paused.append("pause")

    def resume_reading(self) -> None:
        self.paused.append("resume")

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol


class Timer:
    def __init__(self, when: float, callback: Any) -> None:
        self._when, self.callback, self.cancelled = when, callback, False

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """The running loop, with its clock and call_at faked (tasks and futures are real)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.now = 1000.0
        self.timers: list[Timer] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loop, name)

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Any) -> Timer:
        timer = Timer(when, callback)
        self.timers.append(timer)
        return timer

    def armed(self) -> list[float]:
        return [t.when() for t in self.timers if not t.cancelled]

    def advance_to(self, when: float) -> None:
        """Set the clock, and run the timers due (the front's one timer)."""
        self.now = when
        for timer in list(self.timers):
            if not timer.cancelled and timer.when() <= when:
                self.timers.remove(timer)
                timer.callback()


def fake_connection(
    routes: dict[str, Any], **options: Any
) -> tuple[FrontProtocol, FakeTransport, FakeClock]:
    from rtio.http import Front, FrontOptions

    clock = FakeClock(asyncio.get_running_loop())
    front = Front(routes, options=FrontOptions(**options))
    protocol = FrontProtocol(front, clock)  # type: ignore[arg-type]
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport, clock


async def answer(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return HttpResponse(200, {}, await request.read_body(100))
    if "wait" in request.query:
        await asyncio.sleep(3600)
    return HttpResponse(200, {}, request.path.encode())


GET = f"GET /e/ HTTP/1.1\r\n{H}\r\n".encode()


async def test_the_deadlines_on_a_fake_clock() -> None:
    protocol, transport, clock = fake_connection(
        {"/e/": answer}, keepalive_timeout=75.0, head_timeout=30.0, body_timeout=60.0
    )
    assert repr(protocol) == "<FrontProtocol idle>" and clock.armed() == [1075.0]
    # a request answered: only _last_active moves; the timer looks again at 1075
    clock.now = 1010.0
    protocol.data_received(GET)
    assert transport.written[-1].endswith(b"\r\n\r\n/e/")
    clock.advance_to(1075.0)
    assert clock.armed() == [1085.0] and protocol.state is State.IDLE
    # part of a head at 1080: it has until 1110 (the timer, due earlier, looks then)
    clock.now = 1080.0
    protocol.data_received(b"GET /e/ HTTP/1.1\r\n")
    protocol.data_received(b"Host: t\r\n")
    assert clock.armed() == [1085.0]
    clock.advance_to(1085.0)
    assert clock.armed() == [1110.0] and not transport.closed
    clock.advance_to(1110.0)
    assert transport.written[-1].startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert transport.written[-1].endswith(b"request head not received in time\n")
    assert transport.closed and protocol.state is State.CLOSED and clock.armed() == []


async def test_an_idle_connection_closes_silently_and_a_long_poll_is_not_timed() -> None:
    protocol, transport, clock = fake_connection({"/e/": answer}, keepalive_timeout=10.0)
    protocol.data_received(f"GET /e/?wait HTTP/1.1\r\n{H}\r\n".encode())
    assert protocol.state is State.BUSY
    clock.advance_to(1010.0)  # a long poll: the engine's to end; looked at again later
    assert protocol.state is State.BUSY and clock.armed() == [1020.0]
    protocol.connection_lost(None)  # the client gave up: the handler is cancelled
    await asyncio.sleep(0)
    assert protocol.state is State.CLOSED and not transport.written
    protocol, transport, clock = fake_connection({"/e/": answer}, keepalive_timeout=10.0)
    clock.advance_to(1010.0)
    assert transport.closed and not transport.written and protocol.state is State.CLOSED


async def test_a_body_that_stops_coming_gets_408_and_the_handler_an_error() -> None:
    seen: list[BaseException] = []

    async def reads(request: HttpRequest) -> HttpResponse:
        try:
            await request.read_body(100)
        except ConnectionResetError as exc:
            seen.append(exc)
            raise
        raise AssertionError("unreachable")

    protocol, transport, clock = fake_connection({"/e/": reads}, body_timeout=5.0)
    protocol.data_received(f"POST /e/ HTTP/1.1\r\n{H}Content-Length: 10\r\n\r\nab".encode())
    assert clock.armed() == [1005.0]
    clock.advance_to(1005.0)
    await asyncio.sleep(0.01)
    assert transport.written[-1].endswith(b"request body not received in time\n")
    assert str(seen[0]) == "request body not received in time" and transport.closed


async def test_leading_empty_lines_and_the_head_cache() -> None:
    from rtio.http.protocol import MAX_HEADS_KEPT

    protocol, transport, _ = fake_connection({"/e/": answer})
    protocol.data_received(b"\r\n\r\n" + GET)  # RFC 9112 2.2: empty lines before are skipped
    assert transport.written[-1].endswith(b"/e/")
    for n in range(MAX_HEADS_KEPT + 2):  # each head new: the cache restarts, still right
        protocol.data_received(f"GET /e/?n={n} HTTP/1.1\r\n{H}\r\n".encode())
    assert len(transport.written) == MAX_HEADS_KEPT + 3


async def test_reading_pauses_past_max_pipelined_and_resumes_after_the_answer() -> None:
    protocol, transport, _ = fake_connection({"/e/": answer}, max_pipelined=10)
    protocol.data_received(f"GET /e/?wait HTTP/1.1\r\n{H}\r\n".encode())
    protocol.data_received(b"GET /e/ HTTP/1.1\r\n")  # pipelined while busy: over 10 bytes
    assert transport.paused == ["pause"]
    protocol.connection_lost(None)
    # idle, with part of a head over the limit: paused too (the head is still < max_head)
    protocol, transport, _ = fake_connection({"/e/": answer}, max_pipelined=10)
    protocol.data_received(b"GET /e/ HTTP/1.1\r\nHost: t\r\n")
    assert transport.paused == ["pause"]
    protocol.data_received(b"\r\n")
    assert transport.paused == ["pause", "resume"] and transport.written


async def test_handler_failures_answer_500() -> None:
    async def fails_later(request: HttpRequest) -> HttpResponse:
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    async def no_response(request: HttpRequest) -> None:
        return None

    async def fails_at_once(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("boom")

    for handler in (fails_later, fails_at_once):
        protocol, transport, _ = fake_connection({"/e/": handler})
        protocol.data_received(GET)
        await asyncio.sleep(0.01)
        assert transport.written[-1].startswith(b"HTTP/1.1 500 ")
        assert protocol.state is State.IDLE
    protocol, transport, _ = fake_connection({"/e/": no_response})
    protocol.data_received(GET)
    assert transport.closed and not transport.written and protocol.state is State.CLOSED


async def test_a_body_read_twice_or_after_the_connection_is_gone() -> None:
    results: list[Any] = []

    async def twice(request: HttpRequest) -> HttpResponse:
        await request.read_body(100)
        try:
            await request.read_body(100)
        except RuntimeError as exc:
            results.append(exc)
        return HttpResponse(200, {})

    async def waits(request: HttpRequest) -> HttpResponse:
        await asyncio.sleep(0)
        try:
            await request.read_body(100)
        except (ConnectionResetError, asyncio.CancelledError) as exc:
            results.append(exc)
            raise
        return HttpResponse(200, {})

    protocol, transport, _ = fake_connection({"/e/": twice})
    protocol.data_received(f"POST /e/ HTTP/1.1\r\n{H}Content-Length: 1\r\n\r\nx".encode())
    assert "read already" in str(results.pop())
    # the transport closing before the handler waits for the body: the body cannot come
    protocol, transport, _ = fake_connection({"/e/": waits})
    protocol.data_received(f"POST /e/ HTTP/1.1\r\n{H}Content-Length: 5\r\n\r\nx".encode())
    transport.closed = True
    await asyncio.sleep(0.01)
    assert str(results.pop()) == "connection lost"
    # the connection lost while it waits: the handler is cancelled (the engine's contract)
    protocol, transport, _ = fake_connection({"/e/": waits})
    protocol.data_received(f"POST /e/ HTTP/1.1\r\n{H}Content-Length: 5\r\n\r\nx".encode())
    await asyncio.sleep(0.01)
    protocol.connection_lost(None)
    await asyncio.sleep(0.01)
    assert isinstance(results.pop(), asyncio.CancelledError) and not transport.written


async def test_a_refusal_to_a_peer_not_reading_aborts() -> None:
    protocol, transport, _ = fake_connection({"/e/": answer})
    protocol.pause_writing()
    protocol.data_received(b"BAD\r\n\r\n")  # not looked at while writing is paused
    assert not transport.written
    protocol.resume_writing()
    assert transport.written[-1].startswith(b"HTTP/1.1 400 ") and transport.aborted is False
    # a body too slow from a peer that does not read either: 408, then abort
    protocol, transport, clock = fake_connection({"/e/": answer}, body_timeout=5.0)
    protocol.data_received(f"POST /e/ HTTP/1.1\r\n{H}Content-Length: 5\r\n\r\nx".encode())
    protocol.pause_writing()
    clock.advance_to(1005.0)
    assert transport.written[-1].startswith(b"HTTP/1.1 408 ") and transport.aborted
    await asyncio.sleep(0.01)
