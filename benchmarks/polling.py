"""Long-polling echo throughput: rtio next to python-socketio, same client, same load.

    .venv/bin/python benchmarks/polling.py [--client raw|aiohttp] [--clients N]
        [--seconds 10] [--rounds 3] [--servers NAME ...]

Starts each server (rtio's ``server.py`` with its own HTTP/1.1 front, "rtio", and behind
aiohttp's web stack, "rtio-aiohttp"; python-socketio's bench server from the shared
harness, ``../shared/bench/servers/py_socketio_aiohttp.py`` on its own venv) on a free
loopback port, pinned to CPU 1, and drives it from this process (CPU 0) with ``clients``
virtual clients over Engine.IO long-polling only: each one keeps one ``echo`` event with an
ack in flight (a POST carrying ``42<id>["echo",{...}]``, then GETs until ``43<id>[...]``
arrives; pings are answered). Servers alternate (A B A B ...), a fresh process per run.
Prints round trips per second, server CPU per round trip (user + system of the server
process, from /proc), the CPU % of the server and of this client process (the side near
100 % is the bottleneck), medians over the rounds, and the ratios to python-socketio.

The default client, ``--client raw`` (``polling_client.py``, 64 clients), speaks HTTP/1.1
on asyncio Protocols over two keep-alive connections per client and costs far less per
round trip than the servers, so the server's core saturates and round trips/s compares
the servers' capacity. ``--client aiohttp`` (20 clients) is the earlier client on
aiohttp's ClientSession: ~180 µs of client CPU per round trip, so its core saturates first
and every server shows ~5.5k round trips/s; with it only server µs/op means anything.

With the aiohttp client, server µs per round trip, ``--client aiohttp --clients 20
--seconds 8 --rounds 3``, median [range], on a
loaded 2-core machine (2026-11-26): at ae6ed61 rtio 63 [62-66], rtio-aiohttp 111,
python-socketio 184 (2.9x its capacity); after the front's and the engine's polling hot
path were cut (e8d9431..e2c17c2) rtio 55 [49-57], rtio-aiohttp 111, python-socketio 198
(3.6x).

With the raw client (fa21004, ``--seconds 8 --rounds 3``, 64 clients, 2026-11-26 02:05,
results/stop10-polling-raw-client.log), every server at 100 % CPU, the client at 26-75 %:
rtio 30,202 round trips/s [25,048-30,231] at 33.1 µs/op, rtio-aiohttp 10,203 (97.9 µs),
python-socketio 4,896 (204 µs): rtio 6.2x python-socketio's throughput (5.2x in a later
single round). 100 clients were slower for all three (rtio 19.3k, python-socketio 4.0k).
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
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from polling_client import Counter, VirtualClient

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


Run = tuple[float, float, float, float]  # round trips/s, server µs/op, server %, client %


def measure(pid: int, seconds: float, count: Callable[[], int]) -> Awaitable[Run]:
    """Round trips and CPU (server process and this client process) over ``seconds``."""

    async def window() -> Run:
        n0, cpu0, me0, t0 = count(), cpu_s(pid), own_cpu_s(), time.monotonic()
        await asyncio.sleep(seconds)
        n1, cpu1, me1, t1 = count(), cpu_s(pid), own_cpu_s(), time.monotonic()
        n, wall = n1 - n0, t1 - t0
        return (
            n / wall,
            (cpu1 - cpu0) * 1e6 / max(n, 1),
            (cpu1 - cpu0) * 100 / wall,
            (me1 - me0) * 100 / wall,
        )

    return window()


def own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


async def drive_aiohttp(port: int, clients: int, seconds: float, warmup: float, pid: int) -> Run:
    base = f"http://127.0.0.1:{port}/socket.io/"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        conns = [PollingClient(http, base) for _ in range(clients)]
        await asyncio.gather(*(c.open() for c in conns))
        count = 0
        stop = False

        async def loop(c: PollingClient) -> None:
            nonlocal count
            ack_id = 0
            while not stop:
                ack_id += 1
                await c.echo(ack_id)
                count += 1

        tasks = [asyncio.create_task(loop(c)) for c in conns]
        await asyncio.sleep(warmup)
        run = await measure(pid, seconds, lambda: count)
        stop = True
        await asyncio.wait(tasks, timeout=5)
        for t in tasks:
            t.cancel()
    return run


async def drive_raw(port: int, clients: int, seconds: float, warmup: float, pid: int) -> Run:
    counter = Counter()
    vcs = [VirtualClient("127.0.0.1", port, counter) for _ in range(clients)]
    try:
        await asyncio.gather(*(vc.open() for vc in vcs))
        for vc in vcs:
            vc.start()
        failed = asyncio.gather(*(vc.done for vc in vcs))
        await asyncio.wait([failed], timeout=warmup)
        if failed.done():  # every client stopped early: one of them says why
            await failed
            raise RuntimeError("all clients stopped during the warm-up")
        run = await measure(pid, seconds, lambda: counter.n)
        if failed.done():  # a client failed during the window: its error, not a figure
            await failed
        counter.stop = True
        await asyncio.wait([failed], timeout=5)
        if failed.done():
            await failed
        return run
    finally:
        for vc in vcs:
            vc.close()


DRIVERS = {"raw": drive_raw, "aiohttp": drive_aiohttp}


async def run_one(name: str, args: argparse.Namespace) -> Run:
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
        drive = DRIVERS[args.client]
        return await drive(port, args.clients, args.seconds, args.warmup, proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def main(args: argparse.Namespace) -> None:
    names = args.servers or list(SERVERS)
    results: dict[str, list[Run]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names:
            run = await run_one(name, args)
            results[name].append(run)
            print(
                f"[{time.strftime('%H:%M:%S')}] round {r + 1} {name:12s} "
                f"round-trips/s={run[0]:,.0f} server µs/op={run[1]:,.1f} "
                f"CPU% server={run[2]:.0f} client={run[3]:.0f}",
                file=sys.stderr,
                flush=True,
            )
    summary: dict[str, dict[str, object]] = {}
    medians: dict[str, list[float]] = {}
    for name, runs in results.items():
        columns = list(zip(*runs, strict=True))
        medians[name] = [statistics.median(c) for c in columns]
        rps, us = columns[:2]
        summary[name] = {
            "rps_median": round(medians[name][0]),
            "rps_range": [round(min(rps)), round(max(rps))],
            "server_us_per_op_median": round(medians[name][1], 1),
            "server_us_per_op_range": [round(min(us), 1), round(max(us), 1)],
            "server_cpu_pct_median": round(medians[name][2]),
            "client_cpu_pct_median": round(medians[name][3]),
        }
    ref = medians.get("py-aiohttp", next(iter(medians.values())))
    print(
        f"client={args.client} clients={args.clients} seconds={args.seconds} "
        f"rounds={args.rounds}; median [range]; ratios to python-socketio (py-aiohttp)"
    )
    print(
        f"{'server':13s} {'round trips/s':>24s} {'server µs/op':>20s} "
        f"{'CPU% srv/cli':>13s} {'rps ratio':>9s} {'µs ratio':>8s}"
    )
    for name, (med_rps, med_us, med_srv, med_cli) in medians.items():
        summary[name]["rps_vs_py_socketio"] = round(med_rps / ref[0], 2)
        summary[name]["cpu_vs_py_socketio"] = round(med_us / ref[1], 2)
        rps, us = list(zip(*results[name], strict=True))[:2]
        print(
            f"{name:13s} {f'{med_rps:,.0f} [{min(rps):,.0f}-{max(rps):,.0f}]':>24s} "
            f"{f'{med_us:.1f} [{min(us):.1f}-{max(us):.1f}]':>20s} "
            f"{f'{med_srv:.0f}/{med_cli:.0f}':>13s} "
            f"{med_rps / ref[0]:>8.2f}x {med_us / ref[1]:>7.2f}x"
        )
    print(
        json.dumps(
            {
                "benchmark": "polling-echo",
                "client": args.client,
                "clients": args.clients,
                **summary,
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--client",
        choices=list(DRIVERS),
        default="raw",
        help="raw: asyncio Protocols (cheap, the default); aiohttp: aiohttp's ClientSession",
    )
    parser.add_argument("--clients", type=int, help="virtual clients (default: 64 raw, 20 aiohttp)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", nargs="*", choices=list(SERVERS), help="default: all")
    args = parser.parse_args()
    if args.clients is None:
        args.clients = 64 if args.client == "raw" else 20
    if not os.environ.get("BENCH_CPU_PINNED"):
        os.environ["BENCH_CPU_PINNED"] = "1"
        os.execvp("taskset", ["taskset", "-c", "0", sys.executable, *sys.argv])
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    asyncio.run(main(args))
