"""Long-polling echo throughput: rtio next to python-socketio, same client, same load.

    .venv/bin/python benchmarks/polling.py [--clients 20] [--seconds 10] [--rounds 3]

Starts each server (rtio's ``server.py`` with its own HTTP/1.1 front, "rtio", and behind
aiohttp's web stack, "rtio-aiohttp"; python-socketio's bench server from the shared
harness, ``../shared/bench/servers/py_socketio_aiohttp.py`` on its own venv) on a free
loopback port, pinned to CPU 1, and drives it from this process (CPU 0) with ``clients``
aiohttp clients over Engine.IO long-polling only: each one keeps one ``echo`` event with an
ack in flight (a POST carrying ``42<id>["echo",{...}]``, then GETs until ``43<id>[...]``
arrives; pings are answered). Servers alternate (A B A B ...), a fresh process per run.
Prints round trips per second and server CPU per round trip (user + system of the server
process, from /proc) with medians over the rounds, and the ratio to python-socketio.

Server µs per round trip, ``--clients 20 --seconds 8 --rounds 3``, median [range], on a
loaded 2-core machine (2026-11-26): at ae6ed61 rtio 63 [62-66], rtio-aiohttp 111,
python-socketio 184 (2.9x its capacity); after the front's and the engine's polling hot
path were cut (e8d9431..e2c17c2) rtio 55 [49-57], rtio-aiohttp 111, python-socketio 198
(3.6x).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "bench"
BENCH_PY = Path.home() / ".cache/bench/venv/bin/python"

SERVERS = {
    "rtio": [sys.executable, str(HERE / "server.py"), "--front", "rtio"],
    "rtio-aiohttp": [sys.executable, str(HERE / "server.py"), "--front", "aiohttp"],
    "py-aiohttp": [str(BENCH_PY), str(SHARED / "servers" / "py_socketio_aiohttp.py")],
}
TEXT = {"Content-Type": "text/plain;charset=UTF-8"}  # what socket.io-client sends
PAYLOAD = json.dumps({"seq": 1, "text": "x" * 80}, separators=(",", ":"))


def free_port() -> int:
    for port in range(5600, 5999):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PollingClient:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base
        self.url = ""
        self.pending: list[str] = []

    async def open(self) -> None:
        async with self.http.get(self.base + "?EIO=4&transport=polling") as r:
            text = await r.text()
        sid = json.loads(text[1:].split("\x1e")[0])["sid"]
        self.url = f"{self.base}?EIO=4&transport=polling&sid={sid}"
        await self.post("40")
        while not any(p.startswith("40") for p in await self.poll()):
            pass

    async def post(self, body: str) -> None:
        async with self.http.post(self.url, data=body.encode(), headers=TEXT) as r:
            await r.read()
            r.raise_for_status()

    async def poll(self) -> list[str]:
        async with self.http.get(self.url) as r:
            r.raise_for_status()
            packets = (await r.text()).split("\x1e")
        if "2" in packets:
            await self.post("3")
        return packets

    async def echo(self, ack_id: int) -> None:
        await self.post(f'42{ack_id}["echo",{PAYLOAD}]')
        want = f"43{ack_id}["
        while not any(p.startswith(want) for p in await self.poll()):
            pass


async def drive(
    port: int, clients: int, seconds: float, warmup: float, pid: int
) -> tuple[float, float]:
    base = f"http://127.0.0.1:{port}/socket.io/"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        conns = [PollingClient(http, base) for _ in range(clients)]
        await asyncio.gather(*(c.open() for c in conns))
        count = 0
        measuring = False
        stop = False

        async def loop(c: PollingClient) -> None:
            nonlocal count
            ack_id = 0
            while not stop:
                ack_id += 1
                await c.echo(ack_id)
                if measuring:
                    count += 1

        tasks = [asyncio.create_task(loop(c)) for c in conns]
        await asyncio.sleep(warmup)
        measuring = True
        cpu0, t0 = cpu_s(pid), time.monotonic()
        await asyncio.sleep(seconds)
        measuring = False
        cpu1, t1 = cpu_s(pid), time.monotonic()
        n = count
        stop = True
        await asyncio.wait(tasks, timeout=5)
        for t in tasks:
            t.cancel()
    return n / (t1 - t0), (cpu1 - cpu0) * 1e6 / max(n, 1)


async def run_one(name: str, clients: int, seconds: float, warmup: float) -> tuple[float, float]:
    port = free_port()
    proc = subprocess.Popen(
        ["taskset", "-c", "1", *SERVERS[name][:2], str(port), *SERVERS[name][2:]],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                await asyncio.sleep(0.1)
        if proc.poll() is not None:
            raise RuntimeError(f"{name} server exited with {proc.returncode}")
        return await drive(port, clients, seconds, warmup, proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def main(args: argparse.Namespace) -> None:
    names = args.servers or list(SERVERS)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names:
            run_rps, run_us = await run_one(name, args.clients, args.seconds, args.warmup)
            results[name].append((run_rps, run_us))
            print(
                f"[{time.strftime('%H:%M:%S')}] round {r + 1} {name:12s} "
                f"round-trips/s={run_rps:,.0f} server µs/op={run_us:,.0f}",
                file=sys.stderr,
                flush=True,
            )
    summary: dict[str, dict[str, object]] = {}
    for name, runs in results.items():
        rps = [x for x, _ in runs]
        us = [y for _, y in runs]
        summary[name] = {
            "rps_median": round(statistics.median(rps)),
            "rps_range": [round(min(rps)), round(max(rps))],
            "server_us_per_op_median": round(statistics.median(us)),
            "server_us_per_op_range": [round(min(us)), round(max(us))],
        }
    medians = {
        name: (statistics.median(x for x, _ in runs), statistics.median(y for _, y in runs))
        for name, runs in results.items()
    }
    ref_rps, ref_us = medians.get("py-aiohttp", next(iter(medians.values())))
    for name, (med_rps, med_us) in medians.items():
        summary[name]["rps_vs_py_socketio"] = round(med_rps / ref_rps, 2)
        summary[name]["cpu_vs_py_socketio"] = round(med_us / ref_us, 2)
    print(json.dumps({"benchmark": "polling-echo", "clients": args.clients, **summary}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", nargs="*", choices=list(SERVERS), help="default: all")
    args = parser.parse_args()
    if not os.environ.get("BENCH_CPU_PINNED"):
        os.environ["BENCH_CPU_PINNED"] = "1"
        os.execvp("taskset", ["taskset", "-c", "0", sys.executable, *sys.argv])
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    asyncio.run(main(args))
