"""Microbenchmark of the Socket.IO parsers: msgpack vs JSON, encode and decode, per payload.

    .venv/bin/python benchmarks/parsers/bench_parsers.py [--quick] [--json]

Measures only the parsers (sans-I/O: no sockets, no Engine.IO framing), in one process, so
the figures are CPU cost per packet on this machine:

- encode: ``parser.encode(packet)`` (all messages, attachments included);
- decode: one connection's decoder fed the encoded messages (one incoming packet);
- echo: decode one client packet and encode the reply (the server's per-message work: the
  ack through the parser's ``encode_ack`` where it has one, as the server does);
- broadcast: what a broadcast costs the parser: one encode per parser in use, whatever the
  number of recipients (the server shares the encoded messages);
- bytes: the size on the wire (a WebSocket frame's payload; over long-polling a binary
  message is base64 in a text payload, a third larger).

Each figure is the best of several rounds of ``timeit`` autoranged loops. The same
comparison through a running server, with the real npm clients (echo acks/s and broadcast
deliveries/s): ``node benchmarks/parsers/bench_e2e.mjs``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import timeit
from collections.abc import Callable
from typing import Any

from rtio.socketio.packet import Packet, PacketType
from rtio.socketio.parsers import JsonParser, MsgpackParser, Parser

T = PacketType

PAYLOADS: dict[str, Packet] = {
    "small event": Packet(T.EVENT, "/", ["chat", {"user": "ann", "text": "hello world"}]),
    "event + ack id": Packet(T.EVENT, "/chat", ["msg", "hi", 42, True], 17),
    "nested (50 objs)": Packet(
        T.EVENT,
        "/",
        [
            "rows",
            [
                {"id": i, "name": f"user{i}", "score": i * 1.5, "tags": ["a", "b"], "ok": True}
                for i in range(50)
            ],
        ],
    ),
    "1000 ints": Packet(T.EVENT, "/", ["ints", list(range(1000))]),
    "binary 64 KiB": Packet(T.EVENT, "/", ["file", {"name": "a.bin"}, bytes(range(256)) * 256]),
    "binary 1 KiB x4": Packet(T.EVENT, "/", ["chunks", [bytes([i]) * 1024 for i in range(4)]]),
}

PARSERS: list[Parser] = [JsonParser(), MsgpackParser()]


def best_ns(fn: Callable[[], Any], rounds: int) -> float:
    """Best per-call time in nanoseconds over ``rounds`` autoranged loops."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=rounds, number=number)) / number * 1e9


def bench(parser: Parser, packet: Packet, rounds: int) -> dict[str, float]:
    messages = parser.encode(packet)
    reply = Packet(T.ACK, packet.nsp, ["ok"], 1)

    def encode() -> None:
        parser.encode(packet)

    decoder = parser.new_decoder()  # one connection's, as in the server

    def decode() -> None:
        for m in messages:
            decoder.feed(m)

    encode_ack = getattr(parser, "encode_ack", None)

    def echo() -> None:
        for m in messages:
            decoder.feed(m)
        if encode_ack is not None:
            encode_ack(packet.nsp, 1, ["ok"])
        else:
            parser.encode(reply)

    size = sum(len(m.encode()) if isinstance(m, str) else len(m) for m in messages)
    return {
        "encode_us": best_ns(encode, rounds) / 1e3,
        "decode_us": best_ns(decode, rounds) / 1e3,
        "echo_us": best_ns(echo, rounds) / 1e3,
        "bytes": size,
        "messages": len(messages),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    args = ap.parse_args(argv)
    rounds = 2 if args.quick else 5
    results = []
    for label, packet in PAYLOADS.items():
        row: dict[str, Any] = {"payload": label}
        for parser in PARSERS:
            row[parser.name] = bench(parser, packet, rounds)
        results.append(row)
    if args.json:
        stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        for row in results:
            print(json.dumps({"time": stamp, "python": sys.version.split()[0], **row}))
        return 0
    head = f"{'payload':<18} {'parser':<8} {'encode µs':>10} {'decode µs':>10} {'echo µs':>9}"
    print(head + f" {'bytes':>8} {'msgs':>5}   msgpack/json (encode, decode, bytes)")
    for row in results:
        js, mp = row["json"], row["msgpack"]
        for name in ("json", "msgpack"):
            r = row[name]
            line = (
                f"{row['payload'] if name == 'json' else '':<18} {name:<8} {r['encode_us']:>10.2f}"
                f" {r['decode_us']:>10.2f} {r['echo_us']:>9.2f} {r['bytes']:>8} {r['messages']:>5}"
            )
            if name == "msgpack":
                ratios = [mp[k] / js[k] for k in ("encode_us", "decode_us", "bytes")]
                line += "   " + " ".join(f"{r:.2f}x" for r in ratios)
            print(line)
    print("broadcast: the parser's share is one encode per parser in use (column 'encode'),")
    print("whatever the number of recipients; the Socket.IO layer shares the encoded messages.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
