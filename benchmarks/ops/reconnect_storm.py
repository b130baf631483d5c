"""A reconnect storm with and without admission control (issue 20; docs/OPERATIONS.md).

    .venv/bin/python benchmarks/ops/reconnect_storm.py [--clients 10000] [--probes 50]
        [--auth-cpu-ms 1.0] [--rates none,400] [--burst B] [--wait S] [--repeat 1]
        [--deadline 120] [--out FILE]

For each rate (``none``: admission control off): starts benchmarks/ops/storm_server.py
(its connect middleware costs ``--auth-cpu-ms`` of CPU; no admission control yet),
connects ``--clients`` npm socket.io-client sockets (benchmarks/ops/storm_clients.mjs),
kills the server (SIGKILL, a crash or a lost machine) and starts it again at once on the
same port, with ``max_handshake_rate`` = the rate (and ``--burst``, ``--wait``: the
handshake_burst and handshake_wait options): every client
reconnects within a second or two, with its default backoff. Reported per run: how long
until every client was back (p50/p90/p99/max from the first disconnect), the failed
attempts and their causes (503s when admission control refuses; attempts before the
restarted server listened, "failed while down", are the restart's, not the server's),
clients that dropped again once back, the echo latency of the first ``--probes``
clients once back while the storm goes on (the service the clients already let in get),
the restarted server's CPU seconds, peak RSS and connect middleware calls, and the load
tool's own CPU (to show the server was the bound).

Needs node and tests/node/node_modules (``cd tests/node && npm ci``). Results as one JSON
line per run in ``--out`` (default benchmarks/results/reconnect-storm.jsonl) and a table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
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


def raise_fd_limit(clients: int) -> None:
    """Each side holds one fd per client, and refused attempts hold more for a moment: raise
    the soft limit (inherited by the server and node) to the hard one, and say so when even
    that is short."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = clients + 1024
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < want:
        raise SystemExit(f"ulimit -n is {hard} (hard); {clients} clients need about {want}")


def start_server(
    port: int, args: argparse.Namespace, rate: float | None, log: Path
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(HERE / "storm_server.py"), str(port)]
    cmd += ["--auth-cpu-ms", str(args.auth_cpu_ms)]
    if rate is not None:
        cmd += ["--max-handshake-rate", str(rate)]
        if args.burst is not None:
            cmd += ["--handshake-burst", str(args.burst)]
        if args.wait is not None:
            cmd += ["--handshake-wait", str(args.wait)]
    # its stderr to a file, so that a server that dies says why (tail in the error)
    with open(log, "ab") as f:
        return subprocess.Popen(cmd, stderr=f)


def tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def read_json_line(
    proc: subprocess.Popen[str], timeout: float, what: str, log: Path
) -> dict[str, object]:
    """The next JSON line of the clients' stdout within ``timeout`` seconds, or a clear
    error (the clients died, or hung: a bounded wait, never a silent one)."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise RuntimeError(f"no {what} line from the clients within {timeout:.0f} s")
    line = proc.stdout.readline()
    if not line:
        proc.wait(5)
        raise RuntimeError(
            f"the clients exited (status {proc.returncode}) before the {what} line;"
            f" server log tail:\n{tail(log)}"
        )
    result: dict[str, object] = json.loads(line)
    if result.get("phase") != what:
        raise RuntimeError(f"expected the {what} line from the clients, got {result}")
    return result


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
    log = Path(tempfile.mkstemp(prefix="storm-server-", suffix=".log")[1])
    # the clients' first connects are not what is measured: the first server admits them
    # all (under a low rate, 10,000 in batches of 200 waiting for their backoff took over
    # 180 s); the restarted one, which takes the storm, has the rate
    server = start_server(port, args, None, log)
    clients: subprocess.Popen[str] | None = None
    restarted = None
    try:
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
        # connecting 10,000 takes ~10 s (1 ms of middleware) to ~60 s (5 ms) here
        read_json_line(clients, 180, "connected", log)
        server.send_signal(signal.SIGKILL)
        server.wait()
        restarted = start_server(port, args, rate, log)
        result = read_json_line(clients, args.deadline + 60, "result", log)
        if restarted.poll() is not None:
            raise RuntimeError(
                f"the restarted server exited ({restarted.returncode}) during the storm;"
                f" its log:\n{tail(log)}"
            )
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
    lines = tail(log, 200).splitlines()
    errors = [ln for ln in lines if "Traceback" in ln or "ERROR" in ln]
    # the restarted server's line comes last (the first server was SIGKILLed: no line)
    calls = [ln for ln in lines if ln.startswith("connect middleware calls: ")]
    result["server_connects"] = int(calls[-1].rsplit(" ", 1)[1]) if calls else None
    result["server_log_errors"] = len(errors)
    log.unlink(missing_ok=True)
    result["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result["max_handshake_rate"] = rate
    result["handshake_burst"] = args.burst if rate is not None else None
    # None: the default (2 s since 2026-12-06; before it, handshakes over the rate got 503)
    result["handshake_wait"] = args.wait if rate is not None else None
    result["auth_cpu_ms"] = args.auth_cpu_ms
    return result


def row(r: dict) -> str:
    back, echo = r["back_ms"], r["probe_echo_ms"]
    failed = sum(r["failed_attempts"].values())
    refused = sum(n for k, n in r["failed_attempts"].items() if "503" in k)
    rate = r["max_handshake_rate"] or "off"
    if r.get("handshake_burst"):
        rate = f"{rate} (burst {r['handshake_burst']})"
    if r.get("handshake_wait") is not None:
        rate = f"{rate} (wait {r['handshake_wait']} s)"

    def s(ms: float | None) -> str:
        return "-" if ms is None else f"{ms / 1000:.1f}"

    return (
        f"| {rate} | {r['back']}/{r['sockets']} | {s(back['p50'])} / {s(back['p99'])} / "
        f"{s(back['max'])} | {r['attempts']} | {failed} | {refused} | {r['failed_while_down']} | "
        f"{r['dropped_again']} | "
        f"{echo['p50']} / {echo['p99']} / {echo['max']} | {r['probe_echo_timeouts']} | "
        f"{r['server_cpu_s']} | {r['server_peak_rss_mb']} | {r['client_cpu_s']:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--probes", type=int, default=50)
    parser.add_argument("--auth-cpu-ms", type=float, default=1.0)
    parser.add_argument("--rates", default="none,400", help="comma-separated; none = off")
    parser.add_argument(
        "--burst", type=int, default=None, help="handshake_burst (default: a second's worth)"
    )
    parser.add_argument(
        "--wait", type=float, default=None, help="handshake_wait, s (0: refuse at once)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each rate, the rates alternating"
    )
    parser.add_argument("--deadline", type=float, default=120.0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/reconnect-storm.jsonl"))
    args = parser.parse_args()
    rates = [None if r == "none" else float(r) for r in args.rates.split(",")]
    raise_fd_limit(args.clients)
    results = []
    for rate in [r for _ in range(args.repeat) for r in rates]:
        print(f"rate {rate or 'off'}: {args.clients} clients ...", file=sys.stderr, flush=True)
        results.append(run_once(args, rate))
        with open(args.out, "a") as f:
            f.write(json.dumps(results[-1]) + "\n")
    print(
        "| max_handshake_rate | back | back after s (p50 / p99 / max) | attempts | failed "
        "| of which 503 | failed while down | dropped again | probe echo ms (p50 / p99 / max) "
        "| echo timeouts | server CPU s | server peak RSS MB | client CPU s |"
    )
    print("|" + " --- |" * 13)
    for r in results:
        print(row(r))


if __name__ == "__main__":
    main()
