"""Client CPU per echo round trip: rtio.client, python-socketio's AsyncClient and the npm
socket.io-client, one after the other against the same rtio server (a separate process),
over WebSocket. Sequential round trips (call, wait for the ack, next), so the figure is
the client's own cost per request/answer; the server's CPU is not counted.

    .venv/bin/python tests/client/bench_client_echo.py [N]     (default 2000)

Keep N small on a shared machine: it is a comparison, not a load test.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import socketio

from rtio.client import Client

HERE = Path(__file__).resolve().parent
SERVER = """
import asyncio, sys
sys.path.insert(0, {here!r})
from aiohttp import web
from client_apps import make_rtio_server
async def main():
    runner = web.AppRunner(make_rtio_server(ping_interval=25, ping_timeout=20).make_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


async def bench_rtio(url: str, n: int) -> tuple[float, float]:
    async with Client(url, transports=["websocket"], reconnection=False) as client:
        for i in range(200):
            await client.call("echo", i)
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(n):
            await client.call("echo", "hello", i)
        return time.process_time() - cpu, time.perf_counter() - wall


async def bench_python_socketio(url: str, n: int) -> tuple[float, float]:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url, transports=["websocket"])
    try:
        for i in range(200):
            await client.call("echo", i)
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(n):
            await client.call("echo", ("hello", i))
        return time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await client.disconnect()


def bench_node(url: str, n: int) -> tuple[float, float]:
    out = subprocess.run(
        ["node", str(HERE / "bench_echo_client.mjs"), url, str(n), "websocket"],
        capture_output=True, text=True, check=True, timeout=300,
    )
    result = json.loads(out.stdout)
    return result["cpu"], result["wall"]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER.format(here=str(HERE))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}"
        rows = [
            ("rtio.client", asyncio.run(bench_rtio(url, n))),
            ("python-socketio AsyncClient", asyncio.run(bench_python_socketio(url, n))),
            ("npm socket.io-client 4.8", bench_node(url, n)),
        ]
    finally:
        server.terminate()
        server.wait(5)
    print(f"{n} sequential echo round trips over WebSocket, against one rtio server")
    print(f"{'client':30} {'CPU us/rt':>10} {'wall us/rt':>11}")
    for name, (cpu, wall) in rows:
        print(f"{name:30} {cpu / n * 1e6:10.1f} {wall / n * 1e6:11.1f}")


if __name__ == "__main__":
    main()
