"""``rtio bench``: the command line of the load tool (argument parsing, the event loop,
the report file, the exit status).

Exit status: 0 when the scenario counted operations (errors, if any, are in the report),
1 when it counted none (nothing connected, nothing answered), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import ipaddress
import json
import os
import resource
import sys
import time
from typing import Any

from .load import TRANSPORTS, Target
from .probe import ProcessProbe, find_listener_pid
from .progress import Progress
from .report import build_report, machine_info
from .runner import Params, Run
from .scenarios import SCENARIOS, run_scenario

__all__ = ["add_parser", "main", "run_bench"]

DESCRIPTION = """\
Load a Socket.IO v5 server (rtio, Node socket.io, python-socketio...) with N real clients
speaking the protocol (rtio's client layers), and report latency, throughput, errors and,
when the server runs on this machine, its CPU and memory.

Scenarios:
  echo           each client emits `echo` with an ack; closed loop (one in flight per
                 client) or --rate round trips/s in all; latency = emit -> ack
  fanout         the clients join a room (`join`); one more client emits `bcast` to it;
                 closed loop or --rate broadcasts/s; latency = broadcast -> each delivery
  connect-storm  N workers connect and disconnect in a loop (at most --rate connects/s);
                 latency = TCP connect -> Socket.IO CONNECT answer; failures by cause
  idle           N clients connect and stay; the server's memory per connection

echo and fanout need these events on the server's namespace: the bench server contract
of ../shared/bench/README.md:
  echo(*args)               ack with the same args
  join(room)                join room, ack room
  bcast(room, count, data)  emit "msg" data to room count times, ack count
benchmarks/server.py is rtio's implementation (`python benchmarks/server.py PORT`).
connect-storm and idle need nothing but a Socket.IO server.

Transports: websocket (a direct WebSocket, the cheapest client), polling (HTTP
long-polling only), both (polling first, then the upgrade to WebSocket, as browsers do).
The URL's path is the namespace (as socket.io-client's), --path the Engine.IO path.

Server CPU and RSS are read from /proc/PID: give --server-pid, or, for a server on this
machine's loopback, it is found from the listening port. The JSON report (--json) has a
schema version and the tool's version, the parameters and the machine, for comparing runs.
A one-line progress display goes to stderr when it is a terminal, plain lines otherwise.
Every wait has a timeout and the run stops by itself (after about duration + warmup +
connect and drain timeouts). Connections go to the URL's address only.

example: rtio bench http://127.0.0.1:5000 --clients 200 --scenario echo --duration 10
More in docs/BENCH.md (the report's schema, reading the figures).
"""


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add ``bench`` to the ``rtio`` command's subparsers."""
    bench: argparse.ArgumentParser = commands.add_parser(
        "bench", help="load a Socket.IO server and report latency and throughput",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fill_parser(bench)
    return bench


def fill_parser(bench: argparse.ArgumentParser) -> None:
    bench.add_argument("url", metavar="URL",
                       help="the server, e.g. http://127.0.0.1:5000 (path: the namespace)")
    bench.add_argument("--clients", "-n", type=_positive_int, default=100,
                       help="clients (connect-storm: concurrent workers) (default %(default)s)")
    bench.add_argument("--transport", choices=TRANSPORTS, default="websocket",
                       help="default %(default)s")
    bench.add_argument("--scenario", choices=tuple(SCENARIOS), default="echo",
                       help="default %(default)s")
    bench.add_argument("--duration", type=_positive_float, default=10.0,
                       help="seconds measured (default %(default)s)")
    bench.add_argument("--rate", type=_positive_float, default=None,
                       help="open loop: echo round trips/s, fanout broadcasts/s, or "
                            "connect-storm connects/s, in all (default: closed loop)")
    bench.add_argument("--warmup", type=float, default=1.0,
                       help="echo, fanout: seconds of load before measuring "
                            "(default %(default)s)")
    bench.add_argument("--payload-bytes", type=int, default=100,
                       help="size of the JSON payload of echo and bcast (default %(default)s)")
    bench.add_argument("--burst", type=_positive_int, default=1,
                       help="fanout: messages per broadcast (bcast's count) "
                            "(default %(default)s)")
    bench.add_argument("--room", default="bench", help="fanout: the room (default %(default)s)")
    bench.add_argument("--concurrency", type=_positive_int, default=100,
                       help="connections being opened at once (default %(default)s)")
    bench.add_argument("--connect-timeout", type=_positive_float, default=10.0,
                       help="seconds for one client's handshake (default %(default)s)")
    bench.add_argument("--drain-timeout", type=float, default=5.0,
                       help="seconds to wait for answers after the window; what is still "
                            "missing is counted as lost (default %(default)s)")
    bench.add_argument("--settle", type=float, default=2.0,
                       help="idle: seconds after connecting before the memory reading "
                            "(default %(default)s)")
    bench.add_argument("--path", default="/socket.io/",
                       help="the server's Engine.IO path (default %(default)s)")
    bench.add_argument("--server-pid", type=_positive_int, default=None,
                       help="read the server's CPU and RSS from /proc/PID (default: the "
                            "process listening on the URL's port, when on loopback)")
    bench.add_argument("--json", metavar="FILE", default=None,
                       help="write the JSON report to FILE ('-': stdout)")
    bench.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto",
                       help="the event loop of the load (auto: uvloop when installed)")
    bench.add_argument("--quiet", "-q", action="store_true", help="no progress display")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


async def run_bench(
    params: Params, target: Target, server_pid: int | None, quiet: bool, event_loop: str
) -> dict[str, Any]:
    """One run, start to report."""
    started_at = datetime.datetime.now(datetime.timezone.utc)
    started = time.monotonic()
    machine = machine_info()
    probe = ProcessProbe(server_pid) if server_pid else None
    run = Run(params, target, server=probe)
    if probe is not None and probe.read() is None:
        run.notes.append(f"cannot read /proc/{server_pid}: no server CPU or memory figures")
        run.server = None
    elif probe is None:
        run.notes.append("server not probed: no --server-pid and no local listener found")
    progress = None if quiet else Progress(run, sys.stderr)
    if progress is not None:
        progress.start()
    bound = (params.warmup_s + params.duration_s + 2 * params.connect_timeout_s
             + params.drain_timeout_s + params.settle_s + 30.0)
    try:
        results = await asyncio.wait_for(run_scenario(run), bound)
    except asyncio.TimeoutError:
        run.error("run", "run deadline")
        run.notes.append(f"the run did not end within {bound:.0f} s and was stopped")
        results = {}
        if not run.window.ended:
            run.close_window()
    finally:
        if progress is not None:
            await progress.stop()
    return build_report(
        run, results, started_at=started_at, elapsed_s=time.monotonic() - started,
        machine=machine, event_loop=event_loop,
    )


def _print_summary(report: dict[str, Any]) -> None:
    summary = report["summary"]
    lat = summary["latency_ms"]
    hs = summary["handshake_ms"]
    name, transport = report["scenario"]["name"], report["scenario"]["params"]["transport"]
    if name == "idle":
        head = (f"idle over {transport}: {summary['connected']} connections held "
                f"{summary['window_s']} s, opened at {report['results'].get('connects_per_s')}/s")
    else:
        head = (f"{name} over {transport}: {summary['operations']} operations in "
                f"{summary['window_s']} s = {summary['throughput_per_s']:,.1f}/s")
    connected = "" if name == "idle" else f", {summary['connected']} clients connected"
    lines = [f"{head}{connected}, {summary['errors']} errors"]
    if lat["count"]:
        lines.append(f"  latency ms: p50 {lat['p50']} p90 {lat['p90']} p99 {lat['p99']} "
                     f"max {lat['max']} (n={lat['count']})")
    if hs["count"]:
        lines.append(f"  handshake ms: p50 {hs['p50']} p90 {hs['p90']} p99 {hs['p99']} "
                     f"max {hs['max']} (n={hs['count']})")
    for phase, counts in report["errors"].items():
        lines.append(f"  errors ({phase}): " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    server = report["server"]
    if server is not None:
        lines.append(f"  server pid {report['target']['server_pid']}: cpu {server['cpu_pct']}%,"
                     f" rss {server['rss_end_bytes'] / 1e6:.1f} MB")
    idle = report["results"].get("server_bytes_per_connection")
    if idle is not None:
        lines.append(f"  server memory per connection: {idle:,} bytes")
    lines.append(f"  client cpu {report['client']['cpu_pct']}%")
    lines.extend(f"  note: {note}" for note in report["notes"])
    print("\n".join(lines), flush=True)


def main(args: argparse.Namespace) -> int:
    """Run ``rtio bench`` with parsed ``args``; the exit status."""
    try:
        target = Target(args.url, args.path)
        params = Params(
            scenario=args.scenario, clients=args.clients, transport=args.transport,
            duration_s=args.duration, rate=args.rate, payload_bytes=args.payload_bytes,
            concurrency=args.concurrency,
            warmup_s=args.warmup if args.scenario in ("echo", "fanout") else 0.0,
            burst=args.burst, room=args.room, connect_timeout_s=args.connect_timeout,
            drain_timeout_s=args.drain_timeout, settle_s=args.settle,
        )
    except ValueError as exc:
        print(f"rtio bench: {exc}", file=sys.stderr)
        return 2
    if args.json and args.json != "-":
        folder = os.path.dirname(os.path.abspath(args.json))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            print(f"rtio bench: cannot write the report in {folder}", file=sys.stderr)
            return 2
    server_pid = args.server_pid
    if server_pid is None and _is_loopback(target.host):
        server_pid = find_listener_pid(target.port)
    _raise_fd_limit(params.clients * 2 + 256)
    event_loop = args.loop
    if event_loop in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if event_loop == "uvloop":
                print("rtio bench: uvloop is not installed", file=sys.stderr)
                return 2
            event_loop = "asyncio"
        else:
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
            event_loop = "uvloop"
    report = asyncio.run(run_bench(params, target, server_pid, args.quiet, event_loop))
    text = json.dumps(report, indent=2)
    if args.json and args.json != "-":
        try:
            with open(args.json, "w", encoding="utf-8") as out:
                out.write(text + "\n")
        except OSError as exc:
            print(f"rtio bench: cannot write {args.json}: {exc}", file=sys.stderr)
            return 2
    with contextlib.suppress(BrokenPipeError):  # `rtio bench ... | head`
        if args.json == "-":
            print(text, flush=True)
        else:
            _print_summary(report)
    return 0 if report["summary"]["operations"] > 0 else 1
