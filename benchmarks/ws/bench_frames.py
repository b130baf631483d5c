"""Frame-layer benchmark: rtio.ws next to aiohttp's own WebSocketResponse, in the same run,
on the same aiohttp server process, driven by the same load generator.

    .venv/bin/python benchmarks/ws/bench_frames.py [--repeat 3] [--quick]

Measures, for each server (rtio, aiohttp), without and with permessage-deflate:

- echo: round trips per second of 32-byte text messages (64 in flight);
- recv: MB/s of 1 MiB binary messages the server receives (masked, as from a browser);
- send: MB/s of 1 MiB binary messages the server sends.

The server runs in a child process (``--serve``), the load generator in this one, both on
uvloop when it is installed. The load generator is a bare asyncio protocol: it writes
frames built once (masked; compressed each on its own, so the same bytes can be sent again)
and only parses frame headers of what comes back, so that nearly all the measured work is
the server's. 1 MiB payloads are text-like (random words) so that deflate has work to do.
Every figure is the best of ``--repeat`` runs, per wall second and per second of the
server process's CPU time (/proc; the steadier figure on a shared machine, but 10 ms
ticks, and loopback copies may be charged to the receiving process). Not a test: nothing
here asserts a target.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import os
import random
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))  # the repo root

from aiohttp import WSMsgType, web

from rtio.ws import (
    ConnectionClosed,
    DeflateOptions,
    HandshakeRefused,
    ServerOptions,
    accept,
)
from rtio.ws.frames import RSV1, Opcode, serialize_frame
from rtio.ws.handshake import parse_response

MIB = 1 << 20
SMALL = "x" * 32
SINK_THRESHOLD = 65536  # binary messages at least this big are counted, not echoed


def text_like(size: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
        for _ in range(2000)
    ]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words).encode() + b" "
    return bytes(out[:size])


PAYLOAD = text_like(MIB)

# -- the server (child process) -----------------------------------------------------------

RTIO_OPTIONS = {
    False: ServerOptions(max_message_size=4 * MIB, ping_interval=None, compression=None),
    # the same work as aiohttp's WebSocketResponse: every message compressed (threshold 0),
    # at zlib level 1 (aiohttp's Z_BEST_SPEED; rtio's default level is 6)
    True: ServerOptions(
        max_message_size=4 * MIB,
        ping_interval=None,
        compression=DeflateOptions(threshold=0, level=1),
    ),
}


async def rtio_endpoint(
    request: web.Request, deflate: bool, coalesce: bool = False
) -> web.StreamResponse:
    options = RTIO_OPTIONS[deflate]
    if coalesce:
        options = dataclasses.replace(options, coalesce_writes=True)
    try:
        ws, response = await accept(request, options=options)
    except HandshakeRefused as exc:
        return exc.response()
    received = 0
    try:
        async for message in ws:
            if type(message) is bytes and len(message) >= SINK_THRESHOLD:
                received += len(message)
            elif type(message) is str and message.startswith("cmd:"):
                if message == "cmd:end":
                    await ws.send(f"ok {received}")
                    received = 0
                else:  # cmd:send N
                    for _ in range(int(message[9:])):
                        await ws.send(PAYLOAD)
                    await ws.send("done")
            else:
                await ws.send(message)
    except ConnectionClosed:
        pass
    return response


async def rtio_push_endpoint(request: web.Request, deflate: bool) -> web.StreamResponse:
    """The same server in push mode: the message callback answers with send_now(), with no
    task, future or coroutine per message."""
    try:
        ws, response = await accept(request, options=RTIO_OPTIONS[deflate])
    except HandshakeRefused as exc:
        return exc.response()
    received = 0

    async def send_big(count: int) -> None:
        with contextlib.suppress(ConnectionClosed):
            for _ in range(count):
                if not ws.send_now(PAYLOAD):
                    await ws.drain()
            ws.send_now("done")

    def on_message(message: str | bytes) -> None:
        nonlocal received
        if type(message) is bytes and len(message) >= SINK_THRESHOLD:
            received += len(message)
        elif type(message) is str and message.startswith("cmd:"):
            if message == "cmd:end":
                ws.send_now(f"ok {received}")
                received = 0
            else:  # cmd:send N
                tasks.add(asyncio.ensure_future(send_big(int(message[9:]))))
        else:
            ws.send_now(message)

    tasks: set[asyncio.Future[None]] = set()
    ws.set_receiver(on_message, lambda: None)
    await ws.wait_closed()
    return response


async def aiohttp_endpoint(request: web.Request, deflate: bool) -> web.StreamResponse:
    ws = web.WebSocketResponse(compress=deflate, max_msg_size=4 * MIB)
    await ws.prepare(request)
    with contextlib.suppress(ConnectionResetError):  # the load client just hangs up
        await aiohttp_loop(ws)
    return ws


async def aiohttp_loop(ws: web.WebSocketResponse) -> None:
    received = 0
    async for msg in ws:
        if msg.type == WSMsgType.BINARY:
            if len(msg.data) >= SINK_THRESHOLD:
                received += len(msg.data)
            else:
                await ws.send_bytes(msg.data)
        elif msg.type == WSMsgType.TEXT:
            data = msg.data
            if data.startswith("cmd:"):
                if data == "cmd:end":
                    await ws.send_str(f"ok {received}")
                    received = 0
                else:
                    for _ in range(int(data[9:])):
                        await ws.send_bytes(PAYLOAD)
                    await ws.send_str("done")
            else:
                await ws.send_str(data)


def serve(port: int) -> None:
    app = web.Application()
    for deflate in (False, True):
        suffix = "-deflate" if deflate else ""

        async def ours(request: web.Request, d: bool = deflate) -> web.StreamResponse:
            return await rtio_endpoint(request, d)

        async def coalesced(request: web.Request, d: bool = deflate) -> web.StreamResponse:
            return await rtio_endpoint(request, d, coalesce=True)

        async def pushed(request: web.Request, d: bool = deflate) -> web.StreamResponse:
            return await rtio_push_endpoint(request, d)

        async def theirs(request: web.Request, d: bool = deflate) -> web.StreamResponse:
            return await aiohttp_endpoint(request, d)

        app.router.add_get(f"/rtio{suffix}", ours)
        app.router.add_get(f"/rtio-coalesce{suffix}", coalesced)
        app.router.add_get(f"/rtio-push{suffix}", pushed)
        app.router.add_get(f"/aiohttp{suffix}", theirs)
    run(web._run_app(app, host="127.0.0.1", port=port, print=None))


def run(coro: object) -> object:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]


# -- the load generator -------------------------------------------------------------------

MASK = b"\x5a\xa5\x3c\xc3"


def client_frame(opcode: int, payload: bytes, deflate: bool) -> bytes:
    if deflate:
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return serialize_frame(opcode, data[:-4], rsv=RSV1, mask_key=MASK)
    return serialize_frame(opcode, payload, mask_key=MASK)


class LoadClient(asyncio.Protocol):
    """Writes prepared frames; counts the data messages that come back (headers only)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.buf = b""
        self.skip = 0  # payload bytes of the current frame still to come
        self.fin = False
        self.messages = 0
        self.last_text_len = 0
        self.waiter: asyncio.Future[None] | None = None
        self.target = 0
        self.on_message: object = None
        self.paused = False
        self.drained: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.handshake.done():
            self.head += data
            parsed = parse_response(self.head)
            if parsed is None:
                return
            response, consumed = parsed
            assert response.status == 101, response
            self.handshake.set_result(None)
            data = self.head[consumed:]
            if not data:
                return
        buf = self.buf + data if self.buf else data
        pos = 0
        end = len(buf)
        while True:
            if self.skip:
                take = min(self.skip, end - pos)
                pos += take
                self.skip -= take
                if self.skip:
                    break
                self._frame_done()
            if end - pos < 2:
                break
            b0 = buf[pos]
            n = buf[pos + 1] & 0x7F
            start = pos + 2
            if n == 126:
                if end - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                start += 2
            elif n == 127:
                if end - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start += 8
            self.fin = bool(b0 & 0x80) and (b0 & 0x0F) < 8
            pos = start
            if n == 0:
                self._frame_done()
            else:
                self.skip = n
        self.buf = buf[pos:] if pos < end else b""

    def _frame_done(self) -> None:
        if not self.fin:
            return
        self.messages += 1
        callback = self.on_message
        if callback is not None:
            callback()  # type: ignore[operator]
        waiter = self.waiter
        if waiter is not None and self.messages >= self.target and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True
        self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self.paused = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    async def drain(self) -> None:
        if self.paused and self.drained is not None:
            await self.drained

    async def wait_messages(self, target: int) -> None:
        self.target = target
        if self.messages >= target:
            return
        self.waiter = asyncio.get_running_loop().create_future()
        await self.waiter


async def open_client(port: int, path: str, deflate: bool) -> LoadClient:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_connection(LoadClient, "127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    ext = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
    transport.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"{ext}\r\n".encode()
    )
    await client.handshake
    head = client.head.decode("latin-1").lower()
    assert ("permessage-deflate" in head) is deflate, head
    return client


async def bench_echo(
    port: int, path: str, deflate: bool, seconds: float
) -> tuple[float, float]:
    client = await open_client(port, path, deflate)
    transport = client.transport
    assert transport is not None
    frame = client_frame(Opcode.TEXT, SMALL.encode(), deflate)
    window = 64
    sent = 0
    done = asyncio.get_running_loop().create_future()
    deadline = time.perf_counter() + seconds

    def on_message() -> None:
        nonlocal sent
        if client.messages % 64 == 0 and time.perf_counter() > deadline:
            if not done.done():
                done.set_result(None)
            return
        transport.write(frame)
        sent += 1

    client.on_message = on_message
    start = time.perf_counter()
    transport.write(frame * window)
    sent = window
    await done
    elapsed = time.perf_counter() - start
    transport.close()
    return client.messages, elapsed


async def bench_recv(port: int, path: str, deflate: bool, count: int) -> tuple[float, float]:
    client = await open_client(port, path, deflate)
    transport = client.transport
    assert transport is not None
    frame = client_frame(Opcode.BINARY, PAYLOAD, deflate)
    end = client_frame(Opcode.TEXT, b"cmd:end", deflate)
    start = time.perf_counter()
    for _ in range(count):
        transport.write(frame)
        await client.drain()
    transport.write(end)
    await client.wait_messages(1)
    elapsed = time.perf_counter() - start
    transport.close()
    return count * MIB / 1e6, elapsed


async def bench_send(port: int, path: str, deflate: bool, count: int) -> tuple[float, float]:
    client = await open_client(port, path, deflate)
    transport = client.transport
    assert transport is not None
    start = time.perf_counter()
    transport.write(client_frame(Opcode.TEXT, f"cmd:send {count}".encode(), deflate))
    await client.wait_messages(count + 1)
    elapsed = time.perf_counter() - start
    transport.close()
    return count * MIB / 1e6, elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc), for the server's cost."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_test(
    name: str, port: int, path: str, deflate: bool, quick: bool, server_pid: int
) -> tuple[float, float]:
    """(work per wall second, work per second of the server's CPU time); work is messages
    for echo, MB for recv/send."""
    big = (40 if quick else 200) // (4 if deflate else 1)  # 1 MiB messages per run
    cpu = cpu_seconds(server_pid)
    if name == "echo":
        work, elapsed = await bench_echo(port, path, deflate, 0.5 if quick else 2.0)
    elif name == "recv":
        work, elapsed = await bench_recv(port, path, deflate, big)
    else:
        work, elapsed = await bench_send(port, path, deflate, big)
    await asyncio.sleep(0.05)  # the server finishes with the connection
    cpu = cpu_seconds(server_pid) - cpu
    return work / elapsed, work / max(cpu, 0.01)


LABELS = {"echo": "echo 32 B (msg/s)", "recv": "recv 1 MiB (MB/s)", "send": "send 1 MiB (MB/s)"}


LABELS_OF_OURS = {"rtio-coalesce": "  rtio coalesce_writes", "rtio-push": "  rtio push mode"}


async def bench_all(
    port: int, repeat: int, quick: bool, server_pid: int, tests: tuple[str, ...]
) -> None:
    print(f"{'work':<26}|{'per wall second':^30}|{'per second of server CPU':^30}")
    print(f"{'':<26}|{'rtio':>10} {'aiohttp':>10} {'ratio':>7} |{'rtio':>10} {'aiohttp':>10} "
          f"{'ratio':>7}")
    for deflate in (False, True):
        suffix = "-deflate" if deflate else ""
        for name in tests:
            servers = ["rtio", "aiohttp", "rtio-push"]
            if name == "echo":
                servers.append("rtio-coalesce")
            wall = dict.fromkeys(servers, 0.0)
            cpu = dict.fromkeys(servers, 0.0)
            for _ in range(repeat):
                for server in servers:  # interleaved: the same conditions for each
                    per_wall, per_cpu = await run_test(
                        name, port, f"/{server}{suffix}", deflate, quick, server_pid
                    )
                    wall[server] = max(wall[server], per_wall)
                    cpu[server] = max(cpu[server], per_cpu)
            label = LABELS[name] + (" deflate" if deflate else "")
            for ours in [server for server in servers if server != "aiohttp"]:
                if ours != "rtio":
                    label = LABELS_OF_OURS[ours]
                print(
                    f"{label:<26}|{wall[ours]:>10.1f} {wall['aiohttp']:>10.1f} "
                    f"{wall[ours] / wall['aiohttp']:>7.2f} |{cpu[ours]:>10.1f} "
                    f"{cpu['aiohttp']:>10.1f} {cpu[ours] / cpu['aiohttp']:>7.2f}",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument(
        "--tests", default="echo,recv,send", help="comma-separated subset of echo,recv,send"
    )
    args = parser.parse_args()
    if args.serve:
        serve(args.port)
        return
    port = free_port()
    child = subprocess.Popen([sys.executable, __file__, "--serve", "--port", str(port)])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        import aiohttp

        print(
            f"python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, best of "
            f"{args.repeat}; ratio = rtio / aiohttp (higher is better for rtio)"
        )
        tests = tuple(args.tests.split(","))
        run(bench_all(port, args.repeat, args.quick, child.pid, tests))
    finally:
        child.terminate()
        child.wait()


if __name__ == "__main__":
    main()
