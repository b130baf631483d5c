"""The contract of an HTTP front (rtio/engine/http.py), checked on real sockets with raw
HTTP bytes: what the engine reads of a request, read_body's limit, the HttpResponse as
written, a lost connection cancelling ``handle``, and accept_websocket's 101.

``FRONTS`` lists the fronts: each serves one ``handle(request) -> HttpResponse | None``
callable on a local port: aiohttp's (aiohttp_front.py) and rtio's own (rtio.http).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from rtio.engine import PayloadTooLarge
from rtio.engine.aiohttp_front import respond
from rtio.engine.http import HttpRequest, HttpResponse
from rtio.http import FrontSite
from rtio.ws import HandshakeRefused, ServerOptions, WebSocket

Handle = Callable[[HttpRequest], Awaitable[HttpResponse | None]]
Serve = Callable[[Handle], Any]


@asynccontextmanager
async def serve_aiohttp(handle: Handle) -> AsyncIterator[int]:
    async def route(request: web.Request) -> web.StreamResponse:
        return await respond(handle, request)

    app = web.Application()
    app.router.add_route("*", "/engine.io/", route)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port: int = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield port
    finally:
        await runner.cleanup()


@asynccontextmanager
async def serve_rtio(handle: Handle) -> AsyncIterator[int]:
    runner = web.AppRunner(web.Application(), handle_signals=False)
    await runner.setup()
    site = FrontSite(runner, "127.0.0.1", 0, routes={"/engine.io/": handle})
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


FRONTS = {"aiohttp": serve_aiohttp, "rtio": serve_rtio}


@pytest.fixture(params=sorted(FRONTS))
def serve(request: pytest.FixtureRequest) -> Serve:
    return FRONTS[request.param]


async def _exchange(port: int, raw: bytes, *, head_only: bool = False) -> bytes:
    """Send ``raw``, read the whole answer (the request says Connection: close) or only
    its head."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    read = reader.readuntil(b"\r\n\r\n") if head_only else reader.read()
    data = await asyncio.wait_for(read, 5)
    writer.close()
    return data


def _split(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


async def test_request_fields_and_response(serve: Serve) -> None:
    seen: dict[str, Any] = {}

    async def handle(request: HttpRequest) -> HttpResponse:
        seen.update(
            method=request.method,
            path=request.path,
            url=request.url,
            query=dict(request.query),
            origin=request.headers.get("origin"),
            cookies=dict(request.cookies),
            remote=request.remote,
            transport_open=request.transport is not None and not request.transport.is_closing(),
            content_type=request.content_type,
            body=await request.read_body(100),
        )
        return HttpResponse(201, {"Content-Type": "text/plain", "X-Test": "1"}, b"hello")

    async with serve(handle) as port:
        answer = await _exchange(
            port,
            b"POST /engine.io/?EIO=4&transport=polling&q=a%20b&q=second HTTP/1.1\r\n"
            b"Host: test\r\nORIGIN: http://x.test\r\nCookie: io=abc; other=1\r\n"
            b"Content-Type: Text/Plain; charset=UTF-8\r\nContent-Length: 5\r\n"
            b"Connection: close\r\n\r\n4ping",
        )
    status, headers, body = _split(answer)
    assert (status, body) == (201, b"hello")
    assert headers["x-test"] == "1" and headers["content-length"] == "5"
    assert seen == {
        "method": "POST",
        "path": "/engine.io/",
        "url": "http://test/engine.io/?EIO=4&transport=polling&q=a%20b&q=second",
        "query": {"EIO": "4", "transport": "polling", "q": "a b"},
        "origin": "http://x.test",
        "cookies": {"io": "abc", "other": "1"},
        "remote": "127.0.0.1",
        "transport_open": True,
        "content_type": "text/plain",
        "body": b"4ping",
    }


async def test_no_content_type_is_empty(serve: Serve) -> None:
    types: list[str] = []

    async def handle(request: HttpRequest) -> HttpResponse:
        types.append(request.content_type)
        return HttpResponse(200, {}, await request.read_body(10))

    async with serve(handle) as port:
        answer = await _exchange(
            port,
            b"POST /engine.io/ HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
            b"Connection: close\r\n\r\nok",
        )
    assert _split(answer)[0] == 200
    assert types == [""]


@pytest.mark.parametrize("chunked", [False, True])
async def test_read_body_refuses_over_the_limit(serve: Serve, chunked: bool) -> None:
    errors: list[PayloadTooLarge] = []

    async def handle(request: HttpRequest) -> HttpResponse:
        try:
            await request.read_body(10)
        except PayloadTooLarge as exc:
            errors.append(exc)
            return HttpResponse(413, {})
        return HttpResponse(200, {})

    body = b"x" * 11
    framing = (
        b"Transfer-Encoding: chunked\r\n\r\nb\r\n" + body + b"\r\n0\r\n\r\n"
        if chunked
        else b"Content-Length: 11\r\n\r\n" + body
    )
    async with serve(handle) as port:
        answer = await _exchange(
            port, b"POST /engine.io/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + framing
        )
    assert _split(answer)[0] == 413
    assert len(errors) == 1


async def test_lost_connection_cancels_handle(serve: Serve) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def handle(request: HttpRequest) -> HttpResponse:
        started.set()
        try:
            await asyncio.Event().wait()  # a long poll that nothing answers
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return HttpResponse(200, {})

    async with serve(handle) as port:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /engine.io/ HTTP/1.1\r\nHost: t\r\n\r\n")
        await asyncio.wait_for(started.wait(), 5)
        writer.close()
        await asyncio.wait_for(cancelled.wait(), 5)


async def test_accept_websocket_answers_101_and_the_socket_outlives_handle(
    serve: Serve,
) -> None:
    sockets: list[WebSocket] = []

    async def handle(request: HttpRequest) -> HttpResponse | None:
        ws = await request.accept_websocket(ServerOptions(), {"Set-Cookie": "io=1"})
        sockets.append(ws)
        return None

    key = base64.b64encode(b"0123456789abcdef")
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    async with serve(handle) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /engine.io/ HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
            # a masked text frame "hi", pipelined behind the upgrade request
            b"\x81\x82\x00\x00\x00\x00hi"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        status, headers, _ = _split(head)
        assert status == 101
        assert headers["sec-websocket-accept"] == accept.decode()
        assert headers["set-cookie"] == "io=1"
        (ws,) = sockets
        assert await asyncio.wait_for(ws.recv(), 5) == "hi"
        await ws.send("back")
        assert await asyncio.wait_for(reader.readexactly(6), 5) == b"\x81\x04back"
        # the client's close frame (code 1000), masked with a zero key
        writer.write(b"\x88\x82\x00\x00\x00\x00\x03\xe8")
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 1000
        writer.close()


async def test_accept_websocket_refuses_a_bad_handshake(serve: Serve) -> None:
    refusals: list[HandshakeRefused] = []

    async def handle(request: HttpRequest) -> HttpResponse | None:
        try:
            await request.accept_websocket(ServerOptions(), None)
        except HandshakeRefused as exc:
            refusals.append(exc)
            return HttpResponse(exc.status, {})
        return None

    async with serve(handle) as port:
        answer = await _exchange(
            port,
            b"GET /engine.io/ HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
            head_only=True,
        )
    assert _split(answer)[0] == 400
    assert len(refusals) == 1
