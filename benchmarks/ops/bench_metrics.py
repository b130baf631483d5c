"""What the Prometheus metrics cost: the same operations with ``sio.metrics()`` off and on.

    .venv/bin/python benchmarks/ops/bench_metrics.py [--rounds 7]

Two servers built alike (``benchmarks/server.py``'s handlers), one with metrics on; each
gets 1,000 clients on fake Engine.IO sessions (``bench_dispatch.py``'s: ``send`` keeps the
last message), so that only the Socket.IO layer's share is measured, and rtio's own
counting is all that differs. Cases: a broadcast to the 1,000 sockets (``sio.emit``), an
echo with ack through ``Client.receive_message``, a connect and close. Off and on are
measured in alternation, each figure the best of ``--rounds`` autoranged ``timeit`` loops.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import timeit
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "socketio"))
sys.path.insert(0, str(HERE.parent.parent))

from bench_dispatch import FakeSession  # noqa: E402
from server import make_server  # noqa: E402

from rtio.engine import CloseReason  # noqa: E402


def best(fn: Any, rounds: int) -> float:
    """µs per call: the best of ``rounds`` autoranged timeit loops."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return min(timer.repeat(rounds, number)) / number * 1e6


def build(metrics: bool) -> tuple[Any, Any]:
    sio = make_server()
    if metrics:
        sio.metrics()
    clients = []
    for _ in range(1000):
        c = sio.client_type(sio, FakeSession(), sio.parser)
        c.receive_message("0")
        clients.append(c)
    return sio, clients[0]


async def main(rounds: int) -> None:
    servers = {"off": build(False), "on": build(True)}

    def cases(sio: Any, client: Any) -> dict[str, Any]:
        receive = client.receive_message

        def connect() -> None:
            c = sio.client_type(sio, FakeSession(), sio.parser)
            c.receive_message("0")
            c.on_session_closed(CloseReason.TRANSPORT_CLOSE)

        return {
            "broadcast to 1,000 sockets": lambda: sio.emit("news", "hi"),
            'echo 42N["echo","hello"] (ack)': lambda: receive('21["echo","hello"]'),
            "connect, then close": connect,
        }

    results: dict[str, dict[str, list[float]]] = {}
    for _ in range(3):  # off and on in alternation
        for mode, (sio, client) in servers.items():
            for name, fn in cases(sio, client).items():
                results.setdefault(name, {}).setdefault(mode, []).append(best(fn, rounds))
    print(f"{'case':34} {'off µs':>9} {'on µs':>9} {'on/off':>7}")
    for name, by_mode in results.items():
        off, on = min(by_mode["off"]), min(by_mode["on"])
        print(f"{name:34} {off:9.2f} {on:9.2f} {on / off:7.3f}")
    stats = servers["on"][0].observer.stats
    print(f"(metrics on counted {stats.broadcasts} broadcasts, {stats.deliveries} deliveries)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.rounds))
