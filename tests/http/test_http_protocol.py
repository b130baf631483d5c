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


def test_serialize_response_reuses_the_constant_part_and_refuses_cr_lf() -> None:
    from rtio.http import serialize_response

    headers = {"Content-Type": "text/plain; charset=UTF-8", "Access-Control-Allow-Origin": "*"}
    first = serialize_response(200, dict(headers), b"4hi", keep_alive=True)
    again = serialize_response(200, dict(headers), b"4hello", keep_alive=True)
    for data, body in ((first, b"4hi"), (again, b"4hello")):
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0] == b"HTTP/1.1 200 OK" and rest == body
        assert b"Access-Control-Allow-Origin: *" in lines
        assert f"Content-Length: {len(body)}".encode() in lines
        assert any(line.startswith(b"Date: ") for line in lines)
    closing = serialize_response(200, dict(headers), b"", keep_alive=False, head_only=True)
    assert b"\r\nConnection: close\r\n" in closing and closing.endswith(b"\r\n\r\n")
    http10 = serialize_response(404, {}, b"x", keep_alive=True, http10=True)
    assert http10.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"\r\nConnection: keep-alive\r\n" in http10
    # a CR or LF in a name or value would split the response: refused every time
    for bad in ({"X-A": "1\r\nSet-Cookie: x=1"}, {"X-A\n": "1"}, {"X-A": "1\r"}):
        for _ in range(2):
            with pytest.raises(ValueError, match="CR or LF"):
                serialize_response(200, bad, b"", keep_alive=True)


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
