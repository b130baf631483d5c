"""Microbenchmark of the Socket.IO dispatch: µs per echo packet through ``Client``.

    .venv/bin/python benchmarks/socketio/bench_dispatch.py [--rounds 5]

Feeds ``42<id>["echo",...]`` text messages to :meth:`rtio.socketio.client.Client.receive_message`
of a client joined to the main namespace of the bench server (``benchmarks/server.py``'s
handlers), with a fake Engine.IO session whose ``send`` only keeps the last message: what is
measured is the Socket.IO layer's whole share of an echo round trip (decode, route, handler,
ack encode), nothing of Engine.IO or the WebSocket. Also a connect (``0`` ->
``0{"sid":...}``, then the session's end), an async handler's echo for comparison, and a
broadcast (``sio.emit``) to 1,001 sockets and to a room of 100.
Each figure is the best of ``--rounds`` ``timeit`` autoranged loops.
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
sys.path.insert(0, str(HERE.parent.parent))

from server import make_server  # noqa: E402

from rtio.engine import CloseReason, HandshakeRequest  # noqa: E402
from rtio.socketio.client import Client  # noqa: E402


class FakeSession:
    """What the Socket.IO layer uses of an EngineSession; ``send`` keeps the last message."""

    sid = "bench"
    transport = "websocket"
    writable = True

    def __init__(self) -> None:
        self.request = HandshakeRequest(
            method="GET",
            url="http://127.0.0.1/socket.io/?EIO=4&transport=websocket",
            path="/socket.io/",
            headers={"Host": "127.0.0.1"},
            query={"EIO": "4", "transport": "websocket"},
            remote="127.0.0.1",
        )
        self.state: object = None
        self.last: Any = None

    def send(self, data: Any, compress: bool = True) -> None:
        self.last = data

    def close(self) -> None:
        pass


def best(fn: Any, rounds: int) -> float:
    """µs per call: the best of ``rounds`` autoranged timeit loops."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return min(timer.repeat(rounds, number)) / number * 1e6


async def main(rounds: int) -> None:
    sio = make_server()

    @sio.on("aecho")
    async def aecho(socket: Any, *args: Any) -> tuple[Any, ...]:
        return args

    session = FakeSession()
    client = Client(sio, session, sio.parser)  # type: ignore[arg-type]
    client.receive_message("0")
    assert client.sockets, session.last
    receive = client.receive_message

    cases = {
        'echo  42N["echo","hello"]': '421["echo","hello"]',
        'echo  42N["echo",{...}]': '4212["echo",{"user":"ann","text":"hello world","n":42}]',
        'async 42N["aecho","hello"]': '421["aecho","hello"]',
        'no ack 42["echo","hello"]': '42["echo","hello"]',
    }
    for name, message in cases.items():
        message = message[1:]  # what the engine hands over: the Engine.IO "4" is stripped
        receive(message)
        assert client.connected, name
        print(f"{name:34} {best(lambda m=message: receive(m), rounds):7.2f} µs")

    def connect() -> None:
        s = FakeSession()
        c = Client(sio, s, sio.parser)  # type: ignore[arg-type]
        c.receive_message("0")
        c.on_session_closed(CloseReason.TRANSPORT_CLOSE)

    print(f"{'connect 0 -> 0{sid}, then close':34} {best(connect, rounds):7.2f} µs")

    # broadcast: 1,000 sockets of the main namespace, 100 of them in a room
    for i in range(1000):
        c = Client(sio, FakeSession(), sio.parser)  # type: ignore[arg-type]
        c.receive_message("0")
        if i % 10 == 0:
            next(iter(c.sockets.values())).join("room")
    everyone = best(lambda: sio.emit("news", "hi"), rounds)
    print(f"{'broadcast to 1,001 sockets':34} {everyone:7.2f} µs")
    to_room = sio.to("room")
    room = best(lambda: to_room.emit("news", "hi"), rounds)
    print(f"{'broadcast to a room of 100':34} {room:7.2f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.rounds))
