"""The server of the reconnect-storm measurement (benchmarks/ops/reconnect_storm.py).

    .venv/bin/python benchmarks/ops/storm_server.py PORT [--auth-cpu-ms 1.0]
        [--max-handshake-rate R] [--handshake-burst B]

One rtio process on 127.0.0.1:PORT (rtio's own front, uvloop when installed), Socket.IO at
/socket.io/. Its connect middleware burns ``--auth-cpu-ms`` of CPU per connection, the cost
of checking a token (a signature, a session look-up decoded in Python): that is what makes
a storm expensive for a real app, and the server, not the load tool, the bound.
``echo(*args)`` answers its ack with the same args. ``--max-handshake-rate`` turns on
admission control (rtio/engine/admission.py; the burst is one second's worth unless
``--handshake-burst`` says otherwise). Exits on SIGTERM, printing to stderr how many
times the connect middleware ran.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, for `import rtio`

import rtio
from rtio.engine.options import EngineOptions

#: the connect middleware's calls: the handshakes let in that reached a Socket.IO CONNECT
CONNECTS = [0]


def make_server(
    auth_cpu_ms: float, rate: float | None, burst: int | None, wait: float | None = None
) -> rtio.Server:
    if wait is None:
        sio = rtio.Server(max_handshake_rate=rate, handshake_burst=burst)
    else:  # handshake_wait is an engine option only
        options = EngineOptions(path="/socket.io/", max_handshake_rate=rate,
                                handshake_burst=burst, handshake_wait=wait)  # fmt: skip
        sio = rtio.Server(engine_options=options)
    cost = auth_cpu_ms / 1000.0

    @sio.use
    def check_token(socket: rtio.Socket, auth: Any) -> None:
        CONNECTS[0] += 1
        # Spin rather than sleep: a token check is CPU on the server's one loop.
        end = time.perf_counter() + cost
        while time.perf_counter() < end:
            pass

    @sio.on("echo")
    def echo(socket: rtio.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    return sio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--auth-cpu-ms", type=float, default=1.0)
    parser.add_argument("--max-handshake-rate", type=float, default=None)
    parser.add_argument("--handshake-burst", type=int, default=None)
    parser.add_argument("--handshake-wait", type=float, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    sio = make_server(
        args.auth_cpu_ms, args.max_handshake_rate, args.handshake_burst, args.handshake_wait
    )
    # backlog 4096 (the kernel's somaxconn here): a storm is not to be shaped by SYN drops
    rtio.run_app(sio, host="127.0.0.1", port=args.port, backlog=4096, print=None)
    # read by reconnect_storm.py once this server stopped (SIGTERM)
    print(f"connect middleware calls: {CONNECTS[0]}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
