"""rtio.http.deadlines: the decisions on a fake clock (numbers in, a deadline or None
out), then the deadlines applied by the front (FrontOptions): a body that never arrives, a
head that trickles in, on real sockets with many connections at once; the bound asserted is
the time every connection takes to be answered 408 and closed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

import rtio
from rtio.engine import HttpRequest, HttpResponse
from rtio.http import FrontOptions, FrontSite, start_server
from rtio.http.deadlines import Waiting, expiry

N = 200

OPTIONS = FrontOptions(keepalive_timeout=75.0, head_timeout=30.0, body_timeout=60.0)


@pytest.mark.parametrize(
    ("waiting", "timeout"),
    [(Waiting.NEXT_HEAD, 75.0), (Waiting.HEAD, 30.0), (Waiting.BODY, 60.0)],
)
def test_each_wait_has_its_deadline(waiting: Waiting, timeout: float) -> None:
    since = 1000.0
    # before the deadline: look again at the deadline
    assert expiry(waiting, since, since, OPTIONS) == since + timeout
    assert expiry(waiting, since, since + timeout - 0.001, OPTIONS) == since + timeout
    # at or past it: expired
    assert expiry(waiting, since, since + timeout, OPTIONS) is None
    assert expiry(waiting, since, since + timeout + 5, OPTIONS) is None


def test_a_handler_has_no_deadline_of_the_fronts() -> None:
    # a long poll: the engine ends it; the front only looks again later
    assert expiry(Waiting.HANDLER, 0.0, 5000.0, OPTIONS) == 5075.0


def test_timeout_reasons() -> None:
    assert Waiting.HEAD.timeout_reason == "request head not received in time"
    assert Waiting.BODY.timeout_reason == "request body not received in time"


async def _read_to_eof(reader: asyncio.StreamReader) -> bytes:
    return await reader.read()


@pytest.fixture
async def engine_site() -> AsyncIterator[FrontSite]:
    sio = rtio.Server(ping_interval=20.0, ping_timeout=20.0)
    app = web.Application()
    sio.attach(app)
    options = FrontOptions(body_timeout=0.5)
    started = await start_server(app, "127.0.0.1", 0, options=options)
    try:
        yield started
    finally:
        await started.runner.cleanup()


async def test_silent_bodies_time_out_with_408(engine_site: FrontSite) -> None:
    """Issue 12, defect 3 (the front's part): 200 polling POSTs that announce 1,000 bytes
    and send 1 were held for ever (the idle timer re-armed while a request was in flight,
    the body had no deadline). With body_timeout 0.5 s every one gets 408 and is closed
    within 10 s, and the front has no connection left."""
    site = engine_site
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for _ in range(N):
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        writer.write(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: t\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        sid = json.loads((await reader.readexactly(length))[1:])["sid"]
        writer.write(
            f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: t\r\n"
            "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 1000\r\n\r\n4".encode()
        )
        conns.append((reader, writer))
    started = time.monotonic()
    answers = await asyncio.wait_for(
        asyncio.gather(*(_read_to_eof(reader) for reader, _ in conns)), 10
    )
    elapsed = time.monotonic() - started
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers[0]
    assert b"Connection: close" in answers[0] and b"body not received in time" in answers[0]
    assert elapsed < 10 and not site.front.connections
    for _, writer in conns:
        writer.close()


@pytest.fixture
async def stub_site() -> AsyncIterator[FrontSite]:
    async def handle(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, {}, b"ok")

    runner = web.AppRunner(web.Application())
    await runner.setup()
    options = FrontOptions(head_timeout=0.5, body_timeout=0.5)
    site = FrontSite(runner, "127.0.0.1", 0, routes={"/engine.io/": handle}, options=options)
    await site.start()
    try:
        yield site
    finally:
        await runner.cleanup()


async def test_trickled_heads_time_out_with_408(
    stub_site: FrontSite, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12, defect 3 (a head that trickles in, slowloris): 200 connections that keep
    sending a byte of their head every 0.1 s are answered 408 and closed within 10 s
    (head_timeout 0.5 s), however recent their last byte; each refusal is logged (INFO)."""
    caplog.set_level("INFO", "rtio.http")
    site = stub_site
    conns = [await asyncio.open_connection("127.0.0.1", site.port) for _ in range(N)]
    for _, writer in conns:
        writer.write(b"GET /engine.io/ HTTP/1.1\r\nX-A: ")
    stop = asyncio.Event()

    async def trickle() -> None:
        while not stop.is_set():
            for _, writer in conns:
                if not writer.is_closing():
                    writer.write(b"a")
            await asyncio.sleep(0.1)

    trickler = asyncio.create_task(trickle())
    started = time.monotonic()
    try:
        answers = await asyncio.wait_for(
            asyncio.gather(*(_read_to_eof(reader) for reader, _ in conns)), 10
        )
    finally:
        stop.set()
        await trickler
    elapsed = time.monotonic() - started
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers[0]
    assert b"head not received in time" in answers[0]
    assert elapsed < 10 and not site.front.connections
    assert "408 request head not received in time (from ('127.0.0.1'" in caplog.text
    for _, writer in conns:
        writer.close()


async def test_a_quiet_connection_is_still_closed_silently_when_idle() -> None:
    """The keep-alive timeout is not a head timeout: an idle connection (nothing of a
    next head) closes without a response."""

    async def handle(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, {}, b"ok")

    runner = web.AppRunner(web.Application())
    await runner.setup()
    options = FrontOptions(keepalive_timeout=0.2, head_timeout=5.0)
    site = FrontSite(runner, "127.0.0.1", 0, routes={"/engine.io/": handle}, options=options)
    await site.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        writer.write(b"GET /engine.io/ HTTP/1.1\r\nHost: t\r\n\r\n")
        answer = await asyncio.wait_for(_read_to_eof(reader), 5)
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"ok")
        writer.close()
    finally:
        await runner.cleanup()


async def test_a_slow_body_that_completes_in_time_is_answered() -> None:
    async def handle(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, {}, await request.read_body(100))

    runner = web.AppRunner(web.Application())
    await runner.setup()
    site = FrontSite(
        runner, "127.0.0.1", 0, routes={"/e/": handle}, options=FrontOptions(body_timeout=5)
    )
    await site.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        writer.write(b"POST /e/ HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\na")
        await asyncio.sleep(0.05)
        writer.write(b"bc")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 ") and await reader.readexactly(3) == b"abc"
        writer.close()
    finally:
        await runner.cleanup()


async def test_a_head_ended_by_bare_lfs_is_refused_at_once(stub_site: FrontSite) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", stub_site.port)
    writer.write(b"GET /engine.io/ HTTP/1.1\nHost: t\n\n")
    answer = await asyncio.wait_for(_read_to_eof(reader), 5)
    assert answer.startswith(b"HTTP/1.1 400 ") and answer.endswith(b"bare LF in the request head\n")
    writer.close()
