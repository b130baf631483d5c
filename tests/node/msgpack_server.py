"""The rtio server of the msgpack integration tests (tests/node/msgpack.test.mjs): JSON and
msgpack clients on one server, the parser chosen per connection by the ``parser`` query
parameter the client sets (``?parser=msgpack``; anything else or nothing: JSON).

    python tests/node/msgpack_server.py [--port 0] [--host 127.0.0.1]

Prints ``{"event": "listening", "port": N}`` once it accepts connections, and
``{"event": "disconnect", "sid", "reason"}`` for each socket that leaves. Written against
rtio's public API only, like an application would be. Both parsers are wrapped to count
their encodings, so a test can check that a broadcast is encoded once per parser in use.

Events, all acknowledged with the handler's return value:

- ``echo(*args)`` -> the same arguments (dates, binary, nested data come back as they are)
- ``whoami()`` -> ``{id, parser, transport}``
- ``ask({event, args})``: the server emits ``event`` to this client asking for an ack ->
  the client's answer (a list)
- ``join(room)`` -> the socket's rooms
- ``bcast({room, event, args})``: emit to the room -> ``{"json": n, "msgpack": m}``, the
  encodings that broadcast took per parser
- ``python-values()`` -> values only Python writes: a datetime, int dict keys, a tuple,
  bytes, an integer beyond 64 bits, NaN and infinities (msgpack clients only: JSON has no
  NaN)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import math
import signal
from typing import Any

from aiohttp import web

import rtio
from rtio.socketio.packet import Packet
from rtio.socketio.parsers import Decoder, JsonParser, MsgpackParser, Parser, by_query


def out(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


class Counting:
    """A parser that counts its encodings (delegating everything to ``inner``)."""

    def __init__(self, inner: Parser) -> None:
        self.inner = inner
        self.name = inner.name
        self.encodings = 0

    def encode(self, packet: Packet) -> list[str | bytes]:
        self.encodings += 1
        return self.inner.encode(packet)

    def new_decoder(self) -> Decoder:
        return self.inner.new_decoder()


MAX_PAYLOAD = 1_000_000
PARSERS = {
    "json": Counting(JsonParser(max_packet_size=MAX_PAYLOAD)),
    # nil_is_absent: python-socketio's msgpack clients (tests/socketio/
    # test_msgpack_python_client.py) write data None in DISCONNECT.
    "msgpack": Counting(MsgpackParser(max_packet_size=MAX_PAYLOAD, nil_is_absent=True)),
}


# ?parser=msgpack: the msgpack parser; anything else: JSON. One shared instance per parser:
# the server encodes a broadcast once per instance in use.
parser_for = by_query({"msgpack": PARSERS["msgpack"]}, default=PARSERS["json"])


def make_server() -> rtio.Server:
    sio = rtio.Server(cors_allowed_origins="*", max_payload=MAX_PAYLOAD, parser_for=parser_for)
    nsp = sio.main

    @nsp.on("disconnect")
    async def disconnect(socket: rtio.Socket, reason: str) -> None:
        out(event="disconnect", sid=socket.id, reason=str(reason))

    @nsp.on("echo")
    async def echo(socket: rtio.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @nsp.on("whoami")
    async def whoami(socket: rtio.Socket) -> dict[str, Any]:
        parser = PARSERS["msgpack" if socket.handshake.query.get("parser") == "msgpack" else "json"]
        return {"id": socket.id, "parser": parser.name, "transport": socket.transport}

    @nsp.on("ask")
    async def ask(socket: rtio.Socket, req: dict[str, Any]) -> list[Any]:
        answer = await socket.timeout(3).emit_with_ack(req["event"], *req.get("args", []))
        if not isinstance(answer, tuple):
            answer = () if answer is None else (answer,)
        return list(answer)

    @nsp.on("join")
    async def join(socket: rtio.Socket, room: str) -> list[str]:
        await socket.join(room)
        return sorted(socket.rooms)

    @nsp.on("bcast")
    async def bcast(socket: rtio.Socket, req: dict[str, Any]) -> dict[str, int]:
        before = {name: p.encodings for name, p in PARSERS.items()}
        sio.to(req["room"]).emit(req["event"], *req.get("args", []))
        return {name: p.encodings - before[name] for name, p in PARSERS.items()}

    @nsp.on("python-values")
    async def python_values(socket: rtio.Socket) -> dict[str, Any]:
        return {
            "date": dt.datetime(2024, 2, 29, 12, 30, 45, 678000, tzinfo=dt.timezone.utc),
            "intKeys": {1: "one", 2: "two"},
            "tuple": (1, (2, 3)),
            "bytes": b"\x00\x01\xfe\xff",
            "beyond64": 2**70,
            "nan": math.nan,
            "inf": [math.inf, -math.inf],
        }

    return sio


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    runner = web.AppRunner(make_server().make_app(), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, reuse_address=True)
    await site.start()
    server = site._server
    assert server is not None
    out(event="listening", port=server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
