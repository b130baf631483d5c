"""The client: connect() against our own server, against aiohttp's WebSocketResponse (an
independent implementation), and against raw servers that answer what a test needs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import WSMsgType, web

from rtio.ws import (
    ConnectionClosed,
    ConnectionOptions,
    DeflateOptions,
    HandshakeRefused,
    InvalidHandshakeResponse,
    ServerOptions,
    accept,
    connect,
)
from rtio.ws.client import MaskKeys, parse_url
from rtio.ws.frames import FrameParser, Opcode, serialize_frame
from rtio.ws.handshake import accept_key

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def app_server() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return f"ws://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[RawHandler], Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: RawHandler) -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()


def rtio_app(options: ServerOptions, origins: list[str | None] | None = None) -> web.Application:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        def check(origin: str | None) -> bool:
            assert origins is not None
            origins.append(origin)
            return origin == "https://ok"

        try:
            ws, response = await accept(
                request, options=options, origin_check=check if origins is not None else None
            )
        except HandshakeRefused as exc:
            return exc.response()
        await ws.send(f"{ws.subprotocol} {request.headers.get('X-Test')}")
        async for message in ws:
            await ws.send(message)
        return response

    app = web.Application()
    app.router.add_get("/echo", endpoint)
    return app


@pytest.mark.parametrize("compression", [None, DeflateOptions(threshold=0)])
async def test_echo_with_our_server(
    app_server: Callable[[web.Application], Awaitable[str]], compression: DeflateOptions | None
) -> None:
    options = ServerOptions(
        subprotocols=("v2", "v1"), compression=DeflateOptions(), ping_interval=None
    )
    base = await app_server(rtio_app(options))
    ws = await connect(
        f"{base}/echo?x=1",
        subprotocols=["v1", "v2"],
        compression=compression,
        headers={"X-Test": "yes"},
    )
    assert ws.subprotocol == "v2"  # the server's preference
    assert await ws.recv() == "v2 yes"
    assert (ws._proto.deflate is not None) is (compression is not None)
    for message in ("hello", b"\x00" * 70000, "é" * 1000, b""):
        await ws.send(message)
        assert await ws.recv() == message
    latency = await ws.ping(b"p")
    assert await latency >= 0
    await ws.close(1000, "done")
    assert ws.closed and ws.close_code == 1000


async def test_origin_is_sent(app_server: Callable[[web.Application], Awaitable[str]]) -> None:
    origins: list[str | None] = []
    base = await app_server(rtio_app(ServerOptions(ping_interval=None), origins))
    ws = await connect(f"{base}/echo", origin="https://ok")
    await ws.close()
    with pytest.raises(InvalidHandshakeResponse, match="answered 403"):
        await connect(f"{base}/echo", origin="https://evil")
    assert origins == ["https://ok", "https://evil"]


async def test_refusal_statuses(app_server: Callable[[web.Application], Awaitable[str]]) -> None:
    base = await app_server(rtio_app(ServerOptions()))
    with pytest.raises(InvalidHandshakeResponse, match="answered 404"):
        await connect(f"{base}/nowhere")


async def test_echo_with_aiohttp_websocketresponse(
    app_server: Callable[[web.Application], Awaitable[str]],
) -> None:
    async def endpoint(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("chat",), compress=True)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", endpoint)
    base = await app_server(app)
    ws = await connect(base, subprotocols=["chat"], compression=DeflateOptions(threshold=0))
    assert ws.subprotocol == "chat"
    assert ws._proto.deflate is not None
    for message in ("hi", b"\x01" * 200000, "x" * 5000):
        await ws.send(message)
        assert await ws.recv() == message
    await ws.close()
    assert ws.close_code == 1000


async def read_request(reader: asyncio.StreamReader) -> dict[str, str]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("GET ") and lines[0].endswith(" HTTP/1.1")
    return {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}


def answer(key: str, extra: str = "") -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n{extra}\r\n"
    ).encode()


async def test_bytes_right_behind_the_101_reach_the_client(
    raw_server: Callable[[RawHandler], Awaitable[str]],
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = await read_request(reader)
        writer.write(answer(headers["sec-websocket-key"]) + b"\x81\x05first\x82\x00")
        await reader.read()

    ws = await connect(await raw_server(handler))
    assert await ws.recv() == "first"
    assert await ws.recv() == b""
    ws.transport.abort()


async def test_the_client_masks_with_fresh_keys(
    raw_server: Callable[[RawHandler], Awaitable[str]],
) -> None:
    seen: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = await read_request(reader)
        assert headers["host"].startswith("127.0.0.1:")
        assert headers["sec-websocket-version"] == "13"
        writer.write(answer(headers["sec-websocket-key"]))
        data = b""
        while len(data) < 3 * 11:
            data += await reader.read(100)
        seen.set_result([data[i : i + 11] for i in range(0, 33, 11)])
        await reader.read()

    ws = await connect(await raw_server(handler))
    for _ in range(3):
        await ws.send("hello")
    frames = await asyncio.wait_for(seen, 5)
    keys = set()
    for frame in frames:
        assert frame[:2] == b"\x81\x85"  # 5.3: every client frame is masked
        parser = FrameParser(require_mask=True)
        parser.feed(frame)
        assert parser.next_frame() == (Opcode.TEXT, b"hello", True, 0)
        keys.add(frame[2:6])
    assert len(keys) == 3
    ws.transport.abort()


def test_mask_keys_are_fresh() -> None:
    keys = MaskKeys()
    drawn = [keys() for _ in range(3000)]  # across a refill of the pool
    assert all(len(k) == 4 for k in drawn)
    assert len(set(drawn)) > 2990


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "answered 200"),
        (b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Accept: wrong\r\n\r\n", "Accept"),
        (b"garbage\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 101 OK\r\n", "closed during the handshake"),
    ],
)  # fmt: skip
async def test_bad_answers(
    raw_server: Callable[[RawHandler], Awaitable[str]], reply: bytes, message: str
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply)
        writer.close()

    with pytest.raises(InvalidHandshakeResponse, match=message):
        await connect(await raw_server(handler))


async def test_unrequested_subprotocol_or_extension(
    raw_server: Callable[[RawHandler], Awaitable[str]],
) -> None:
    extra = iter(["Sec-WebSocket-Protocol: other\r\n", "Sec-WebSocket-Extensions: x-foo\r\n"])

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = await read_request(reader)
        writer.write(answer(headers["sec-websocket-key"], next(extra)))
        await reader.read()

    base = await raw_server(handler)
    with pytest.raises(InvalidHandshakeResponse, match="unexpected subprotocol other"):
        await connect(base, subprotocols=["chat"])
    with pytest.raises(InvalidHandshakeResponse, match="unexpected extension x-foo"):
        await connect(base, compression=DeflateOptions())


async def test_open_timeout(raw_server: Callable[[RawHandler], Awaitable[str]]) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers

    with pytest.raises(asyncio.TimeoutError):
        await connect(await raw_server(handler), open_timeout=0.1)


async def test_server_frames_must_not_be_masked(
    raw_server: Callable[[RawHandler], Awaitable[str]],
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = await read_request(reader)
        writer.write(answer(headers["sec-websocket-key"]))
        writer.write(serialize_frame(Opcode.TEXT, b"masked", mask_key=b"abcd"))
        await reader.read()

    ws = await connect(await raw_server(handler), options=ConnectionOptions(close_timeout=1))
    with pytest.raises(ConnectionClosed) as info:
        await ws.recv()
    assert info.value.code == 1002


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("ws://example.com", (False, "example.com", 80, "/", "example.com")),
        ("wss://example.com/chat?a=b", (True, "example.com", 443, "/chat?a=b", "example.com")),
        ("ws://example.com:8080/x", (False, "example.com", 8080, "/x", "example.com:8080")),
        ("ws://[::1]:9000/", (False, "::1", 9000, "/", "[::1]:9000")),
        ("WS://h:80", (False, "h", 80, "/", "h")),
    ],
)
def test_parse_url(url: str, parsed: tuple[bool, str, int, str, str]) -> None:
    assert parse_url(url) == parsed


@pytest.mark.parametrize("url", ["http://example.com", "ws://example.com/#frag", "ws:///path"])
def test_parse_url_refuses(url: str) -> None:
    with pytest.raises(ValueError):
        parse_url(url)


def test_connect_on_uvloop() -> None:
    import uvloop  # a runtime dependency of rtio on Linux

    async def main() -> None:
        options = ServerOptions(ping_interval=None)
        app = rtio_app(options)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            ws = await connect(f"ws://127.0.0.1:{runner.addresses[0][1]}/echo")
            assert await ws.recv() == "None None"
            await ws.send("on uvloop")
            assert await ws.recv() == "on uvloop"
            await ws.close()
        finally:
            await runner.cleanup()

    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
