"""rtio.bench.http_fetch: the response reader on byte vectors, then the fetcher against a
real aiohttp server on loopback (keep-alive reuse, chunked bodies, errors, timeouts)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from rtio.bench.http_fetch import RawHttpFetcher, ResponseReader
from rtio.client import TransportError


def read(*pieces: bytes, max_size: int = 1000) -> ResponseReader:
    reader = ResponseReader(max_size)
    done = False
    for piece in pieces:
        assert not done, "complete before its last piece"
        done = reader.feed(piece)
    assert done
    return reader


def test_content_length() -> None:
    reader = read(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello")
    assert (reader.status, reader.body, reader.keep_alive) == (200, b"hello", True)


def test_byte_by_byte() -> None:
    raw = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 3\r\nConnection: close\r\n\r\nbad"
    reader = read(*(raw[i : i + 1] for i in range(len(raw))))
    assert (reader.status, reader.body, reader.keep_alive) == (400, b"bad", False)


def test_chunked_across_pieces_with_a_trailer() -> None:
    reader = read(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n40{\"",
                  b"\r\n7;ext=1\r\nsid\":1}\r\n0\r\n", b"X-Trailer: 1\r\n\r\n")
    assert reader.body == b'40{"sid":1}'


def test_http_1_0_closes_and_eof_ends_an_undelimited_body() -> None:
    reader = ResponseReader(100)
    assert not reader.feed(b"HTTP/1.0 200 OK\r\n\r\nsome")
    assert not reader.feed(b" body")
    assert reader.eof()
    assert (reader.body, reader.keep_alive) == (b"some body", False)


def test_no_body_statuses() -> None:
    assert read(b"HTTP/1.1 204 No Content\r\n\r\n").body == b""


@pytest.mark.parametrize(("raw", "error"), [
    (b"SPDY/3 200 OK\r\n\r\n", "bad status line"),
    (b"HTTP/1.1 abc OK\r\n\r\n", "bad status line"),
    (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "bad header line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", "larger than"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab", "bytes after"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" + b"x" * 4096 + b"\r\n",
     "larger than"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 20000, "head too long"),
])
def test_malformed_responses(raw: bytes, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        ResponseReader(1000).feed(raw)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[str]]]:
    peers: list[str] = []

    async def echo(request: web.Request) -> web.StreamResponse:
        peers.append(str(request.transport.get_extra_info("peername")))  # type: ignore[union-attr]
        if request.query.get("chunked"):
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(b"part1,")
            await response.write(b"part2")
            await response.write_eof()
            return response
        if request.query.get("slow"):
            await asyncio.sleep(1)
        body = await request.read()
        return web.Response(body=request.method.encode() + b":" + body,
                            status=int(request.query.get("status", "200")))

    app = web.Application()
    app.router.add_route("*", "/x", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}/x", peers
    finally:
        await runner.cleanup()


async def test_requests_reuse_a_kept_alive_connection(server: tuple[str, list[str]]) -> None:
    url, peers = server
    fetcher = RawHttpFetcher()
    try:
        assert await fetcher.request("GET", url + "?a=1", {}, None, 5, 1000) == (200, b"GET:")
        assert await fetcher.request("POST", url, {"Content-Type": "text/plain"}, b"40", 5,
                                     1000) == (200, b"POST:40")
        assert await fetcher.request("GET", url + "?status=400", {}, None, 5, 1000) == (
            400, b"GET:")
        assert await fetcher.request("GET", url + "?chunked=1", {}, None, 5, 1000) == (
            200, b"part1,part2")
        assert len(set(peers)) == 1  # one connection for all four
        # two at once: a second connection, and both go back to the pool
        both = await asyncio.gather(
            fetcher.request("GET", url, {}, None, 5, 1000),
            fetcher.request("GET", url, {}, None, 5, 1000),
        )
        assert both == [(200, b"GET:"), (200, b"GET:")]
        assert len(set(peers)) == 2
    finally:
        await fetcher.shutdown()


async def test_errors_are_transport_errors(server: tuple[str, list[str]]) -> None:
    url, _ = server
    fetcher = RawHttpFetcher()
    try:
        with pytest.raises(TransportError, match="failed") as timed_out:
            await fetcher.request("GET", url + "?slow=1", {}, None, 0.2, 1000)
        assert isinstance(timed_out.value.__cause__, asyncio.TimeoutError)
        with pytest.raises(TransportError, match="bad response"):
            await fetcher.request("POST", url, {}, b"x" * 100, 5, 10)  # answer too big
        with pytest.raises(TransportError, match="not an http"):
            await fetcher.request("GET", "https://127.0.0.1/x", {}, None, 5, 1000)
        with pytest.raises(TransportError) as refused:
            await fetcher.request("GET", "http://127.0.0.1:1/x", {}, None, 5, 1000)
        assert isinstance(refused.value.__cause__, ConnectionRefusedError)
        # the pool still works after all that
        assert await fetcher.request("GET", url, {}, None, 5, 1000) == (200, b"GET:")
    finally:
        await fetcher.shutdown()
