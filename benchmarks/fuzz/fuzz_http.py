"""Fuzz target 1: rtio/http/parser.py, the request head and the chunked body.

Input: one mode byte, then the bytes under test.
  mode & 3 == 0: a request head (what precedes CRLF CRLF) -> parse_head, then every lazy
                 property (query, content_type, headers lookups).
  mode & 3 == 2: one header field of a fixed POST head: name NAMES[b1 % 8], value the rest
                 repeated 2 ** (b2 % 14) times (long values are rare under plain mutation).
  mode & 1 == 1: a chunked body -> ChunkedDecoder fed in pieces of (mode >> 1) % 16 + 1
                 bytes, with a limit from the next byte; checked against decode_chunked in
                 one go (same body, same end, same verdict).
Only BadRequest (rtio.http's HttpError) may be raised.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["rtio"]):
    from rtio.http.parser import ChunkedDecoder, HttpError, decode_chunked, parse_head

from _harness import Finding, run


def _head(data: bytes) -> None:
    head = parse_head(data)
    dict(head.query)
    _ = head.content_type, head.path, head.keep_alive, head.http10, head.head_only
    for name in list(head.headers):
        head.headers.getall(name)
        head.headers.get(name.upper())
    head.headers.raw  # noqa: B018


def _chunked(mode: int, data: bytes) -> None:
    if not data:
        return
    limit = (1 << (data[0] % 24)) - 1
    body = data[1:]
    step = (mode >> 1) % 16 + 1
    try:
        whole = decode_chunked(body, 0, limit)
        whole_err = None
    except HttpError as exc:
        whole, whole_err = None, exc
    decoder = ChunkedDecoder(limit)
    end = None
    err = None
    try:
        for pos in range(0, len(body), step):
            piece = body[pos : pos + step]
            got = decoder.feed(piece)
            if got is not None:
                end = pos + got
                break
    except HttpError as exc:
        err = exc
    if (err is None) != (whole_err is None):
        raise Finding(f"piecewise {err!r} != whole {whole_err!r}")
    if err is not None:
        if type(err) is not type(whole_err) and whole_err is not None:
            raise Finding(f"piecewise {err!r} != whole {whole_err!r}")
        return
    piecewise = None if end is None else (decoder.body(), end)
    if piecewise != whole:
        raise Finding(f"piecewise {piecewise!r} != whole {whole!r}")
    if whole is not None and len(whole[0]) > limit:
        raise Finding("body over the limit")


_NAMES = (
    b"Content-Length", b"Transfer-Encoding", b"Host", b"Connection", b"Expect",
    b"Content-Type", b"X-Any", b"Cookie",
)
_PREFIX = b"POST /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\n"


def one_input(data: bytes) -> None:
    if not data:
        return
    mode = data[0]
    if mode & 3 == 0:
        _head(data[1:])
    elif mode & 3 == 2:
        if len(data) < 3:
            return
        value = (data[3:] * (1 << (data[2] % 14)))[:9000]
        _head(_PREFIX + _NAMES[data[1] % 8] + b": " + value)
    else:
        _chunked(mode, data[1:])


if __name__ == "__main__":
    sys.setrecursionlimit(1000)
    run("http", one_input, (HttpError,))
