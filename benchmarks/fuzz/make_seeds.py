"""Write the seed corpora (seeds/<target>/NNN) from byte vectors of the unit tests.

Each seed starts with the target's config byte(s) (see each fuzz_*.py docstring). Run from
anywhere: ``python benchmarks/fuzz/make_seeds.py`` (needs rtio importable for the WebSocket
and msgpack vectors, which are built with rtio's own encoders).
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent

HEADS = [
    b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\nX-Y:  z \t",
    b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\na: 2",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, close",
    b"GET / HTTP/1.0\r\nConnection: keep-alive",
    b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nContent-Length: 12",
    b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked",
    b"POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1",
    b"GET /socket.io/?EIO=4&transport=websocket&sid=abc%20d+e HTTP/1.1\r\nHost: x:1\r\n"
    b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\nContent-Type: text/plain; charset=UTF-8\r\nOrigin: http://a",
    b"GET / HTTP/2.0\r\nHost: a",
]
# one header field of a fixed head (fuzz_http.py mode 2): name index, repeat exponent, value
FIELDS = [b"\x00\x0012", b"\x01\x00chunked", b"\x02\x00a:1", b"\x03\x00keep-alive, Upgrade",
          b"\x04\x00100-continue", b"\x05\x00text/plain;charset=UTF-8", b"\x07\x03io=abc; "]
CHUNKED = [
    b"3\r\nabc\r\n0\r\n\r\n",
    b"0\r\n\r\n",
    b"3;ext=1\r\nabc\r\n1\r\nd\r\n0\r\nT: v\r\n\r\nNEXT",
    b"a \t;x\r\n0123456789\r\n0\r\n\r\n",
    b"3\r\nabcX\r\n",
]


def _ws_frames() -> list[bytes]:
    from rtio.ws.deflate import DeflateParams, PerMessageDeflate
    from rtio.ws.frames import serialize_close, serialize_frame

    key = b"\x01\x02\x03\x04"
    comp = PerMessageDeflate(DeflateParams(), is_server=False)
    seeds = []
    for mask in (key, None):
        side = 0 if mask else 1  # masked frames: to a server; unmasked: to a client
        m = {"mask_key": mask}
        msgs = [
            serialize_frame(1, b"hello", **m),
            serialize_frame(2, bytes(range(200)), **m),
            serialize_frame(1, "h\u00e9".encode(), fin=False, **m)
            + serialize_frame(9, b"ping", **m)
            + serialize_frame(0, "llo \u20ac".encode(), **m),
            serialize_frame(8, serialize_close(1000, "bye"), **m),
            serialize_frame(2, b"x" * 70000, **m)[:300],
            serialize_frame(10, b"", **m) + serialize_frame(1, b"4hello", **m),
        ]
        for i, wire in enumerate(msgs):
            seeds.append(bytes((side | (i & 1) << 2, 0x20 | i)) + wire)
            seeds.append(bytes((side | 0x80, 7)) + wire)
        wire = serialize_frame(1, comp.compress(b"compressed text " * 8), rsv=0x40, **m)
        seeds.append(bytes((side | 2, 0x20)) + wire)
        seeds.append(bytes((side | 2 | 0x18, 3)) + wire)
    return seeds


ENGINE = [
    b"\x004hello\x1ebAQIDBA==",
    b"\x004test1\x1e4test2\x1e4test3",
    b"\x003",
    b"\x0c2probe\x1e5\x1e6",
    b"\x01d=4hello%5Cnworld&j=0",
    b"\x02\x01\x02\x03",
    b"\x034hello",
    b"\x0340{\"sid\":\"abc\"}",
]
SIO_JSON = [
    b'\x0a2["chat","hi"]',
    b'\x0a2/admin,13["chat","hi"]',
    b'\x0a51-["up",{"_placeholder":true,"num":0}]\xff\xfeB\x01\x02\x03',
    b'\x0a62-/x,7[{"_placeholder":true,"num":1},{"a":{"_placeholder":true,"num":0}}]\xff\xfeBab\xff\xfeBcd',
    b'\x0a0/admin,{"token":"123"}',
    b'\x0a0',
    b'\x0a1/admin,',
    b'\x0a4{"message":"no"}',
    b'\x0a31[1,2.5,null,true,{"k":[]}]',
    b'\x1a2[1e400,"\\u00e9\\ud83d\\ude00"]',
]


def _msgpack() -> list[bytes]:
    T, N, D, I = b"\xa4type", b"\xa3nsp", b"\xa4data", b"\xa2id"  # noqa: E741
    R = b"\xa1/"
    msgs = [
        b"\x82" + T + b"\x00" + N + R,
        b"\x83" + T + b"\x00" + N + b"\xa6/admin" + D + b"\x81\xa5token\xa3123",
        b"\x82" + T + b"\x01" + N + b"\xa6/admin",
        b"\x84" + T + b"\x02" + N + R + D + b"\x92\xa5hello\x01" + I + b"\x0c",
        b"\x84" + T + b"\x03" + N + R + D + b"\x90" + I + b"\xcf\x00\x00\x00\x01\x00\x00\x00\x00",
        b"\x83" + T + b"\x04" + N + R + D + b"\xa2no",
        b"\x84" + T + b"\x03" + N + R + D + b"\x91\xc4\x01\x03" + I + b"\x0f",
        b"\x83" + T + b"\x02" + N + R + D + b"\x92\xa1k\x81\x01\xa1a",
        b"\x83" + T + b"\x02" + N + R + D + b"\x93\xa1k\xd4\x00\x00\xd7\x00"
        + struct.pack(">q", 1234567),
        b"\x83" + T + b"\x02" + N + R + D + b"\x93\xa1k\xc7\x01\x00\x05\xd6\xff\x00\x00\x00\x01",
        b"\x83" + T + b"\x02" + N + R + D + b"\x92\xa1k\x81\x92\x01\x02\x01",
        b"\x85" + T + b"\x02" + D + b"\x92\xa4chat\xa2hi"
        + b"\xa7options\x81\xa8compress\xc3" + N + R,
        b"\x83\xc4\x04type\x02" + N + R + D + b"\x91\xa1e",
        b"\x83" + T + b"\xcb\x40\x00\x00\x00\x00\x00\x00\x00" + N + R + D
        + b"\x91\xca\x3f\x80\x00\x00",
    ]
    return [bytes((i % 2,)) + m for i, m in enumerate(msgs)]


def main() -> None:
    corpora = {
        "http": [b"\x00" + h for h in HEADS]
        + [b"\x02" + f for f in FIELDS]
        + [bytes((1 | i << 1, 20)) + c for i, c in enumerate(CHUNKED)],
        "ws": _ws_frames(),
        "engine": ENGINE,
        "sio_json": SIO_JSON,
        "sio_msgpack": _msgpack(),
    }
    for name, seeds in corpora.items():
        folder = HERE / "seeds" / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for i, seed in enumerate(seeds):
            (folder / f"{i:03d}").write_bytes(seed)
        print(f"{name}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
