"""Server CPU per polling round trip (POST an event + GET its ack), per WebSocket echo and
per broadcast delivery, 1 worker against 2
(``rtio serve`` tests/workers/workers_app.py ``--workers N``), with keep-alive connections
(a connection handed to its owner once stays there) and with a new connection per request
(about half are then handed over); WebSocket: 20 clients each asking ``whoami`` (an
event and its ack), then one client making the server broadcast to all 20 (half of them on
the other worker with 2). CPU is read from /proc for every process of the server
(the supervisor and its workers) in clock ticks (10 ms): run enough round trips.

    .venv/bin/python benchmarks/workers/polling_cpu.py [ROUNDS_PER_SESSION]
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

APP_DIR = Path(__file__).resolve().parents[2] / "tests" / "workers"
SESSIONS = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_tree(pid: int) -> list[int]:
    children = [int(d) for d in os.listdir("/proc") if d.isdigit()
                and (fields := _stat(int(d))) is not None and int(fields[1]) == pid]  # fmt: skip
    return [pid, *children]


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def session(http: aiohttp.ClientSession, base: str, rounds: int) -> None:
    async with http.get(f"{base}/socket.io/?EIO=4&transport=polling") as r:
        sid = json.loads((await r.text())[1:])["sid"]
    url = f"{base}/socket.io/?EIO=4&transport=polling&sid={sid}"
    for method, data in (("POST", "40"), ("GET", None)):
        async with http.request(method, url, data=data) as r:
            await r.read()
    for i in range(rounds):
        async with http.post(url, data=f'42{i}["whoami"]') as r:
            assert r.status == 200, await r.text()
        acked = False
        while not acked:  # (a ping may come first: answered, as a client does)
            async with http.get(url) as r:
                assert r.status == 200, await r.text()
                packets = (await r.text()).split("\x1e")
            acked = any(p.startswith("43") for p in packets)
            if "2" in packets:
                async with http.post(url, data="3") as r:
                    await r.read()
    async with http.post(url, data="1") as r:
        await r.read()


async def load(base: str, sessions: int, rounds: int, force_close: bool) -> None:
    connector = aiohttp.TCPConnector(force_close=force_close, limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(session(http, base, rounds) for _ in range(sessions)))


async def ws_client(http: aiohttp.ClientSession, base: str) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(f"{base.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket")
    await ws.receive_str()  # open
    await ws.send_str("40")
    while not (await ws.receive_str()).startswith("40"):
        pass
    return ws


async def _until(ws: aiohttp.ClientWebSocketResponse, prefix: str) -> None:
    while True:
        text = await ws.receive_str()
        if text == "2":
            await ws.send_str("3")
        elif text.startswith(prefix):
            return


async def ws_load(base: str, rounds: int, mode: str) -> None:
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        clients = [await ws_client(http, base) for _ in range(SESSIONS)]
        if mode == "echo":
            async def echo(ws: aiohttp.ClientWebSocketResponse) -> None:
                for i in range(rounds):
                    await ws.send_str(f'42{i}["whoami"]')
                    await _until(ws, f"43{i}")

            await asyncio.gather(*(echo(ws) for ws in clients))
        else:
            for i in range(rounds):
                await clients[0].send_str(f'42{i}["shout",null,{i}]')
                await asyncio.gather(*(_until(ws, '42["heard"') for ws in clients))
        for ws in clients:
            await ws.close()


def measure(workers: int, what: str, rounds: int, force_close: bool = False) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtio", "serve", "workers_app:sio", "--port", str(port),
         "--workers", str(workers), "--log-level", "warning"],
        cwd=APP_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(2.0)
        base = f"http://127.0.0.1:{port}"
        asyncio.run(load(base, 4, 2, force_close))  # warm up (and both workers started)
        pids = process_tree(proc.pid)
        server0, wall0, client0 = cpu_seconds(pids), time.perf_counter(), time.process_time()
        if what == "polling":
            asyncio.run(load(base, SESSIONS, rounds, force_close))
        else:
            asyncio.run(ws_load(base, rounds, what))
        server1, wall1, client1 = cpu_seconds(pids), time.perf_counter(), time.process_time()
    finally:
        proc.terminate()
        proc.wait()
    n = SESSIONS * rounds
    unit = {"polling": "polling round trip", "echo": "WebSocket echo",
            "broadcast": "broadcast delivery"}[what]  # fmt: skip
    how = (", a new connection per request" if force_close else ", keep-alive") \
        if what == "polling" else ""
    print(f"workers={workers}{how}: server CPU {1e6 * (server1 - server0) / n:.0f} us per "
          f"{unit}, load generator {1e6 * (client1 - client0) / n:.0f} us, "
          f"{n} in {wall1 - wall0:.1f} s")  # fmt: skip


if __name__ == "__main__":
    per_session = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    for force_close in (False, True):
        for workers in (1, 2):
            measure(workers, "polling", per_session, force_close)
    for what in ("echo", "broadcast"):
        for workers in (1, 2):
            measure(workers, what, per_session * 4)
