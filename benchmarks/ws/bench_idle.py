"""Idle memory per WebSocket connection of an aiohttp server, attached to aiohttp's
RequestHandler (``accept()``, the handler awaits the close) or detached from it
(``accept(detach=True)`` in push mode, the handler returns at once), and detached with
``track=False`` ("untracked": not in close_all_on_shutdown's set, as the engine's).

    .venv/bin/python benchmarks/ws/bench_idle.py [--n 2000]

The server runs in a child process per mode (``--serve MODE``) with tracemalloc on; the load
generator here opens N connections (handshake only, then idle) and asks the server for its
traced memory and RSS before and after. Figures are bytes per connection. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))  # the repo root

from aiohttp import web

from rtio.ws import ServerOptions, accept

OPTIONS = ServerOptions(ping_interval=None)


def rss() -> int:
    fields = Path("/proc/self/statm").read_text().split()
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")


def serve(mode: str, port: int) -> None:
    tracemalloc.start()
    sockets = []

    async def endpoint(request: web.Request) -> web.StreamResponse:
        detached = mode != "attached"
        ws, response = await accept(
            request, options=OPTIONS, detach=detached, track=mode != "untracked"
        )
        sockets.append(ws)
        if detached:
            ws.set_receiver(lambda message: None, lambda: None)
        else:
            await ws.wait_closed()
        return response

    async def stats(request: web.Request) -> web.StreamResponse:
        gc.collect()
        traced, _ = tracemalloc.get_traced_memory()
        return web.json_response({"traced": traced, "rss": rss(), "sockets": len(sockets)})

    app = web.Application()
    app.router.add_get("/ws", endpoint)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def get_stats(port: int) -> dict[str, int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = await reader.read()
    writer.close()
    return json.loads(data.split(b"\r\n\r\n", 1)[1])  # type: ignore[no-any-return]


async def open_idle(port: int) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    return writer


async def measure(port: int, n: int) -> tuple[float, float]:
    before = await get_stats(port)
    writers = []
    for _ in range(n // 100):
        writers += await asyncio.gather(*(open_idle(port) for _ in range(100)))
    await asyncio.sleep(0.5)  # every handler reached its idle state
    after = await get_stats(port)
    assert after["sockets"] == n, after
    for writer in writers:
        writer.close()
    return (after["traced"] - before["traced"]) / n, (after["rss"] - before["rss"]) / n


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    print(f"{'mode':<10} {'tracemalloc B/conn':>20} {'RSS B/conn':>12}  (n={args.n})")
    for mode in ("attached", "detached", "untracked"):
        port = free_port()
        cmd = [sys.executable, __file__, "--serve", mode, "--port", str(port)]
        child = subprocess.Popen(cmd)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            traced, resident = asyncio.run(measure(port, args.n))
            print(f"{mode:<10} {traced:>20,.0f} {resident:>12,.0f}", flush=True)
        finally:
            child.terminate()
            child.wait()


if __name__ == "__main__":
    main()
