"""What each performance trick of rtio.ws that costs readability saves, measured in
process with timeit and tracemalloc (the figures quoted in comments where the tricks
stand):

    .venv/bin/python benchmarks/ws/bench_tricks.py

Each line: the trick, the plain alternative, and the difference per operation (ns) or per
object (bytes). Best of 5 runs of timeit each. Not a test.
"""

from __future__ import annotations

import asyncio
import sys
import timeit
import tracemalloc
import weakref
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))  # the repo root

from rtio.ws import driver, writes
from rtio.ws.frames import FrameParser, Opcode, apply_mask, serialize_frame
from rtio.ws.keepalive import Pings
from rtio.ws.link import Link
from rtio.ws.messages import Inbox


def ns(stmt: str, number: int = 200_000, **names: Any) -> float:
    timer = timeit.Timer(stmt, globals=names)
    return min(timer.repeat(5, number)) / number * 1e9


def per_object(make: Any, n: int = 2000) -> float:
    keep = []
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(n):
        keep.append(make())
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return grown / n


def line(what: str, trick: float, plain: float, unit: str) -> None:
    print(f"{what:<58} {trick:>9.1f} {plain:>9.1f} {plain - trick:>+9.1f} {unit}")


class _Transport(asyncio.Transport):
    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


async def main() -> None:
    print(f"{'trick':<58} {'trick':>9} {'plain':>9} {'saves':>9}")
    # -- frames.py: FrameParser.small_frames, the read of small single-frame messages
    mask = b"\x01\x02\x03\x04"
    for count in (1, 4):
        data = serialize_frame(Opcode.TEXT, b"x" * 32, mask_key=mask) * count
        parser = FrameParser(require_mask=True)

        def general(parser: FrameParser = parser, data: bytes = data) -> None:
            parser.feed(data)
            while parser.next_frame() is not None:
                pass

        line(
            f"frames: small_frames, {count} frame(s) per read (ns/read)",
            ns("p.small_frames(d)", p=parser, d=data),
            ns("g()", g=general),
            "ns",
        )
    # -- frames.py: a small masked payload copied rather than viewed
    buf = bytearray(serialize_frame(Opcode.BINARY, b"y" * 1000, mask_key=mask))

    def view(buf: bytearray = buf) -> None:
        with memoryview(buf) as v:
            part = v[8:1008]
            apply_mask(part, mask)
            part.release()

    line(
        "frames: payload <= 1024 B copied, not viewed (ns/frame)",
        ns("apply_mask(b[8:1008], m)", apply_mask=apply_mask, b=buf, m=mask),
        ns("v()", v=view),
        "ns",
    )
    # -- protocol.py: opcode aliases (_TEXT = Opcode.TEXT.value)
    text = Opcode.TEXT.value
    line(
        "protocol: module alias _TEXT vs Opcode.TEXT (ns/compare)",
        ns("o == _TEXT", o=1, _TEXT=text),
        ns("o == Opcode.TEXT", o=1, Opcode=Opcode),
        "ns",
    )
    # -- driver.py: LOST alias vs TransportState.LOST
    line(
        "driver: LOST alias vs TransportState.LOST (ns/test)",
        ns("t is LOST", t=driver.TransportState.OPEN, LOST=driver.LOST),
        ns("t is S.LOST", t=driver.TransportState.OPEN, S=driver.TransportState),
        "ns",
    )
    # -- writes.py: the last loop's batcher, without a WeakKeyDictionary lookup
    loop = asyncio.get_running_loop()
    writes.loop_writes(loop)
    table: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary({loop: 1})
    line(
        "writes: loop_writes' last-loop shortcut (ns/connection)",
        ns("f(loop)", f=writes.loop_writes, loop=loop),
        ns("t.get(loop)", t=table, loop=loop),
        "ns",
    )
    # -- __slots__ on the per-connection objects: bytes per object
    transport = _Transport()
    for name, cls, args, kwargs in [
        ("Link (and WebSocketStream)", Link, (transport,), {}),
        ("Inbox", Inbox, (Link(transport), 32), {}),
        (
            "Pings",
            Pings,
            (loop,),
            {"interval": 20.0, "timeout": 20.0, "send": len, "timed_out": print},
        ),
    ]:
        plain = without_slots(cls)
        line(
            f"__slots__: {name} (bytes/object)",
            per_object(lambda cls=cls, args=args, kwargs=kwargs: cls(*args, **kwargs)),
            per_object(lambda plain=plain, args=args, kwargs=kwargs: plain(*args, **kwargs)),
            "B",
        )
    # the connection object itself (WebSocket over WebSocketDriver), with its Link and
    # protocol: bytes per connection and set-up time
    from rtio.ws.connection import WebSocket
    from rtio.ws.options import ConnectionOptions
    from rtio.ws.protocol import Side, WebSocketProtocol

    plain_ws = without_slots(WebSocket, without_slots(driver.WebSocketDriver))
    options = ConnectionOptions(ping_interval=None)

    def connect(cls: Any) -> Any:
        proto = WebSocketProtocol(Side.SERVER, deliver_before_failing=True)
        return cls(proto, Link(_Transport()), options=options)

    line(
        "__slots__: WebSocketDriver (bytes per connection)",
        per_object(lambda: connect(WebSocket), 1000),
        per_object(lambda: connect(plain_ws), 1000),
        "B",
    )
    line(
        "__slots__: WebSocketDriver (ns per connection set-up)",
        ns("c(W)", number=20_000, c=connect, W=WebSocket),
        ns("c(W)", number=20_000, c=connect, W=plain_ws),
        "ns",
    )


def without_slots(cls: type, base: type | None = None) -> type:
    """A copy of ``cls`` with an instance dict instead of its slots (on ``base``, a copy
    of its base, if given)."""
    names = set(cls.__dict__.get("__slots__", ()))
    body = {
        k: v
        for k, v in cls.__dict__.items()
        if k not in names and k not in ("__slots__", "__dict__", "__weakref__")
    }
    bases = (base,) if base is not None else cls.__bases__
    return type(cls.__name__ + "WithDict", bases, body)


if __name__ == "__main__":
    asyncio.run(main())
