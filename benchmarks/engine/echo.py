"""Echo throughput of rtio.engine over long-polling and WebSocket.

    .venv/bin/python benchmarks/engine/echo.py [--transport polling|websocket|both]
        [--clients 50] [--seconds 5] [--size 32] [--binary] [--profile FILE]

Starts an Engine.IO echo server (this file with ``--serve PORT``) in a subprocess on a free
loopback port, then drives it from this process with aiohttp clients: each client keeps
one message in flight (send, wait for the echo, send again). Prints round trips per second
and latency percentiles. Over polling a round trip is a POST of the message and a GET that
fetches its echo. ``--profile FILE`` runs the server under pyinstrument and writes its
text report (the server's hot path) to FILE.

The clients share the machine with the server: the figures are a floor, good for
comparing versions on one machine, not an absolute capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rtio.engine import (  # noqa: E402
    CloseReason,
    EngineOptions,
    EngineServer,
    EngineSession,
)


def _use_uvloop() -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass


# -- server ------------------------------------------------------------------------------


class Echo:
    def on_connect(self, session: EngineSession) -> None:
        pass

    def on_message(self, session: EngineSession, data: str | bytes) -> None:
        session.send(data)

    def on_disconnect(self, session: EngineSession, reason: CloseReason, description: str) -> None:
        pass


def serve(port: int, profile: str | None) -> None:
    app = web.Application()
    # long heartbeat: the benchmark measures messages, not pings
    EngineServer(Echo(), EngineOptions(ping_interval=60, ping_timeout=60)).attach(app)
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        web.run_app(app, host="127.0.0.1", port=port, print=None, handle_signals=False)
    except KeyboardInterrupt:
        pass
    finally:
        if profiler is not None and profile:
            profiler.stop()
            Path(profile).write_text(profiler.output_text(unicode=True, show_all=False))


# -- clients -----------------------------------------------------------------------------


async def websocket_client(
    http: aiohttp.ClientSession, base: str, payload: str | bytes, stop: float, rtts: list[float]
) -> None:
    async with http.ws_connect(f"{base}/engine.io/?EIO=4&transport=websocket") as ws:
        await ws.receive()  # the open packet
        clock = time.perf_counter
        while (start := clock()) < stop:
            if isinstance(payload, bytes):
                await ws.send_bytes(payload)
            else:
                await ws.send_str("4" + payload)
            await ws.receive()
            rtts.append(clock() - start)


async def polling_client(
    http: aiohttp.ClientSession, base: str, payload: str | bytes, stop: float, rtts: list[float]
) -> None:
    url = f"{base}/engine.io/?EIO=4&transport=polling"
    async with http.get(url) as resp:
        opened = await resp.text()
    sid = opened[1:].split('"sid":"')[1].split('"')[0]
    url += f"&sid={sid}"
    if isinstance(payload, bytes):
        import base64

        body = "b" + base64.b64encode(payload).decode()
    else:
        body = "4" + payload
    clock = time.perf_counter
    while (start := clock()) < stop:
        async with http.post(url, data=body) as resp:
            await resp.read()
        async with http.get(url) as resp:
            await resp.read()
        rtts.append(clock() - start)
    async with http.post(url, data="1") as resp:
        await resp.read()


async def run_load(
    base: str, transport: str, clients: int, seconds: float, payload: str | bytes
) -> tuple[list[float], float]:
    rtts: list[float] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        stop = time.perf_counter() + seconds
        run = websocket_client if transport == "websocket" else polling_client
        began = time.perf_counter()
        await asyncio.gather(*(run(http, base, payload, stop, rtts) for _ in range(clients)))
        elapsed = time.perf_counter() - began
    return rtts, elapsed


def report(transport: str, rtts: list[float], elapsed: float, clients: int, size: int) -> None:
    rtts.sort()
    n = len(rtts)

    def p(q: float) -> float:
        return rtts[min(n - 1, int(q * n))] * 1000

    print(
        f"{transport:9s} clients={clients:<4d} size={size:<6d} "
        f"round trips/s={n / elapsed:9.0f}  "
        f"latency ms p50={p(0.5):6.2f} p99={p(0.99):6.2f} mean={statistics.fmean(rtts) * 1000:6.2f}"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--transport", choices=["polling", "websocket", "both"], default="both")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--binary", action="store_true")
    parser.add_argument("--profile", help="write the server's pyinstrument report here")
    args = parser.parse_args()
    _use_uvloop()
    if args.serve:
        serve(args.serve, args.profile)
        return

    port = free_port()
    command = [sys.executable, __file__, "--serve", str(port)]
    if args.profile:
        command += ["--profile", args.profile]
    server = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        payload: str | bytes = os.urandom(args.size) if args.binary else "x" * args.size
        transports = ["polling", "websocket"] if args.transport == "both" else [args.transport]
        for transport in transports:
            rtts, elapsed = asyncio.run(
                run_load(f"http://127.0.0.1:{port}", transport, args.clients, args.seconds, payload)
            )
            report(transport, rtts, elapsed, args.clients, args.size)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    if args.profile:
        print(f"server profile: {args.profile}")


if __name__ == "__main__":
    main()
