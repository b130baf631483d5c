"""A cheap long-polling load client for benchmarks/polling.py: raw asyncio Protocols.

aiohttp's client spends ~180 µs of CPU per long-polling round trip, more than the servers
under test, so it saturated its own core first and every server measured the same
throughput. This client speaks just enough HTTP/1.1 and Engine.IO v4 to drive the echo
loop: each virtual client holds two keep-alive connections (one for POSTs, one for GETs, as
browsers do), sends prebuilt request bytes (only the ack id and Content-Length change) and
parses responses with a minimal reader (status line, Content-Length or chunked, body).

A virtual client opens with a handshake GET (the sid from ``0{"sid":...}``), POSTs ``40``
and GETs until ``40{...}`` arrives, then loops: POST ``42<id>["echo",{...}]``, GET until
``43<id>[...]`` arrives (a ``2`` ping is answered by a POST ``3``). The loop is a callback
state machine on the protocols, no task per request, to keep the client's cost low.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import cast

PAYLOAD = json.dumps({"seq": 1, "text": "x" * 80}, separators=(",", ":"))
ECHO_TAIL = b'["echo",' + PAYLOAD.encode() + b"]"  # after ``42<id>``
SEP = "\x1e"  # Engine.IO v4 joins the packets of a polling payload with a record separator

Handler = Callable[[int, bytes], None]


class HttpError(Exception):
    """A response the client cannot use (bad status, malformed framing, lost connection)."""


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request in flight at a time.

    ``request`` writes the bytes and calls ``handler(status, body)`` when the whole
    response has arrived; the handler may send the next request from inside the call.
    A lost connection or a malformed response answers status 0 with the reason as body.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.handler: Handler | None = None
        self.closed: bytes | None = None  # why, once the connection is gone

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not an asyncio.Transport subclass, only alike.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(f"connection lost: {exc}")

    def request(self, data: bytes, handler: Handler) -> None:
        assert self.transport is not None and self.handler is None
        if self.closed is not None:
            return handler(0, self.closed)
        self.handler = handler
        self.transport.write(data)

    def fail(self, why: str) -> None:
        if self.closed is None:
            self.closed = why.encode()
        if self.transport is not None:
            self.transport.close()
        handler, self.handler = self.handler, None
        if handler is not None:
            handler(0, self.closed)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while self.handler is not None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            # One lowercased copy of the head and two finds: cheaper than splitting lines.
            head = bytes(buf[:end]).lower()
            status_line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
            try:
                status = int(status_line.split(b" ", 2)[1])
            except (IndexError, ValueError):
                return self.fail(f"bad status line {status_line!r}")
            chunked = b"\r\ntransfer-encoding:" in head and b"chunked" in head
            length = -1
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                value_end = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : value_end if value_end >= 0 else len(head)])
            start = end + 4
            if chunked:
                parsed = read_chunked(buf, start)
                if parsed is None:
                    return
                body, used = parsed
            elif length >= 0:
                if len(buf) < start + length:
                    return
                body, used = bytes(buf[start : start + length]), start + length
            else:
                return self.fail("response has neither Content-Length nor chunked framing")
            del buf[:used]
            handler, self.handler = self.handler, None
            handler(status, body)


def read_chunked(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    """The body of a chunked message starting at ``pos`` and where it ends, or None."""
    parts: list[bytes] = []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", eol)
            if trailer_end < 0:
                return None
            return b"".join(parts), trailer_end + 4
        if len(buf) < eol + 2 + size + 2:
            return None
        parts.append(bytes(buf[eol + 2 : eol + 2 + size]))
        pos = eol + 2 + size + 2


class Counter:
    """Round trips completed by all virtual clients of one process."""

    def __init__(self) -> None:
        self.n = 0
        self.stop = False


class VirtualClient:
    """One Socket.IO client over Engine.IO long-polling, driving the echo loop."""

    def __init__(self, host: str, port: int, counter: Counter) -> None:
        self.host, self.port, self.counter = host, port, counter
        self.path = "/socket.io/?EIO=4&transport=polling"
        self.post_conn = self.get_conn = HttpConnection()  # replaced in open()
        self.post_head = b""
        self.get_req = b""
        self.ack_id = 0
        self.want = b""
        self.got_ack = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def connect(self) -> HttpConnection:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(HttpConnection, self.host, self.port)
        return proto

    async def call(self, conn: HttpConnection, data: bytes) -> bytes:
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        def on_response(status: int, body: bytes) -> None:
            if status != 200:
                fut.set_exception(HttpError(f"HTTP {status}: {body[:200]!r}"))
            else:
                fut.set_result(body)

        conn.request(data, on_response)
        return await fut

    def get_bytes(self, path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()

    def post_bytes(self, body: bytes) -> bytes:
        return self.post_head + b"%d\r\n\r\n" % len(body) + body

    async def open(self) -> None:
        """Handshake, then the Socket.IO connect; raises HttpError if the server refuses."""
        self.get_conn = await self.connect()
        self.post_conn = await self.connect()
        text = (await self.call(self.get_conn, self.get_bytes(self.path))).decode()
        first = text.split(SEP)[0]
        if not first.startswith("0"):
            raise HttpError(f"no open packet in the handshake: {text[:200]!r}")
        sid = json.loads(first[1:])["sid"]
        path = f"{self.path}&sid={sid}"
        self.get_req = self.get_bytes(path)
        self.post_head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: "
        ).encode()
        await self.call(self.post_conn, self.post_bytes(b"40"))
        while True:
            packets = (await self.call(self.get_conn, self.get_req)).split(b"\x1e")
            if b"2" in packets:
                await self.call(self.post_conn, self.post_bytes(b"3"))
            if any(p.startswith(b"40") for p in packets):
                return

    # The echo loop: callbacks only. send_echo -> on_posted -> on_polled (-> GET again,
    # or the pong POST -> on_ponged) -> send_echo ...

    def start(self) -> None:
        self.send_echo()

    def finish(self, why: str | None) -> None:
        if not self.done.done():
            if why is None or self.counter.stop:  # closing at the end loses requests
                self.done.set_result(None)
            else:
                self.done.set_exception(HttpError(why))

    def send_echo(self) -> None:
        if self.counter.stop:
            return self.finish(None)
        self.ack_id += 1
        ack = b"%d" % self.ack_id
        self.want = b"43" + ack + b"["
        self.got_ack = False
        body = b"42" + ack + ECHO_TAIL
        self.post_conn.request(self.post_bytes(body), self.on_posted)

    def on_posted(self, status: int, body: bytes) -> None:
        if status != 200:
            return self.finish(f"POST answered HTTP {status}: {body[:200]!r}")
        self.get_conn.request(self.get_req, self.on_polled)

    def on_polled(self, status: int, body: bytes) -> None:
        if status != 200:
            return self.finish(f"GET answered HTTP {status}: {body[:200]!r}")
        ping = False
        for packet in body.split(b"\x1e"):
            if packet.startswith(self.want):
                self.got_ack = True
            elif packet == b"2":
                ping = True
            elif packet == b"1":
                return self.finish("the server closed the session")
        if self.got_ack:
            self.counter.n += 1
        if ping:
            self.post_conn.request(self.post_bytes(b"3"), self.on_ponged)
        elif self.got_ack:
            self.send_echo()
        else:
            self.get_conn.request(self.get_req, self.on_polled)

    def on_ponged(self, status: int, body: bytes) -> None:
        if status != 200:
            return self.finish(f"pong POST answered HTTP {status}: {body[:200]!r}")
        if self.got_ack:
            self.send_echo()
        else:
            self.get_conn.request(self.get_req, self.on_polled)

    def close(self) -> None:
        for conn in (self.post_conn, self.get_conn):
            if conn.transport is not None:
                conn.transport.close()
