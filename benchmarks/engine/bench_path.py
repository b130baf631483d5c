"""µs of Python per message on the engine's WebSocket path, without sockets.

    .venv/bin/python benchmarks/engine/bench_path.py [--n 200000] [--profile]

One EngineSession over a real rtio.ws WebSocket whose transport swallows the bytes written
(no syscall, so the figures are the Python the engine and rtio.ws add per message):

- ``send``: ``session.send("hello")`` (the layer above answering: EngineSession.send,
  WebSocketTransport.write, WebSocket.send_now, the frame header);
- ``broadcast``: ``session.send(prepared)``, a packet prepared once (``prepare_packet``),
  as each member of a broadcast gets it;
- ``echo``: one masked text frame ``4hello`` fed to ``WebSocket.receive_data`` and echoed
  by the handler (receive, rtio.ws push mode, the session's receiver, send);
- ``polling``: one polling round trip through ``EngineServer.handle``: a POST of ``4hello``
  that the handler echoes (queued), then the GET that fetches it (no HTTP parsing: the
  requests are already parsed, as a front hands them over);
- ``connect``: ``EngineServer.handle`` of a direct WebSocket handshake (an HttpRequest whose
  ``accept_websocket`` gives such a WebSocket, no HTTP parsing), then the peer's close
  frame: the engine's share of a connection's life (and rtio.ws's protocol set-up).

Each figure is the best of 5 runs. ``--profile``: cProfile of the echo loop, top 15.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rtio.engine import (
    CloseReason,
    EngineOptions,
    EngineServer,
    EngineSession,
    prepare_packet,
)
from rtio.engine.websocket import server_options
from rtio.ws import ServerOptions, WebSocket
from rtio.ws.connection import Link, open_protocol
from rtio.ws.protocol import Side


class NullTransport(asyncio.Transport):
    """Swallows writes; never paused."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0

    def write(self, data: Any) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        pass


class Echo:
    def on_connect(self, session: EngineSession) -> None:
        pass

    def on_message(self, session: EngineSession, data: str | bytes) -> None:
        session.send(data)

    def on_disconnect(self, session: EngineSession, reason: CloseReason, description: str) -> None:
        pass


class FakeRequest:
    """A WebSocket handshake as an HTTP front hands it to the engine (already parsed)."""

    method = "GET"
    path = "/engine.io/"
    url = "http://127.0.0.1/engine.io/?EIO=4&transport=websocket"
    query = {"EIO": "4", "transport": "websocket"}
    headers = {"Host": "127.0.0.1", "Upgrade": "websocket", "Connection": "Upgrade"}
    cookies: dict[str, str] = {}
    remote = "127.0.0.1"
    transport = None
    content_type = ""

    def __init__(self, ws_options: ServerOptions) -> None:
        self.ws_options = ws_options
        self.ws: WebSocket | None = None
        self.transport_ = NullTransport()

    async def read_body(self, limit: int) -> bytes:
        return b""

    async def accept_websocket(
        self, options: ServerOptions, headers: Mapping[str, str] | None
    ) -> WebSocket:
        self.ws = WebSocket(
            open_protocol(Side.SERVER, options, None, None), Link(self.transport_), options=options
        )
        return self.ws


class PollRequest:
    """A polling GET or POST as an HTTP front hands it to the engine (already parsed)."""

    path = "/engine.io/"
    url = "http://127.0.0.1/engine.io/?EIO=4&transport=polling"
    headers = {"Host": "127.0.0.1", "Content-Type": "text/plain;charset=UTF-8"}
    cookies: dict[str, str] = {}
    remote = "127.0.0.1"
    content_type = "text/plain"

    def __init__(self, method: str, sid: str | None, body: bytes = b"") -> None:
        self.method = method
        self.query = {"EIO": "4", "transport": "polling"}
        if sid is not None:
            self.query["sid"] = sid
        self.body = body
        self.transport = NullTransport()

    async def read_body(self, limit: int) -> bytes:
        return self.body

    async def accept_websocket(
        self, options: ServerOptions, headers: Mapping[str, str] | None
    ) -> WebSocket:
        raise AssertionError("not a WebSocket request")


def _frame(text: str) -> bytes:
    data = text.encode()
    return bytes([0x81, 0x80 | len(data)]) + b"\0\0\0\0" + data


async def main(n: int, profile: bool) -> None:
    options = EngineOptions(ping_interval=60, ping_timeout=60)
    server = EngineServer(Echo(), options)
    ws_options = server_options(options)
    # one session opened directly on a WebSocket, through the public API only (the same
    # script measures any version of the engine)
    opening = FakeRequest(ws_options)
    await server.handle(opening)
    ws = opening.ws
    assert ws is not None
    (session,) = server.sessions.values()
    frame = _frame("4hello")

    def run_send() -> None:
        send = session.send
        for _ in range(n):
            send("hello")

    prepared = prepare_packet("hello")

    def run_broadcast() -> None:
        send = session.send
        for _ in range(n):
            send(prepared)

    def run_echo() -> None:
        receive = ws.receive_data
        for _ in range(n):
            receive(frame)

    for name, run in (("send", run_send), ("broadcast", run_broadcast), ("echo", run_echo)):
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
            await asyncio.sleep(0)  # the end of the loop iteration: coalesced writes go
        print(f"{name}: {best / n * 1e6:.3f} µs/message")

    # polling: open a polling session, then POST + GET round trips
    response = await server.handle(PollRequest("GET", None))
    assert response is not None and response.status == 200
    sid = response.body.decode().split('"sid":"')[1].split('"')[0]
    rounds = max(n // 20, 1000)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            post = await server.handle(PollRequest("POST", sid, b"4hello"))
            get = await server.handle(PollRequest("GET", sid))
        best = min(best, time.perf_counter() - start)
        assert post is not None and post.body == b"ok"
        assert get is not None and get.body == b"4hello", get
    print(f"polling: {best / rounds * 1e6:.2f} µs/round trip (POST + GET)")

    close_frame = b"\x88\x82\0\0\0\0\x03\xe8"  # the client's close, code 1000
    connects = max(n // 20, 1000)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(connects):
            request = FakeRequest(ws_options)
            await server.handle(request)
            assert request.ws is not None
            request.ws.receive_data(close_frame)
        best = min(best, time.perf_counter() - start)
        assert len(server.sessions) == 2  # only the two sessions made above are left
        await asyncio.sleep(0)
    print(f"connect: {best / connects * 1e6:.2f} µs/connection")
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(run_echo)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.profile))
