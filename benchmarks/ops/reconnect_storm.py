"""A reconnect storm with and without admission control (issue 20; docs/OPERATIONS.md).

    .venv/bin/python benchmarks/ops/reconnect_storm.py [--clients 10000] [--probes 50]
        [--auth-cpu-ms 1.0] [--rates none,400] [--deadline 120] [--out FILE]

For each rate (``none``: admission control off): starts benchmarks/ops/storm_server.py
(its connect middleware costs ``--auth-cpu-ms`` of CPU), connects ``--clients`` npm
socket.io-client sockets (benchmarks/ops/storm_clients.mjs), kills the server (SIGKILL, a
crash or a lost machine) and starts it again at once on the same port: every client
reconnects within a second or two, with its default backoff. Reported per run: how long
until every client was back (p50/p90/p99/max from the first disconnect), the failed
attempts and their causes (503s when admission control refuses), clients that dropped again
once back, the echo latency of the first ``--probes`` clients once back while the storm
goes on (the service the clients already let in get), the restarted server's CPU seconds
and peak RSS, and the load tool's own CPU (to show the server was the bound).

Needs node and tests/node/node_modules (``cd tests/node && npm ci``). Results as one JSON
line per run in ``--out`` (default benchmarks/results/reconnect-storm.jsonl) and a table.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"the server did not listen on {port} within {timeout} s")


def start_server(
    port: int, args: argparse.Namespace, rate: float | None
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(HERE / "storm_server.py"), str(port)]
    cmd += ["--auth-cpu-ms", str(args.auth_cpu_ms)]
    if rate is not None:
        cmd += ["--max-handshake-rate", str(rate)]
    return subprocess.Popen(cmd, stderr=subprocess.DEVNULL)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_once(args: argparse.Namespace, rate: float | None) -> dict[str, object]:
    port = free_port()
    server = start_server(port, args, rate)
    wait_listening(port)
    clients = subprocess.Popen(
        [
            "node",
            str(HERE / "storm_clients.mjs"),
            f"http://127.0.0.1:{port}",
            str(args.clients),
            str(args.probes),
            str(args.deadline),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert clients.stdout is not None
    restarted = None
    try:
        line = json.loads(clients.stdout.readline() or "{}")
        if line.get("phase") != "connected":
            raise RuntimeError(f"the clients did not connect: {line}")
        server.send_signal(signal.SIGKILL)
        server.wait()
        restarted = start_server(port, args, rate)
        result = json.loads(clients.stdout.readline() or "{}")
        if result.get("phase") != "result":
            raise RuntimeError(f"no result from the clients: {result}")
        result["server_cpu_s"] = round(cpu_seconds(restarted.pid), 2)
        result["server_peak_rss_mb"] = round(peak_rss_mb(restarted.pid), 1)
    finally:
        for proc in (clients, server, restarted):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    result["max_handshake_rate"] = rate
    result["auth_cpu_ms"] = args.auth_cpu_ms
    return result


def row(r: dict) -> str:
    back, echo = r["back_ms"], r["probe_echo_ms"]
    failed = sum(r["failed_attempts"].values())
    rate = r["max_handshake_rate"] or "off"

    def s(ms: float | None) -> str:
        return "-" if ms is None else f"{ms / 1000:.1f}"

    return (
        f"| {rate} | {r['back']}/{r['sockets']} | {s(back['p50'])} / {s(back['p99'])} / "
        f"{s(back['max'])} | {r['attempts']} | {failed} | {r['dropped_again']} | "
        f"{echo['p50']} / {echo['p99']} / {echo['max']} | {r['probe_echo_timeouts']} | "
        f"{r['server_cpu_s']} | {r['server_peak_rss_mb']} | {r['client_cpu_s']:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--probes", type=int, default=50)
    parser.add_argument("--auth-cpu-ms", type=float, default=1.0)
    parser.add_argument("--rates", default="none,400", help="comma-separated; none = off")
    parser.add_argument("--deadline", type=float, default=120.0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/reconnect-storm.jsonl"))
    args = parser.parse_args()
    rates = [None if r == "none" else float(r) for r in args.rates.split(",")]
    results = []
    for rate in rates:
        print(f"rate {rate or 'off'}: {args.clients} clients ...", file=sys.stderr, flush=True)
        results.append(run_once(args, rate))
        with open(args.out, "a") as f:
            f.write(json.dumps(results[-1]) + "\n")
    print(
        "| max_handshake_rate | back | back after s (p50 / p99 / max) | attempts | failed "
        "| dropped again | probe echo ms (p50 / p99 / max) | echo timeouts | server CPU s "
        "| server peak RSS MB | client CPU s |"
    )
    print("|" + " --- |" * 11)
    for r in results:
        print(row(r))


if __name__ == "__main__":
    main()
