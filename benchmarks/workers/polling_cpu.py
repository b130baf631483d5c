"""Server CPU per polling round trip (POST an event + GET its ack), per WebSocket echo and
per broadcast delivery, 1 worker against 2
(``rtio serve`` tests/workers/workers_app.py ``--workers N``), with keep-alive connections
(a connection handed to its owner once stays there) and with a new connection per request
(about half are then handed over); WebSocket: 20 clients each asking ``whoami`` (an
event and its ack), then one client making the server broadcast to all 20 (half of them on
the other worker with 2). CPU is read from /proc for every process of the server
(the supervisor and its workers) in clock ticks (10 ms): run enough round trips. With
WebSocket clients, only the rounds are measured (not the clients' connections).

    .venv/bin/python benchmarks/workers/polling_cpu.py [ROUNDS_PER_SESSION [WHAT...]]

WHAT: any of ``polling``, ``polling-close``, ``echo``, ``broadcast`` (default: all), or
``connect``: connect throughput, the harness's load generator (``../shared/bench``'s
``loadgen.js connect``: ROUNDS_PER_SESSION x 1,000 WebSocket connections to ``40{sid}``,
100 at a time, held until the end) against 1 then 2 workers, not pinned (the load
generator's own CPU is reported: on 2 cores it takes much of one).
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

SHARED_BENCH = Path(__file__).resolve().parents[3] / "shared" / "bench"

APP_DIR = Path(__file__).resolve().parents[2] / "tests" / "workers"
#: the clients (BENCH_CLIENTS): a broadcast goes to all of them
SESSIONS = int(os.environ.get("BENCH_CLIENTS", "20"))
#: BENCH_PIN=1: the server (all its processes) on CPU 0, this load generator on CPU 1, so
#: that 1 and 2 workers get the same CPU and the load generator never takes theirs
PIN = bool(os.environ.get("BENCH_PIN"))


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


def cpu_split(pids: list[int]) -> list[tuple[float, float]]:
    """(user, system) CPU seconds of each process."""
    out = []
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            out.append((int(fields[11]) / tick, int(fields[12]) / tick))
        else:
            out.append((0.0, 0.0))
    return out


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


class Meter:
    """The server's CPU (every process of ``pids``), the wall clock and this process's CPU
    between :meth:`start` and :meth:`stop`; each process's (user, system) split too."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids

    def start(self) -> None:
        self.split0 = cpu_split(self.pids)
        self.wall0, self.client0 = time.perf_counter(), time.process_time()

    def stop(self) -> None:
        self.split1 = cpu_split(self.pids)
        self.wall1, self.client1 = time.perf_counter(), time.process_time()

    @property
    def server(self) -> float:
        return sum(u + s for u, s in self.split1) - sum(u + s for u, s in self.split0)


async def ws_load(base: str, rounds: int, mode: str, meter: Meter) -> None:
    """SESSIONS WebSocket clients connect (not measured), then the rounds (measured)."""
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        clients: list[aiohttp.ClientWebSocketResponse] = []
        while len(clients) < SESSIONS:  # 50 at a time: the listen backlog holds them
            more = min(50, SESSIONS - len(clients))
            clients += await asyncio.gather(*(ws_client(http, base) for _ in range(more)))
        await asyncio.sleep(0.5)  # the server settles (its connect handling done)
        meter.start()
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
        meter.stop()
        for ws in clients:
            await ws.close()


def connect_load(port: int, n: int, meter: Meter) -> dict[str, float]:
    """The harness's connect scenario against the server, measured by ``meter``."""
    if not (SHARED_BENCH / "loadgen.js").exists():
        raise SystemExit(f"connect needs the bench harness at {SHARED_BENCH}")
    # the harness's npm packages, where its setup.sh put them (its env.sh: $BENCH_HOME)
    home = os.environ.get("BENCH_HOME", str(Path.home() / ".cache/bench"))
    env = dict(os.environ, NODE_PATH=str(Path(home) / "node" / "node_modules"))
    cmd = ["node", str(SHARED_BENCH / "loadgen.js"), "connect", "--port", str(port),
           "--n", str(n), "--concurrency", "100", "--warmup-n", "100"]  # fmt: skip
    meter.start()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    meter.stop()
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def measure(workers: int, what: str, rounds: int, force_close: bool = False) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtio", "serve", "workers_app:sio", "--port", str(port),
         "--workers", str(workers), "--log-level", "warning"],
        cwd=APP_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=(lambda: os.sched_setaffinity(0, {0})) if PIN else None,
    )  # fmt: skip
    try:
        time.sleep(2.0)
        base = f"http://127.0.0.1:{port}"
        asyncio.run(load(base, 4, 2, force_close))  # warm up (and both workers started)
        meter = Meter(process_tree(proc.pid))
        if what == "connect":
            n = rounds * 1000
            result = connect_load(port, n, meter)
            print(f"workers={workers}: {result['conn_per_s']:,.0f} connects/s, server CPU "
                  f"{1e6 * meter.server / (n + 100):.0f} us per connection, its close "
                  f"included (all its processes, the 100 warm-up ones counted), load "
                  f"generator {result['client_cpu_pct']:.0f} % of a core, p99 "
                  f"{result['connect_p99_ms']:.0f} ms")  # fmt: skip
            return
        if what == "polling":
            meter.start()
            asyncio.run(load(base, SESSIONS, rounds, force_close))
            meter.stop()
        else:
            asyncio.run(ws_load(base, rounds, what, meter))
    finally:
        proc.terminate()
        proc.wait()
    n = SESSIONS * rounds
    unit = {"polling": "polling round trip", "echo": "WebSocket echo",
            "broadcast": "broadcast delivery"}[what]  # fmt: skip
    how = (", a new connection per request" if force_close else ", keep-alive") \
        if what == "polling" else ""
    print(f"workers={workers}{how}: server CPU {1e6 * meter.server / n:.1f} us per "
          f"{unit}, load generator {1e6 * (meter.client1 - meter.client0) / n:.0f} us, "
          f"{n} in {meter.wall1 - meter.wall0:.1f} s")  # fmt: skip
    if os.environ.get("BENCH_SPLIT"):  # each process's user + system CPU
        pairs = zip(meter.split0, meter.split1, strict=True)
        parts = [f"{1e6 * (u1 - u0) / n:.1f}u+{1e6 * (s1 - s0) / n:.1f}s"
                 for (u0, s0), (u1, s1) in pairs]  # fmt: skip
        print("    per process (supervisor first when workers > 1):", " ".join(parts))


if __name__ == "__main__":
    if PIN:
        os.sched_setaffinity(0, {1})
    per_session = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    chosen = sys.argv[2:] or ["polling", "polling-close", "echo", "broadcast"]
    for what in chosen:
        for workers in (1, 2):
            if what == "connect":
                measure(workers, what, per_session)
            elif what.startswith("polling"):
                measure(workers, "polling", per_session, what == "polling-close")
            else:
                measure(workers, what, per_session * 4)
