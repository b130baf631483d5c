"""The front's hot path in process: one keep-alive connection of rtio.http's FrontProtocol on
a fake transport, answering a polling POST (a body that came with its head) and a GET,
with a trivial engine handler (no Engine.IO work: only the front is measured).

    .venv/bin/python benchmarks/http/front_inprocess.py [--pairs 50000] [--rounds 5]

Prints µs per POST+GET pair (min and median over the rounds). No sockets, one core; an
A/B of two commits runs this script in each worktree, alternately.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from rtio.engine import HttpResponse
from rtio.http import Front

HEADERS = {"Content-Type": "text/plain; charset=UTF-8", "Access-Control-Allow-Origin": "*"}
POST = (
    b"POST /engine.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\n"
    b"Host: localhost:8080\r\nContent-Type: text/plain;charset=UTF-8\r\n"
    b"Content-Length: 30\r\nAccept: */*\r\n\r\n"
    b'42["echo",{"hello":"world!!"}]'
)
GET = (
    b"GET /engine.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\n"
    b"Host: localhost:8080\r\nAccept: */*\r\n\r\n"
)


class FakeTransport:
    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += 1

    def close(self) -> None:
        raise AssertionError("closed")

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def handle(request: Any) -> HttpResponse:
    if request.method == "POST":
        await request.read_body(1_000_000)
        return HttpResponse(200, HEADERS, b"ok")
    return HttpResponse(200, HEADERS, b'43["echo",{"hello":"world!!"}]')


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    front = Front({"/engine.io/": handle})
    protocol = front()
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    receive = protocol.data_received
    results = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for _ in range(args.pairs):
            receive(POST)
            receive(GET)
        results.append((time.perf_counter() - start) / args.pairs * 1e6)
    assert transport.written == 2 * args.pairs * args.rounds
    print(
        f"front POST+GET pair: min {min(results):.3f} µs, "
        f"median {statistics.median(results):.3f} µs ({args.rounds} x {args.pairs})"
    )
    protocol.connection_lost(None)


if __name__ == "__main__":
    asyncio.run(main())
