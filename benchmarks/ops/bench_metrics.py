"""What the Prometheus metrics cost: the same operations with ``sio.metrics()`` off and on.

    .venv/bin/python benchmarks/ops/bench_metrics.py [--rounds 7]

Two servers built alike (``benchmarks/server.py``'s handlers), one with metrics on; each
gets 1,000 clients on fake Engine.IO sessions (``bench_dispatch.py``'s: ``send`` keeps the
last message), so that only the Socket.IO layer's share is measured, and rtio's own
counting is all that differs. Cases: a broadcast to the 1,000 sockets (``sio.emit``), an
echo with ack through ``Client.receive_message``, a connect and close. Off and on are
measured in alternation, each figure the best of ``--rounds`` autoranged ``timeit`` loops
timed in the process's CPU time (``time.process_time``), so that the other processes of a
busy machine do not count.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
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
from rtio.socketio import Packet, PacketType  # noqa: E402
from rtio.socketio.encoded import Encoded  # noqa: E402


def best(fn: Any, rounds: int) -> float:
    """µs of CPU per call: the best of ``rounds`` autoranged timeit loops."""
    timer = timeit.Timer(fn, timer=time.process_time)
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


async def main(rounds: int, alternations: int) -> None:
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
    for _ in range(alternations):  # off and on in alternation
        for mode, (sio, client) in servers.items():
            for name, fn in cases(sio, client).items():
                results.setdefault(name, {}).setdefault(mode, []).append(best(fn, rounds))
    print(f"{'case (CPU per call)':34} {'off µs':>9} {'on µs':>9} {'on/off':>7}")
    for name, by_mode in results.items():
        off, on = min(by_mode["off"]), min(by_mode["on"])
        print(f"{name:34} {off:9.2f} {on:9.2f} {on / off:7.3f}")
    # what metrics add to a broadcast, alone: the one observer call per broadcast
    sio_on = servers["on"][0]
    encoded = Encoded(Packet(PacketType.EVENT, "/", ["news", "hi"]))
    encoded.messages(sio_on.parser)
    hook = sio_on.observer.broadcast
    alone = best(lambda: hook("/", 1000, encoded), rounds)
    print(f"{'the broadcast hook alone':34} {alone:9.2f} µs per broadcast")
    stats = servers["on"][0].observer.stats
    print(f"(metrics on counted {stats.broadcasts} broadcasts, {stats.deliveries} deliveries)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--alternations", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.alternations))
