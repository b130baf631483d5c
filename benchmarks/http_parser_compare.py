"""rtio.http's hand parser next to httptools (llhttp, what uvicorn uses; aiohttp's own C
parser is llhttp too), in process, for the requests the Engine.IO path sees: a browser's
polling GET and POST (typical headers), one at a time and ten pipelined in one buffer.

Both sides produce what the front needs from a head: method, target, version, the
header fields (names lower-case, values as text), Content-Length / chunked / keep-alive,
and the query parsed. For httptools the fields arrive through Python callbacks (one per
field), as uvicorn's httptools protocol receives them; the RequestHead is then built from
them the same way. "cached" is the front's usual path: a polling client sends the same
head bytes again and again, and the connection keeps the last four parsed heads.

    .venv/bin/pip install httptools   # not a dependency of rtio
    .venv/bin/python benchmarks/http_parser_compare.py [--number N] [--vectors]

Prints CPU µs per request (best of 15 repeats of process time: the machine may be
shared); --vectors prints which parser refuses which malformed head. Not run by the tests.
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
from typing import Any

from rtio.http.parser import Headers, RequestHead, parse_head

GET = (
    b"GET /socket.io/?EIO=4&transport=polling&t=PcVw3xK&sid=ZUEfYg8hVj3WPDm0AAAB HTTP/1.1\r\n"
    b"Host: localhost:3000\r\n"
    b"Connection: keep-alive\r\n"
    b'sec-ch-ua: "Chromium";v="131", "Not_A Brand";v="24"\r\n'
    b"Accept: */*\r\n"
    b"sec-ch-ua-mobile: ?0\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/131.0.0.0 Safari/537.36\r\n"
    b'sec-ch-ua-platform: "Linux"\r\n'
    b"Origin: http://localhost:8080\r\n"
    b"Sec-Fetch-Site: same-site\r\n"
    b"Sec-Fetch-Mode: cors\r\n"
    b"Sec-Fetch-Dest: empty\r\n"
    b"Referer: http://localhost:8080/\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\n"
    b"Cookie: io=ZUEfYg8hVj3WPDm0AAAB\r\n"
    b"\r\n"
)
_BODY = b'42["echo","hello"]'
POST = (
    b"POST /socket.io/?EIO=4&transport=polling&t=PcVw3y1&sid=ZUEfYg8hVj3WPDm0AAAB HTTP/1.1\r\n"
    b"Host: localhost:3000\r\n"
    b"Connection: keep-alive\r\n"
    b"Content-Length: %d\r\n"
    b"Content-type: text/plain;charset=UTF-8\r\n"
    b"Accept: */*\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/131.0.0.0 Safari/537.36\r\n"
    b"Origin: http://localhost:8080\r\n"
    b"Referer: http://localhost:8080/\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\n"
    b"\r\n%s"
) % (len(_BODY), _BODY)
# node's socket.io-client (engine.io-client over Node's http): few headers
NODE_GET = (
    b"GET /socket.io/?EIO=4&transport=polling&t=PcVw3xK&sid=ZUEfYg8hVj3WPDm0AAAB HTTP/1.1\r\n"
    b"Accept: */*\r\nHost: localhost:3000\r\nConnection: keep-alive\r\n\r\n"
)
PIPELINED = (GET + POST) * 5


def rtio_requests(data: bytes, heads: dict[bytes, RequestHead] | None) -> int:
    """What FrontProtocol._process and read_body do with a buffer: find each head, parse
    it (or find it among the connection's recent heads), take the Content-Length body."""
    pos, count = 0, 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        raw = data[pos:end]
        head = heads.get(raw) if heads is not None else None
        if head is None:
            head = parse_head(raw)
            if heads is not None:
                heads[raw] = head
        head.query  # noqa: B018 (the engine reads it on every request)
        pos = end + 4 + (head.content_length or 0)
        count += 1
    return count


class _Collect:
    """httptools' callbacks, as uvicorn's protocol has them: collect the URL and fields,
    build the head when they are complete."""

    __slots__ = ("body", "count", "headers", "parser", "url")

    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.count = 0

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        parser = self.parser
        headers = Headers(self.headers)
        length = headers.get("content-length")
        head = RequestHead(
            parser.get_method().decode("ascii"),
            self.url.decode("ascii"),
            "HTTP/" + parser.get_http_version(),
            headers,
            content_length=int(length) if length is not None else None,
            chunked="chunked" in (headers.get("transfer-encoding") or ""),
            keep_alive=parser.should_keep_alive(),
            expect_continue=headers.get("expect") == "100-continue",
        )
        head.query  # noqa: B018

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.count += 1


def httptools_requests(collect: _Collect, data: bytes) -> int:
    collect.count = 0
    collect.parser.feed_data(data)
    return collect.count


def bench(label: str, data: bytes, number: int) -> dict[str, Any]:
    n = rtio_requests(data, None)
    collect = _Collect()
    assert httptools_requests(collect, data) == n
    heads: dict[bytes, RequestHead] = {}
    row: dict[str, Any] = {"case": label, "requests": n}
    for name, call in (
        ("rtio", lambda: rtio_requests(data, None)),
        ("rtio cached", lambda: rtio_requests(data, heads)),
        ("httptools", lambda: httptools_requests(collect, data)),
    ):
        best = min(timeit.repeat(call, number=number, repeat=15, timer=time.process_time))
        row[name] = best / number / n * 1e6
    return row


#: heads that a strict server refuses (issue 12, defect 9 and the classic smuggling
#: vectors): which parser refuses which, with --vectors
VECTORS = [
    ("duplicate Host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("invalid Host 'a b'", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
    ("missing Host (1.1)", b"GET / HTTP/1.1\r\nX: y\r\n\r\n"),
    ("0x01 in a value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n"),
    ("0x7f in a value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n"),
    ("NUL in a value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n"),
    ("bare CR in a value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"),
    ("bare LF line end", b"GET / HTTP/1.1\nHost: a\n\n"),
    ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n"),
    (
        "CL + TE",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "two different CL",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    ),
    ("CL '+1'", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\na"),
    (
        "CL of 5,000 digits",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
    ),
    (
        "TE 'chunked, gzip'",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    ),
    (
        "bare CR in a chunk ext",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"
        b"\r\n\r\n2;a\rb\r\nab\r\n0\r\n\r\n",
    ),
    (
        "chunk size 2^60",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\nab",
    ),
]


def rtio_refuses(data: bytes) -> str:
    from rtio.http.parser import BadRequest, ChunkedDecoder

    end = data.find(b"\r\n\r\n")
    if end < 0:
        return "no head end"
    try:
        head = parse_head(data[:end])
        if head.chunked:
            ChunkedDecoder(1 << 62).feed(data[end + 4 :])
    except BadRequest as exc:
        return f"{exc.status} {exc.reason}"
    return "accepted"


def httptools_refuses(data: bytes) -> str:
    import httptools

    collect = _Collect()
    try:
        collect.parser.feed_data(data)
    except httptools.HttpParserError as exc:
        return f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a callback's own error (the Headers/RequestHead build)
        return f"callback {type(exc).__name__}: {str(exc)[:40]}"
    return "accepted"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=1000)
    parser.add_argument("--vectors", action="store_true", help="which refuses which head")
    args = parser.parse_args()
    import httptools

    if args.vectors:
        for label, data in VECTORS:
            print(
                f"{label:<24} rtio: {rtio_refuses(data)[:44]:<46} "
                f"httptools: {httptools_refuses(data)[:60]}"
            )
        return

    print(f"Python {sys.version.split()[0]}, httptools {httptools.__version__}")
    print(f"{'case':<28}{'rtio':>10}{'rtio cached':>14}{'httptools':>12}  (µs / request)")
    for label, data in (
        ("browser GET", GET),
        ("browser POST (18 B body)", POST),
        ("node client GET", NODE_GET),
        ("10 pipelined (GET, POST)", PIPELINED),
    ):
        row = bench(label, data, args.number)
        print(
            f"{row['case']:<28}{row['rtio']:>10.2f}{row['rtio cached']:>14.2f}"
            f"{row['httptools']:>12.2f}"
        )


if __name__ == "__main__":
    main()
