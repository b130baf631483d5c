"""The cluster benchmarks of issue 14, rtio's Redis adapter next to Node socket.io 4.8 with
@socket.io/redis-adapter 8.3, in the same run, on one throwaway redis-server.

    .venv/bin/python benchmarks/cluster/bench.py broadcast [--wire classic|sharded] [--reps 2]
    .venv/bin/python benchmarks/cluster/bench.py bystander [--wire ...]
    .venv/bin/python benchmarks/cluster/bench.py fetch [--wire ...] [--per-node 1000]

- broadcast: 2 nodes, 100 clients on each, all in one room; a sender on node A asks for
  20 x 20 broadcasts to the room; server CPU (both nodes, /proc/<pid>/stat) per delivered
  message.
- bystander: node A has 100 clients in the target room, node B 100 clients in another
  room; 50 x 20 broadcasts to the target: node B's CPU per broadcast (a node with no
  member in the room), next to its idle CPU over the same time.
- fetch: 3 nodes with --per-node sockets each; node A's fetchSockets of the whole
  cluster, 20 times in a row: the latencies.

Servers: benchmarks/cluster/server.py (rtio, uvloop) and server.mjs (Node); the load
generator (loadgen.mjs, socket.io-client) runs under `nice -n 10`. rtio and Node alternate
(A B A B ...); one JSON line per run, then a summary. 127.0.0.1 only; needs redis-server,
node, and `npm ci` in tests/cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

from redis_server import RedisServer, free_port  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu(pid: int) -> float:
    """Seconds of CPU (user + system) the process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Server:
    def __init__(self, impl: str, redis_port: int, wire: str) -> None:
        self.port = free_port()
        if impl == "rtio":
            args = [sys.executable, str(HERE / "server.py")]
        else:
            args = ["node", str(HERE / "server.mjs")]
        args += [str(self.port), str(redis_port), wire]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert b"ready" in line, line
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Loadgen:
    def __init__(self, config: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            ["nice", "-n", "10", "node", str(HERE / "loadgen.mjs"), json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        self.ready = self.read()

    def read(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the load generator exited")
        return json.loads(line)

    def call(self, **cmd: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd).encode() + b"\n")
        self.proc.stdin.flush()
        return self.read()

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, BrokenPipeError):
            self.call(op="quit")
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def run(impl: str, scenario: str, wire: str, redis: RedisServer, args: Any) -> dict[str, Any]:
    nodes = 3 if scenario == "fetch" else 2
    servers = [Server(impl, redis.port, wire) for _ in range(nodes)]
    out: dict[str, Any] = {"impl": impl, "scenario": scenario, "wire": wire}
    try:
        a, b = servers[0], servers[1]
        if scenario == "broadcast":
            layout = [{"port": s.port, "n": 100, "room": "room"} for s in servers]
            config = {"layout": layout, "sender": a.port, "target": "room", "count": 20,
                      "rounds": 20, "payload": 100}  # fmt: skip
        elif scenario == "bystander":
            layout = [{"port": a.port, "n": 100, "room": "hot"},
                      {"port": b.port, "n": 100, "room": "cold"}]  # fmt: skip
            config = {"layout": layout, "sender": a.port, "target": "hot", "count": 20,
                      "rounds": 50, "payload": 100}  # fmt: skip
        else:
            layout = [{"port": s.port, "n": args.per_node} for s in servers]
            config = {"layout": layout}
        gen = Loadgen(config)
        try:
            time.sleep(0.5)
            if scenario == "fetch":
                gen.call(op="fetch", reps=2)  # warm up
                pids = [s.pid for s in servers]
                before = [cpu(p) for p in pids]
                result = gen.call(op="fetch", reps=20)
                # CPU per fetch of the asking node and of each answering node: less
                # sensitive than latency to a machine shared with other work
                used = [cpu(p) - b0 for p, b0 in zip(pids, before, strict=True)]
                ms = sorted(result["ms"])
                out.update(sockets=result["n"], median_ms=round(statistics.median(ms), 1),
                           p90_ms=round(ms[int(len(ms) * 0.9) - 1], 1),
                           min_ms=round(ms[0], 1),
                           cpu_ms_per_fetch=[round(u / 20 * 1000, 1) for u in used])  # fmt: skip
                return out
            pids = [s.pid for s in servers] + [redis.process.pid]  # type: ignore[union-attr]
            # idle CPU first, over a fixed second, then the load
            before = [cpu(p) for p in pids]
            time.sleep(1.0)
            idle = [cpu(p) - b0 for p, b0 in zip(pids, before, strict=True)]
            before = [cpu(p) for p in pids]
            result = gen.call(op="bcast")
            used = [cpu(p) - b0 for p, b0 in zip(pids, before, strict=True)]
            seconds = result["seconds"]
            out.update(delivered=result["delivered"], expected=result["expected"],
                       seconds=round(seconds, 2))  # fmt: skip
            if scenario == "broadcast":
                server_cpu = used[0] + used[1]
                out["cpu_s"] = [round(x, 2) for x in used[:2]]
                out["redis_cpu_s"] = round(used[2], 2)
                out["us_per_delivered"] = round(server_cpu / result["delivered"] * 1e6, 2)
            else:
                broadcasts = config["count"] * config["rounds"]  # type: ignore[operator]
                out["broadcasts"] = broadcasts
                out["b_cpu_s"] = round(used[1], 3)
                out["b_idle_cpu_per_s"] = round(idle[1], 3)
                out["b_us_per_broadcast"] = round(
                    max(0.0, used[1] - idle[1] * seconds) / broadcasts * 1e6, 1
                )
                out["a_us_per_broadcast"] = round(used[0] / broadcasts * 1e6, 1)
                if impl == "rtio":
                    out["b_stats"] = gen.call(op="stats", port=b.port)
            return out
        finally:
            gen.stop()
    finally:
        for s in servers:
            s.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["broadcast", "bystander", "fetch"])
    parser.add_argument("--wire", default="classic", choices=["classic", "sharded"])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--per-node", type=int, default=1000)
    parser.add_argument("--impls", default="rtio,node")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(Path(tmp))
        redis.start()
        try:
            for _ in range(args.reps):
                for impl in args.impls.split(","):
                    row = run(impl, args.scenario, args.wire, redis, args)
                    print(json.dumps(row), flush=True)
                    results.append(row)
        finally:
            redis.stop()
    key = {"broadcast": "us_per_delivered", "bystander": "b_us_per_broadcast",
           "fetch": "median_ms"}[args.scenario]  # fmt: skip
    med = {
        impl: statistics.median(r[key] for r in results if r["impl"] == impl)
        for impl in args.impls.split(",")
    }
    summary = {"summary": args.scenario, "wire": args.wire, "metric": key, "median": med}
    if "rtio" in med and "node" in med and med["node"]:
        summary["rtio/node"] = round(med["rtio"] / med["node"], 2)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
