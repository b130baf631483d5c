"""rtio.asgi.App's WebSocket path alone, without an ASGI server: µs per Socket.IO echo.

    .venv/bin/python benchmarks/asgi/bench_asgi_echo.py [--echoes N] [--rounds R] [--profile]

A fake ASGI server drives ``App`` through one WebSocket scope: ``receive`` is an
asyncio.Queue (as uvicorn's), ``send`` is a coroutine that returns at once (as uvicorn's
when the transport is writable) and counts. The client side is ping-pong: each ack the app
sends queues the next ``42N["echo","hello",1]`` in a later loop iteration (call_soon), as
a real client's next frame would arrive: the app waits in ``receive`` once per echo.
Prints µs per echo for each round and the median; with ``--profile``, one more round
under cProfile (top 25 by tottime). uvloop when installed. One connection, no network:
it measures rtio's side of the ASGI path, not uvicorn's (framing, its queue, syscalls)."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import rtio
from rtio.asgi import App


def make_app() -> App:
    sio = rtio.Server(ping_interval=25.0, ping_timeout=20.0)

    @sio.on("echo")
    def echo(socket: rtio.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    return App(sio)


async def one_connection(app: App, echoes: int) -> float:
    """Run ``echoes`` echoes on one WebSocket; seconds from the first echo to the last ack."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    state = {"n": 0, "t0": 0.0}

    async def receive() -> dict[str, Any]:
        return await queue.get()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] != "websocket.send":
            return
        text = message.get("text") or ""
        if text.startswith("0{"):  # the Engine.IO open packet: connect the main namespace
            queue.put_nowait({"type": "websocket.receive", "text": "40"})
        elif text.startswith("40"):  # connected: the first echo
            state["t0"] = time.perf_counter()
            queue.put_nowait({"type": "websocket.receive", "text": '421["echo","hello",1]'})
        elif text.startswith("43"):
            n = state["n"] = state["n"] + 1
            if n >= echoes:
                if not done.done():
                    done.set_result(time.perf_counter() - state["t0"])
                queue.put_nowait({"type": "websocket.disconnect", "code": 1000})
            else:
                # the next frame arrives in a later loop iteration, as from the network (put
                # at once, the app would find it without ever waiting: no real server does)
                loop.call_soon(
                    queue.put_nowait,
                    {"type": "websocket.receive", "text": f'42{n % 1000}["echo","hello",1]'},
                )

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": "/socket.io/",
        "root_path": "",
        "query_string": b"EIO=4&transport=websocket",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
            (b"sec-websocket-version", b"13"),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 5000),
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
    }
    queue.put_nowait({"type": "websocket.connect"})
    task = asyncio.get_running_loop().create_task(app(scope, receive, send))
    elapsed: float = await done
    await task
    return elapsed


async def main_async(echoes: int, rounds: int, profile: bool) -> None:
    app = make_app()
    await one_connection(app, 2000)  # warm up
    figures = []
    for _ in range(rounds):
        elapsed = await one_connection(app, echoes)
        figures.append(elapsed / echoes * 1e6)
        print(f"  {figures[-1]:.2f} µs/echo")
    print(f"median {statistics.median(figures):.2f} µs/echo ({rounds} rounds of {echoes})")
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        await one_connection(app, echoes)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--echoes", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    asyncio.run(main_async(args.echoes, args.rounds, args.profile))


if __name__ == "__main__":
    main()
