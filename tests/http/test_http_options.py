"""rtio.http.options: FrontOptions' checks, and each limit applied by a front."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from rtio.engine import HttpRequest, HttpResponse
from rtio.http import FrontOptions, FrontSite, Route
from rtio.http.options import MAX_PIPELINED


def test_defaults() -> None:
    options = FrontOptions()
    assert (options.keepalive_timeout, options.head_timeout, options.body_timeout) == (
        75.0,
        30.0,
        60.0,
    )
    assert options.max_pipelined == MAX_PIPELINED and options.max_head == 8192


async def handle(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, {})


def test_a_route_starts_inline_unless_told() -> None:
    assert Route(handle) == (handle, True) and not Route(handle, inline=False).inline


@pytest.mark.parametrize("value", [0.0, -1.0])
def test_options_refuse_non_positive_timeouts(value: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        FrontOptions(body_timeout=value)
    with pytest.raises(ValueError, match="max_head"):
        FrontOptions(max_head=10)
    with pytest.raises(ValueError, match="max_chunk_line"):
        FrontOptions(max_chunk_line=1)


def test_keepalive_timeout_argument_replaces_the_options() -> None:
    from rtio.http import Front

    front = Front({}, options=FrontOptions(keepalive_timeout=5.0, max_head=100))
    assert front.options.keepalive_timeout == 5.0 and front.options.max_head == 100
    front = Front({}, keepalive_timeout=1.0, options=FrontOptions(keepalive_timeout=5.0))
    assert front.options.keepalive_timeout == 1.0


async def test_chunk_line_and_trailer_limits_are_options() -> None:
    async def handle(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, {}, await request.read_body(1000))

    runner = web.AppRunner(web.Application())
    await runner.setup()
    options = FrontOptions(max_chunk_line=20, max_trailers=32)
    site = FrontSite(runner, "127.0.0.1", 0, routes={"/e/": handle}, options=options)
    await site.start()
    head = b"POST /e/ HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    try:
        for body, expected in (
            (b"1;" + b"e" * 17 + b"\r\na\r\n0\r\n\r\n", b"HTTP/1.1 200 "),
            (b"1;" + b"e" * 19 + b"\r\na\r\n0\r\n\r\n", b"HTTP/1.1 400 "),
            (b"1\r\na\r\n0\r\n" + b"T: v\r\n" * 5 + b"\r\n", b"HTTP/1.1 200 "),
            (b"1\r\na\r\n0\r\n" + b"T: v\r\n" * 6 + b"\r\n", b"HTTP/1.1 400 "),
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
            writer.write(head)
            await asyncio.sleep(0.01)  # (the body read by read_body, not with the head)
            writer.write(body)
            answer = await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)
            assert answer.startswith(expected), (body, answer)
            writer.close()
    finally:
        await runner.cleanup()
