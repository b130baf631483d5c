"""Connection state recovery, rtio next to Node socket.io 4.8 in the same run (issue 17):
server CPU per emit with recovery off and on, and restore latency with 100,000 entries in
the stream.

    .venv/bin/python benchmarks/cluster/bench_recovery_node.py [--rounds 3] [--clients 20]
        [--count 500] [--bursts 10] [--restores 3] [--skip-emit] [--skip-restore]

- emit: one server, ``--clients`` clients (socket.io-client, WebSocket); the first asks
  for ``burst(count)`` (``count`` emits to all) ``--bursts`` times, each time waiting until
  every client got them. The server's CPU (/proc/<pid>/stat, user + system) over that,
  per emit and per delivered event; with Redis Streams, redis-server's CPU too. Eight
  configurations: {rtio, Node} x {in memory, Redis Streams} x {recovery off, on}; in memory
  with recovery on, Node's adapter is its SessionAwareAdapter. A warm-up burst first.
- restore: an rtio and a Node server on the streams adapter (recovery on) side by side on
  the same redis-server; a client of each joins room r1 and is cut; 100,000 broadcast
  entries (rooms r0..r9) are written to the stream; once both servers are idle, each client
  reconnects claiming the newest offset (nothing missed: the handshake and session read
  alone), one 1,000 entries back (100 events for it), then the oldest (100,000 entries
  read, 10,000 events for it): the time from connect() to its "connect".
  rtio's restore_max_entries is raised to 200,000 for this (its default, 100,000, would
  refuse the oldest offset: not recovered).

The configurations run in turn within a round, rotated each round (interleaved); medians
over ``--rounds``. Servers: recovery_server.py (rtio, uvloop) and recovery_server.mjs
(Node); the clients (recovery_loadgen.mjs) run under ``nice -n 10``. Needs redis-server
(started on a free port, stopped by PID), node, and ``npm ci`` in tests/cluster/streams.
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
STREAM = "socket.io"


def cpu(pid: int) -> float:
    """Seconds of CPU (user + system) the process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Server:
    def __init__(self, impl: str, mode: str, recovery: bool, redis_port: int) -> None:
        self.port = free_port()
        if impl == "rtio":
            args = [sys.executable, str(HERE / "recovery_server.py")]
        else:
            args = ["node", str(HERE / "recovery_server.mjs")]
        args += [str(self.port), mode, "on" if recovery else "off", str(redis_port)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if b"ready" not in line:
            self.stop()
            raise RuntimeError(f"{impl} server did not start: {line!r}")
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
            ["nice", "-n", "10", "node", str(HERE / "recovery_loadgen.mjs"), json.dumps(config)],
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


def emit_run(impl: str, mode: str, recovery: bool, redis: RedisServer, redis_pid: int,
             args: Any) -> dict[str, Any]:  # fmt: skip
    import redis as redis_py

    with redis_py.Redis(port=redis.port) as r:
        r.delete(STREAM)
    server = Server(impl, mode, recovery, redis.port)
    try:
        gen = Loadgen({"port": server.port, "clients": args.clients, "count": args.count,
                       "rounds": args.bursts, "payload": 100})  # fmt: skip
        try:
            gen.call(op="burst")  # warm up
            time.sleep(0.2)
            before, rbefore = cpu(server.pid), cpu(redis_pid)
            res = gen.call(op="burst")
            used, rused = cpu(server.pid) - before, cpu(redis_pid) - rbefore
        finally:
            gen.stop()
    finally:
        server.stop()
    if res["delivered"] != res["expected"]:
        raise RuntimeError(f"{impl} {mode}: delivered {res['delivered']} of {res['expected']}")
    emits = args.count * args.bursts
    return {
        "impl": impl, "mode": mode, "recovery": recovery,
        "us_per_emit": used / emits * 1e6, "us_per_delivered": used / res["delivered"] * 1e6,
        "redis_us_per_emit": rused / emits * 1e6 if mode == "streams" else None,
        "seconds": res["seconds"],
    }  # fmt: skip


def wait_idle(pids: list[int], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = [cpu(p) for p in pids]
        time.sleep(0.5)
        if all(cpu(p) - b <= 0.02 for p, b in zip(pids, before, strict=True)):
            return
    raise RuntimeError("the servers did not go idle")


def fill(port: int, n: int) -> list[str]:
    """n broadcast entries of namespace / to rooms r0..r9, as an adapter writes them."""
    import redis as redis_py

    ids: list[str] = []
    data = '{"packet":{"type":2,"data":["news",%d],"nsp":"/"},"opts":{"rooms":["r%d"],"except":[]}}'
    with redis_py.Redis(port=port) as r:
        for start in range(0, n, 5_000):
            pipe = r.pipeline(transaction=False)
            for i in range(start, min(n, start + 5_000)):
                fields = {"uid": "benchfill0000000", "nsp": "/", "type": "3",
                          "data": data % (i, i % 10)}  # fmt: skip
                pipe.xadd(STREAM, fields)  # type: ignore[arg-type]
            ids += [x.decode() for x in pipe.execute()]
    return ids


def backs(ids: list[str]) -> list[tuple[str, str]]:
    return [("0 back", ids[-1]), ("1,000 back", ids[-1000]), ("100,000 back", ids[0])]


def restore_runs(redis: RedisServer, args: Any) -> list[dict[str, Any]]:
    servers = {impl: Server(impl, "streams", True, redis.port) for impl in ("rtio", "node")}
    gens: dict[str, Loadgen] = {}
    rows = []
    try:
        for impl, server in servers.items():
            gens[impl] = Loadgen({"port": server.port, "clients": 1, "count": 1, "rounds": 1,
                                  "room": "r1"})  # fmt: skip
            gens[impl].call(op="cut")
        ids = fill(redis.port, 100_000)
        wait_idle([s.pid for s in servers.values()])
        order = list(servers)
        for rnd in range(args.restores):
            for back, offset in backs(ids):
                for impl in order if rnd % 2 == 0 else order[::-1]:
                    res = gens[impl].call(op="restore", offset=offset)
                    gens[impl].call(op="cut")
                    rows.append({"impl": impl, "back": back, **res})
                    print(json.dumps(rows[-1]), flush=True)
    finally:
        for gen in gens.values():
            gen.stop()
        for server in servers.values():
            server.stop()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--bursts", type=int, default=10)
    ap.add_argument("--restores", type=int, default=3)
    ap.add_argument("--skip-emit", action="store_true")
    ap.add_argument("--skip-restore", action="store_true")
    args = ap.parse_args()
    configs = [(impl, mode, rec) for mode in ("memory", "streams") for rec in (False, True)
               for impl in ("rtio", "node")]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(Path(tmp))
        redis.start()
        try:
            assert redis.process is not None
            emit_rows: list[dict[str, Any]] = []
            if not args.skip_emit:
                for rnd in range(args.rounds):
                    k = rnd % len(configs)
                    for impl, mode, rec in configs[k:] + configs[:k]:
                        row = emit_run(impl, mode, rec, redis, redis.process.pid, args)
                        emit_rows.append(row)
                        print(json.dumps(row), flush=True)
            restore_rows = [] if args.skip_restore else restore_runs(redis, args)
        finally:
            redis.stop()
    summary(configs, emit_rows, restore_rows, args)


def summary(configs: list[tuple[str, str, bool]], emit_rows: list[dict[str, Any]],
            restore_rows: list[dict[str, Any]], args: Any) -> None:  # fmt: skip
    med = statistics.median
    if emit_rows:
        emits = args.count * args.bursts
        print(f"\nserver CPU, {args.clients} clients, {emits} emits to all, median of "
              f"{args.rounds} (µs per emit / per delivered event; redis µs per emit)")  # fmt: skip
        for impl, mode, rec in configs:
            rows = [r for r in emit_rows
                    if (r["impl"], r["mode"], r["recovery"]) == (impl, mode, rec)]  # fmt: skip
            line = (f"  {impl:4} {mode:7} recovery {'on ' if rec else 'off'}: "
                    f"{med(r['us_per_emit'] for r in rows):7.1f} / "
                    f"{med(r['us_per_delivered'] for r in rows):5.2f}")  # fmt: skip
            if mode == "streams":
                line += f"; redis {med(r['redis_us_per_emit'] for r in rows):5.1f}"
            print(line)
    if restore_rows:
        print(f"\nrestore with 100,000 entries in the stream, median of {args.restores} (ms)")
        for back in ("0 back", "1,000 back", "100,000 back"):
            for impl in ("rtio", "node"):
                rows = [r for r in restore_rows if (r["impl"], r["back"]) == (impl, back)]
                ok = all(r["recovered"] for r in rows)
                print(f"  {back:12} {impl:4}: {med(r['ms'] for r in rows):8.1f} ms, "
                      f"{rows[0]['missed']} events replayed, recovered: {ok}")  # fmt: skip


if __name__ == "__main__":
    main()
