"""rtio.ws's own CPU per echoed message, in process, with no sockets: push mode
(``set_receiver`` + ``send_now``) against ``async for`` + ``await send()``.

    .venv/bin/python benchmarks/ws/bench_push.py [--n 200000] [--repeat 5]

A server WebSocket over a transport that only counts bytes is fed masked 32-byte text
frames, one loop turn per read (as with one message in flight per client: every read wakes
the consumer), with 1 or 4 frames per read. Figures are microseconds per message, best of
``--repeat``. They leave out the socket syscalls but include one loop iteration per read
(as in a server: each read is one), so they are what an echo costs in rtio.ws and the
loop, and steadier than a socket benchmark on a shared machine. ``--mode async`` runs only
the ``async for`` column (for a tree without push mode). Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))  # the repo root

from rtio.ws import ConnectionClosed
from rtio.ws.connection import ConnectionOptions, Link, WebSocket
from rtio.ws.frames import Opcode, serialize_frame
from rtio.ws.protocol import Side, WebSocketProtocol


class CountingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = 0

    def write(self, data: Any) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


def server_websocket() -> tuple[WebSocket, CountingTransport]:
    transport = CountingTransport()
    proto = WebSocketProtocol(Side.SERVER, deliver_before_failing=True, max_message_size=1 << 20)
    ws = WebSocket(proto, Link(transport), options=ConnectionOptions(ping_interval=None))
    return ws, transport


async def run(mode: str, n: int, per_read: int) -> float:
    ws, transport = server_websocket()
    chunk = serialize_frame(Opcode.TEXT, b"x" * 32, mask_key=b"\x01\x02\x03\x04") * per_read
    reader: asyncio.Task[None] | None = None
    if mode == "push":

        def on_message(message: str | bytes) -> None:
            ws.send_now(message)

        ws.set_receiver(on_message, lambda: None)
    else:

        async def echo() -> None:
            try:
                async for message in ws:
                    await ws.send(message)
            except ConnectionClosed:
                pass

        reader = asyncio.ensure_future(echo())
        await asyncio.sleep(0)
    receive = ws.receive_data
    reads = n // per_read
    start = time.perf_counter()
    for _ in range(reads):
        receive(chunk)
        await asyncio.sleep(0)  # one loop turn per read: the consumer answers
    elapsed = time.perf_counter() - start
    for _ in range(3):  # the last answers and the end-of-iteration writes
        await asyncio.sleep(0)
    assert transport.written == reads * per_read * 34, "not every message was echoed"
    if reader is not None:
        reader.cancel()
    return elapsed / (reads * per_read) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mode", choices=("both", "async"), default="both")
    args = parser.parse_args()
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    print(f"us per echoed message, best of {args.repeat} (n={args.n})")
    print(f"{'frames per read':<16} {'async for + send':>17} {'push + send_now':>16}")
    for per_read in (1, 4):
        best = {"async": float("inf"), "push": float("inf")}
        if args.mode == "async":
            del best["push"]
        for _ in range(args.repeat):
            for mode in best:  # interleaved: the same conditions for each
                best[mode] = min(best[mode], runner(run(mode, args.n, per_read)))
        push = f"{best['push']:>16.2f}" if "push" in best else f"{'-':>16}"
        print(f"{per_read:<16} {best['async']:>17.2f} {push}", flush=True)


if __name__ == "__main__":
    main()
