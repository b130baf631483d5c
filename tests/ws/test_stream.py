"""serve_upgrade on a real socket: a bare asyncio server (standing in for rtio's own HTTP/1.1
front) reads the request head itself and hands the transport over; the rtio.ws client and
raw sockets are the peers. Runs on asyncio's loop and on uvloop (conftest.py)."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from rtio.ws import (
    ConnectionClosed,
    DeflateOptions,
    HandshakeRefused,
    ServerOptions,
    WebSocket,
    connect,
    serve_upgrade,
)
from rtio.ws.frames import FrameParser, Opcode, serialize_frame
from rtio.ws.handshake import accept_key, parse_response
from rtio.ws.stream import serialize_101

MASK = b"\x01\x02\x03\x04"


class Front(asyncio.Protocol):
    """Reads one request head, then calls serve_upgrade (or records the refusal)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.writing_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = transport  # type: ignore[assignment]
        if self.server.front_write_limit is not None:
            transport.set_write_buffer_limits(high=self.server.front_write_limit)  # type: ignore[attr-defined]

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ")
            headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:]]
            assert self.transport is not None
            if target == "/big":  # a plain HTTP answer with a big body
                body = b"b" * self.server.big
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
                self.transport.write(body)
                continue
            self.upgrade(method, version, headers)  # type: ignore[arg-type]
            return

    def upgrade(self, method: str, version: str, headers: list[tuple[str, str]]) -> None:
        assert self.transport is not None
        major, minor = version.removeprefix("HTTP/").split(".")
        try:
            transport = self.transport
            if self.server.writes is not None:
                transport = CountingTransport(transport, self.server.writes)  # type: ignore[assignment]
            ws = serve_upgrade(
                transport,
                method,
                (int(major), int(minor)),
                headers,
                options=self.server.options,
                extra_headers=self.server.extra_headers,
                tail=self.buffer,
                writing_paused=self.writing_paused,
            )
        except (HandshakeRefused, ValueError) as exc:
            self.server.refusals.put_nowait(exc)
            self.transport.close()  # nothing was written: the peer sees the bare close
            return
        self.buffer = b""
        self.server.accepted.put_nowait(ws)
        if self.server.on_accept is not None:
            self.server.on_accept(ws)


class CountingTransport:
    """The front's transport with every write recorded (the transport tries a send syscall
    on each write)."""

    def __init__(self, transport: asyncio.Transport, writes: list[bytes]) -> None:
        self._transport = transport
        self.writes = writes

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class Server:
    def __init__(self) -> None:
        self.options = ServerOptions(ping_interval=None, close_timeout=2)
        self.extra_headers: dict[str, str] | None = None
        self.accepted: asyncio.Queue[WebSocket] = asyncio.Queue()
        self.refusals: asyncio.Queue[Exception] = asyncio.Queue()
        self.on_accept: Callable[[WebSocket], None] | None = push_echo
        self.big = 0
        self.front_write_limit: int | None = None
        self.port = 0
        #: set to a list: the WebSocket's transport writes are recorded there
        self.writes: list[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


def push_echo(ws: WebSocket) -> None:
    def on_message(message: str | bytes) -> None:
        ws.send_now(message)

    ws.set_receiver(on_message, lambda: None)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    s = Server()
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(lambda: Front(s), "127.0.0.1", 0)
    s.port = listener.sockets[0].getsockname()[1]
    yield s
    listener.close()
    await listener.wait_closed()


def upgrade_request(key: str, target: str = "/ws", extra: str = "") -> bytes:
    return (
        f"GET {target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


async def read_101(reader: asyncio.StreamReader, key: str) -> tuple[dict[str, str], bytes]:
    buffer = b""
    while (parsed := parse_response(buffer)) is None:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        assert chunk, "closed during the handshake"
        buffer += chunk
    response, consumed = parsed
    assert response.status == 101
    headers = dict(response.headers)
    assert headers["Sec-WebSocket-Accept"] == accept_key(key)
    return headers, buffer[consumed:]


async def read_frames(
    reader: asyncio.StreamReader, buffered: bytes, count: int
) -> list[tuple[int, bytes]]:
    parser = FrameParser(require_mask=False)
    parser.feed(buffered)
    frames: list[tuple[int, bytes]] = []
    while len(frames) < count:
        frame = parser.next_frame()
        if frame is None:
            chunk = await asyncio.wait_for(reader.read(65536), 5)
            assert chunk, "connection closed"
            parser.feed(chunk)
            continue
        frames.append((frame.opcode, frame.payload))
    return frames


async def test_echo_with_the_rtio_client(server: Server) -> None:
    client = await connect(server.url)
    for message in ("hello", b"\x00\x01", "é" * 1000):
        await client.send(message)
        assert await asyncio.wait_for(client.recv(), 5) == message
    await client.close()
    assert client.close_code == 1000
    ws = await server.accepted.get()
    await asyncio.wait_for(ws.wait_closed(), 5)
    assert ws.close_code == 1000


async def test_permessage_deflate_and_subprotocol(server: Server) -> None:
    server.options = ServerOptions(
        ping_interval=None, subprotocols=("chat",), compression=DeflateOptions(threshold=0)
    )
    client = await connect(server.url, subprotocols=["chat"], compression=DeflateOptions())
    assert client.subprotocol == "chat"
    await client.send("squeeze " * 100)
    assert await asyncio.wait_for(client.recv(), 5) == "squeeze " * 100
    ws = await server.accepted.get()
    assert ws.subprotocol == "chat"
    await client.close()


async def test_the_tail_behind_the_request_is_fed_first(server: Server) -> None:
    server.extra_headers = {"Set-Cookie": "sid=1"}
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    tail = serialize_frame(Opcode.TEXT, b"early", mask_key=MASK)
    tail += serialize_frame(Opcode.BINARY, b"bird", mask_key=MASK)
    writer.write(upgrade_request(key) + tail)  # one write: the frames are pipelined
    headers, rest = await read_101(reader, key)
    assert headers["Set-Cookie"] == "sid=1"
    frames = await read_frames(reader, rest, 2)
    assert frames == [(Opcode.TEXT, b"early"), (Opcode.BINARY, b"bird")]
    writer.close()


async def test_a_refusal_writes_nothing(server: Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(upgrade_request("short"))
    assert await asyncio.wait_for(reader.read(), 5) == b""
    refusal = await server.refusals.get()
    assert isinstance(refusal, HandshakeRefused)
    assert refusal.status == 400
    writer.close()


async def test_a_header_with_a_line_break_is_refused_before_writing(server: Server) -> None:
    server.extra_headers = {"Set-Cookie": "a\r\nInjected: 1"}
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(upgrade_request(base64.b64encode(os.urandom(16)).decode()))
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert isinstance(await server.refusals.get(), ValueError)
    writer.close()


async def test_the_101_and_the_frames_right_behind_it_are_one_write(server: Server) -> None:
    # An Engine.IO open packet follows the 101 in the same loop iteration: both leave in
    # one write, in order (what was written after the iteration is a write of its own).
    writes: list[bytes] = []
    server.writes = writes

    def on_accept(ws: WebSocket) -> None:
        ws.send_now("open")
        ws.send_now(b"packet")

    server.on_accept = on_accept
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(upgrade_request(key))
    _, rest = await read_101(reader, key)
    frames = await read_frames(reader, rest, 2)
    assert frames == [(Opcode.TEXT, b"open"), (Opcode.BINARY, b"packet")]
    assert len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 101 ") and writes[0].endswith(b"packet")
    ws = await server.accepted.get()
    ws.send_now("later")
    assert await read_frames(reader, b"", 1) == [(Opcode.TEXT, b"later")]
    assert len(writes) == 2
    writer.close()


async def test_a_101_alone_goes_out_by_the_end_of_the_iteration(server: Server) -> None:
    writes: list[bytes] = []
    server.writes = writes
    server.on_accept = None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(upgrade_request(key))
    _, rest = await read_101(reader, key)  # the client sent nothing else
    assert rest == b""
    assert len(writes) == 1
    writer.close()


async def test_without_coalescing_the_101_is_written_at_once(server: Server) -> None:
    server.options = ServerOptions(ping_interval=None, coalesce_writes=False)
    writes: list[bytes] = []
    server.writes = writes
    server.on_accept = send_open
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(upgrade_request(key))
    _, rest = await read_101(reader, key)
    assert await read_frames(reader, rest, 1) == [(Opcode.TEXT, b"open")]
    assert len(writes) == 2 and writes[0].startswith(b"HTTP/1.1 101 ")
    writer.close()


async def test_a_big_write_behind_the_101_flushes_it_first(server: Server) -> None:
    # above write_limit the batch goes to the transport at once (its own buffer limit
    # applies from there): the 101 first, then the frame
    writes: list[bytes] = []
    server.writes = writes
    big = b"x" * (server.options.write_limit + 1)
    seen: list[int] = []

    def on_accept(ws: WebSocket) -> None:
        ws.send_now(big)
        seen.append(len(writes))  # still in the iteration of the upgrade

    server.on_accept = on_accept
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(upgrade_request(key))
    _, rest = await read_101(reader, key)
    assert await read_frames(reader, rest, 1) == [(Opcode.BINARY, big)]
    assert seen == [1] and writes[0].startswith(b"HTTP/1.1 101 ")
    writer.close()


async def test_a_close_in_the_iteration_of_the_upgrade_sends_the_101_first(
    server: Server,
) -> None:
    # a message pipelined behind the request meets a raising receiver at once: the
    # connection fails with 1011 and closes its transport in the same iteration
    def on_accept(ws: WebSocket) -> None:
        ws.set_receiver(_raise, lambda: None)

    server.on_accept = on_accept
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(upgrade_request(key) + serialize_frame(Opcode.TEXT, b"boom", mask_key=MASK))
    _, rest = await read_101(reader, key)
    frames = await read_frames(reader, rest, 1)
    assert frames[0][0] == Opcode.CLOSE and frames[0][1][:2] == b"\x03\xf3"  # 1011
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


def send_open(ws: WebSocket) -> None:
    ws.send_now("open")


def _raise(message: str | bytes) -> None:
    raise RuntimeError("a buggy handler")


def test_serialize_101() -> None:
    assert serialize_101([("Upgrade", "websocket"), ("X-A", "b")]) == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-A: b\r\n\r\n"
    )
    for bad in [("X\n", "v"), ("X:Y", "v"), ("X", "v\r")]:
        with pytest.raises(ValueError):
            serialize_101([bad])


async def test_a_client_disconnect_reaches_the_receiver(server: Server) -> None:
    closed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    def on_accept(ws: WebSocket) -> None:
        ws.set_receiver(lambda message: None, lambda: closed.set_result(ws.close_code))

    server.on_accept = on_accept
    client = await connect(server.url)
    client.transport.abort()
    assert await asyncio.wait_for(closed, 5) == 1006


async def test_writes_paused_by_the_front_stay_paused_until_resumed(server: Server) -> None:
    # The front answered a pipelined request with a body the client does not read yet, so
    # the transport paused writing before the upgrade: the WebSocket starts paused and the
    # transport's resume reaches it.
    server.big = 8 << 20
    server.on_accept = None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n" + upgrade_request(key))
    ws = await asyncio.wait_for(server.accepted.get(), 5)
    assert ws.send_now("after the body") is False
    drain = asyncio.ensure_future(ws.drain())
    await asyncio.sleep(0.05)
    assert not drain.done()  # nothing read yet (not timed: it may only get more true)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200 OK")
    await asyncio.wait_for(reader.readexactly(server.big), 10)
    await asyncio.wait_for(drain, 5)
    _, rest = await read_101(reader, key)
    assert await read_frames(reader, rest, 1) == [(Opcode.TEXT, b"after the body")]
    writer.close()
    await asyncio.wait_for(ws.wait_closed(), 5)
    with pytest.raises(ConnectionClosed):
        ws.send_now("gone")


async def test_a_pause_from_the_websockets_own_write_limit_reaches_it(server: Server) -> None:
    # The front allows a big write buffer and was not paused; the WebSocket's write_limit
    # is lower than what is buffered, so setting it pauses writing at once: the WebSocket
    # must see that pause (not the front's protocol).
    server.big = 16 << 20
    server.front_write_limit = 64 << 20
    server.on_accept = None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n" + upgrade_request(key))
    ws = await asyncio.wait_for(server.accepted.get(), 5)
    assert ws.transport.get_write_buffer_size() > ws.options.write_limit
    assert ws.send_now("behind the body") is False
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    await asyncio.wait_for(reader.readexactly(server.big), 20)
    await asyncio.wait_for(ws.drain(), 5)
    _, rest = await read_101(reader, key)
    assert await read_frames(reader, rest, 1) == [(Opcode.TEXT, b"behind the body")]
    writer.close()
