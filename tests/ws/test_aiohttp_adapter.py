"""End-to-end tests of aiohttp_adapter.py (``accept``), each with the WebSocket attached to
aiohttp's RequestHandler and detached from it (``accept(detach=True)``), on asyncio's loop
and on uvloop (conftest.py). The aiohttp internals these rely on have their own contract
tests, one per touch, in tests/test_aiohttp_internals.py.

- bytes pipelined right behind the upgrade request reach our parser;
- a client disconnect reaches us;
- attached, a handler return closes with a close frame; detached, it does not;
- the app's shutdown closes with a close frame;
- refusals are plain HTTP answers; read and write backpressure work (attached: through
  aiohttp's RequestHandler; detached: on our own protocol);
- detached, aiohttp's request and RequestHandler are freed once the handler returned.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import os
import shutil
import ssl
import subprocess
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from rtio.ws import (
    ConnectionClosed,
    HandshakeRefused,
    ServerOptions,
    WebSocket,
    accept,
    close_all_on_shutdown,
    connect,
)
from rtio.ws.frames import FrameParser, Opcode, serialize_frame
from rtio.ws.handshake import accept_key, parse_response

MASK = b"\x0a\x0b\x0c\x0d"
Handler = Callable[[WebSocket], Awaitable[None]]


class Server:
    def __init__(self, detach: bool) -> None:
        self.detach = detach
        self.app = web.Application()
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.sockets: list[WebSocket] = []
        self.handler: Handler | None = None
        self.options = ServerOptions(ping_interval=None, close_timeout=2)
        self.done: asyncio.Queue[WebSocket] = asyncio.Queue()
        self.tasks: set[asyncio.Task[None]] = set()
        self.requests: list[weakref.ref[web.Request]] = []
        self.before_accept: asyncio.Future[None] | None = None
        #: accept()'s track for each next connection (then True)
        self.track: list[bool] = []

    async def endpoint(self, request: web.Request) -> web.StreamResponse:
        if self.before_accept is not None:
            await self.before_accept
        try:
            track = self.track.pop(0) if self.track else True
            ws, response = await accept(
                request, options=self.options, detach=self.detach, track=track
            )
        except HandshakeRefused as exc:
            return exc.response()
        self.sockets.append(ws)
        self.requests.append(weakref.ref(request))
        if self.detach:  # the WebSocket lives on after this returns
            self.tasks.add(asyncio.ensure_future(self.run(ws)))
        else:
            await self.run(ws)
        return response

    async def run(self, ws: WebSocket) -> None:
        try:
            if self.handler is not None:
                await self.handler(ws)
        finally:
            self.done.put_nowait(ws)

    async def start(self) -> None:
        self.app.router.add_get("/ws", self.endpoint)
        close_all_on_shutdown(self.app)
        self.runner = web.AppRunner(self.app, shutdown_timeout=2)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


@pytest.fixture(params=[False, True], ids=["attached", "detached"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    s = Server(detach=request.param)
    await s.start()
    yield s
    assert s.runner is not None
    await s.runner.cleanup()
    for task in s.tasks:
        task.cancel()
    await asyncio.gather(*s.tasks, return_exceptions=True)


async def echo(ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


def request_bytes(port: int, key: str, extra: str = "") -> bytes:
    return (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


class RawClient:
    """A bare TCP client that writes bytes we choose and parses the server's frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = FrameParser(require_mask=False)
        self.buffer = b""

    @classmethod
    async def open(cls, port: int, tail: bytes = b"") -> tuple[RawClient, int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(request_bytes(port, key) + tail)  # one write: the tail is pipelined
        client = cls(reader, writer)
        while (parsed := parse_response(client.buffer)) is None:
            chunk = await reader.read(65536)
            assert chunk, "closed during the handshake"
            client.buffer += chunk
        response, consumed = parsed
        assert dict(response.headers)["Sec-WebSocket-Accept"] == accept_key(key)
        client.parser.feed(client.buffer[consumed:])
        return client, response.status

    async def frame(self) -> tuple[int, bytes]:
        while (frame := self.parser.next_frame()) is None:
            chunk = await asyncio.wait_for(self.reader.read(65536), 5)
            assert chunk, "connection closed"
            self.parser.feed(chunk)
        return frame.opcode, frame.payload

    async def eof(self) -> bool:
        return await asyncio.wait_for(self.reader.read(65536), 5) == b""


async def test_bytes_pipelined_behind_the_upgrade_reach_our_parser(server: Server) -> None:
    server.handler = echo
    tail = serialize_frame(Opcode.TEXT, b"early", mask_key=MASK)
    tail += serialize_frame(Opcode.BINARY, b"bird", mask_key=MASK)
    client, status = await RawClient.open(server.port, tail)
    assert status == 101
    assert await client.frame() == (Opcode.TEXT, b"early")
    assert await client.frame() == (Opcode.BINARY, b"bird")
    client.writer.close()


async def test_a_big_pipelined_tail_that_paused_reading(server: Server) -> None:
    # More bytes behind the upgrade than aiohttp buffers before it pauses reading (its
    # read_bufsize, 64 KiB), all read before the handler accepts: reading must go on.
    server.handler = echo
    server.before_accept = asyncio.get_running_loop().create_future()
    frames = [serialize_frame(Opcode.BINARY, bytes([i]) * 32000, mask_key=MASK) for i in range(64)]
    open_client = asyncio.ensure_future(RawClient.open(server.port, b"".join(frames)))
    await asyncio.sleep(0.2)  # the request and its tail are read (not asserted: any time works)
    server.before_accept.set_result(None)
    client, status = await asyncio.wait_for(open_client, 5)
    assert status == 101
    for i in range(64):
        assert await client.frame() == (Opcode.BINARY, bytes([i]) * 32000)
    client.writer.close()


async def test_a_client_disconnect_reaches_us(server: Server) -> None:
    outcome: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def handler(ws: WebSocket) -> None:
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            outcome.set_result(exc.code)

    server.handler = handler
    client, _ = await RawClient.open(server.port)
    client.writer.transport.abort()  # no close frame
    assert await asyncio.wait_for(outcome, 5) == 1006
    ws = await asyncio.wait_for(server.done.get(), 5)
    assert ws.closed and ws.close_code == 1006


async def test_a_handler_return_closes_with_a_close_frame(server: Server) -> None:
    if server.detach:
        pytest.skip("detached, the aiohttp handler returns at once: see the next test")

    async def handler(ws: WebSocket) -> None:
        await ws.send("bye")

    server.handler = handler
    client, _ = await RawClient.open(server.port)
    assert await client.frame() == (Opcode.TEXT, b"bye")
    assert await client.frame() == (Opcode.CLOSE, b"\x03\xe8")
    client.writer.write(serialize_frame(Opcode.CLOSE, b"\x03\xe8", mask_key=MASK))
    assert await client.eof()  # and the server closes the TCP connection


def handlers_alive() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is RequestHandler)


async def test_detached_lives_on_and_frees_aiohttp(server: Server) -> None:
    if not server.detach:
        pytest.skip("attached, aiohttp's objects live as long as the WebSocket")
    server.handler = echo
    before = handlers_alive()
    clients = [await connect(server.url) for _ in range(3)]
    for i, client in enumerate(clients):  # after the aiohttp handler returned
        await client.send(f"still here {i}")
        assert await client.recv() == f"still here {i}"
    assert server.runner is not None and server.runner.server is not None
    assert server.runner.server.connections == []
    assert [ref() for ref in server.requests] == [None] * 3
    assert handlers_alive() == before
    for client in clients:
        await client.close()
        assert client.close_code == 1000
    for ws in server.sockets:
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 1000


async def test_app_shutdown_closes_every_websocket(server: Server) -> None:
    server.handler = echo
    clients = [await connect(server.url) for _ in range(3)]
    await clients[0].send("still here")
    assert await clients[0].recv() == "still here"
    assert server.runner is not None
    await asyncio.wait_for(server.runner.shutdown(), 5)
    for ws in clients:
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert (ws.close_code, ws.close_reason) == (1001, "server shutting down")


async def test_app_shutdown_leaves_an_untracked_websocket_to_its_owner(server: Server) -> None:
    server.handler = echo
    server.track = [True, False]
    tracked, untracked = [await connect(server.url) for _ in range(2)]
    assert server.runner is not None
    await asyncio.wait_for(server.runner.shutdown(), 5)
    await asyncio.wait_for(tracked.wait_closed(), 5)
    assert tracked.close_code == 1001
    await untracked.send("still open")
    assert await asyncio.wait_for(untracked.recv(), 5) == "still open"
    await asyncio.wait_for(server.sockets[1].close(1001), 5)  # its owner closes it
    await asyncio.wait_for(untracked.wait_closed(), 5)
    assert untracked.close_code == 1001


@pytest.mark.parametrize(
    ("headers", "status", "extra"),
    [
        ({"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "8",
          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, 426, ("Sec-WebSocket-Version", "13")),
        ({}, 426, ("Upgrade", "websocket")),
        ({"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": "short"}, 400, None),
    ],
)  # fmt: skip
async def test_refusals_are_http_answers(
    server: Server, headers: dict[str, str], status: int, extra: tuple[str, str] | None
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(f"GET /ws HTTP/1.1\r\nHost: x\r\n{lines}\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    parsed = parse_response(head)
    assert parsed is not None
    assert parsed[0].status == status
    if extra is not None:
        assert extra in parsed[0].headers
    writer.close()


async def test_reading_pauses_through_aiohttp(server: Server) -> None:
    server.options = ServerOptions(ping_interval=None, max_queue=2)
    started = asyncio.Event()
    release = asyncio.Event()

    async def handler(ws: WebSocket) -> None:
        started.set()
        await release.wait()
        assert [await ws.recv() for _ in range(5)] == [str(i) for i in range(5)]
        await ws.send(f"got them, reading: {ws.transport.is_reading()}")

    server.handler = handler
    client = await connect(server.url)
    await started.wait()
    for i in range(5):
        await client.send(str(i))
    await asyncio.sleep(0.1)
    ws = server.sockets[0]
    assert not ws.transport.is_reading()  # paused: the app is not reading
    release.set()
    assert await asyncio.wait_for(client.recv(), 5) == "got them, reading: True"
    await client.close()


async def test_writes_wait_while_aiohttp_is_paused(server: Server) -> None:
    server.options = ServerOptions(ping_interval=None, write_limit=1 << 16)
    blocked = asyncio.Event()
    sent = 0

    async def handler(ws: WebSocket) -> None:
        nonlocal sent
        chunk = b"x" * (1 << 20)
        while sent < 64:
            send = asyncio.ensure_future(ws.send(chunk))
            await asyncio.sleep(0)
            if not send.done():
                blocked.set()
            await send
            sent += 1

    server.handler = handler
    client, _ = await RawClient.open(server.port)
    await asyncio.wait_for(blocked.wait(), 5)  # the client does not read: send waits
    assert sent < 64
    for _ in range(64):  # reading lets the sends go on
        opcode, payload = await client.frame()
        assert (opcode, len(payload)) == (Opcode.BINARY, 1 << 20)
    assert sent == 64
    client.writer.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_detached_over_tls(tmp_path: Path) -> None:
    # set_protocol on a TLS transport: the WebSocket is handed over above the TLS layer
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    server = Server(detach=True)
    server.handler = echo
    server.app.router.add_get("/ws", server.endpoint)
    close_all_on_shutdown(server.app)
    runner = web.AppRunner(server.app, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        client = await connect(f"wss://127.0.0.1:{port}/ws", ssl=client_context)
        for message in ("over TLS", b"x" * 100_000):
            await client.send(message)
            assert await asyncio.wait_for(client.recv(), 5) == message
        await client.close()
        assert client.close_code == 1000
        ws = server.sockets[0]
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 1000
    finally:
        await runner.cleanup()
        for task in server.tasks:
            task.cancel()
        await asyncio.gather(*server.tasks, return_exceptions=True)
