"""A cheap HTTP/1.1 client for the polling load: rtio.client's HttpFetcher on raw asyncio
connections, kept alive and shared by every polling client of a run.

aiohttp's client costs a few hundred µs of CPU per long-polling round trip (more than the
servers it loads); this one writes one request's bytes and parses the response with a
small reader: the status line, the headers it needs (Content-Length, Transfer-Encoding:
chunked, Connection: close), then the body. One request at a time per connection; idle
connections wait in a pool (at most ``max_idle``) for the next request to the same
server. ``http://`` only (the CLI uses aiohttp's client for https).

Errors: every failure is a TransportError (its ``__cause__`` the OSError or the timeout),
as the HttpFetcher contract says; a connection that failed or answered out of line is
closed, never reused. Every request has its timeout.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Mapping

from rtio.client import TransportError

__all__ = ["RawHttpFetcher", "ResponseReader"]

_MAX_HEAD = 16 * 1024


class ResponseReader:
    """Parses one HTTP/1.1 response from the bytes fed to it (sans-I/O).

    ``feed(data)`` returns True once the response is complete; then ``status``, ``body``
    and ``keep_alive`` are set. Raises ValueError for a malformed response or one larger
    than ``max_size``; ``eof()`` ends a response delimited by the connection's close.
    """

    __slots__ = (
        "_buffer",
        "_chunked",
        "_chunks",
        "_head_done",
        "_length",
        "_max_size",
        "body",
        "done",
        "keep_alive",
        "status",
    )

    def __init__(self, max_size: int) -> None:
        self._buffer = bytearray()
        self._max_size = max_size
        self._head_done = False
        self._length: int | None = None
        self._chunked = False
        self._chunks = bytearray()
        self.status = 0
        self.body = b""
        self.keep_alive = True
        self.done = False

    def feed(self, data: bytes) -> bool:
        self._buffer += data
        if not self._head_done:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > _MAX_HEAD:
                    raise ValueError("response head too long")
                return False
            self._parse_head(bytes(self._buffer[:end]).decode("latin-1"))
            del self._buffer[: end + 4]
            self._head_done = True
        if self._chunked:
            return self._feed_chunked()
        if self._length is not None:
            if len(self._buffer) >= self._length:
                if len(self._buffer) > self._length:
                    raise ValueError("bytes after the response")
                return self._finish(bytes(self._buffer))
            return False
        if len(self._buffer) > self._max_size:
            raise ValueError(f"response larger than {self._max_size} bytes")
        return False  # delimited by the close: eof() ends it

    def eof(self) -> bool:
        """The connection closed: a close-delimited response is complete."""
        if self._head_done and self._length is None and not self._chunked:
            self.keep_alive = False
            return self._finish(bytes(self._buffer))
        return False

    def _parse_head(self, head: str) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ValueError(f"bad status line {lines[0][:80]!r}")
        self.status = int(parts[1])
        self.keep_alive = parts[0] == "HTTP/1.1"
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"bad header line {line[:80]!r}")
            name = name.strip().lower()
            value = value.strip()
            if name == "content-length":
                if not value.isdigit():
                    raise ValueError("bad Content-Length")
                self._length = int(value)
                if self._length > self._max_size:
                    raise ValueError(f"response larger than {self._max_size} bytes")
            elif name == "transfer-encoding":
                self._chunked = value.lower().endswith("chunked")
            elif name == "connection":
                tokens = {t.strip().lower() for t in value.split(",")}
                if "close" in tokens:
                    self.keep_alive = False
                elif "keep-alive" in tokens:
                    self.keep_alive = True
        if self.status in (204, 304) or 100 <= self.status < 200:
            self._length = 0

    def _feed_chunked(self) -> bool:
        buffer = self._buffer
        while True:
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                return False
            size_text = bytes(buffer[:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ValueError("bad chunk size") from None
            if size == 0:  # the last chunk: then trailers (ignored) and an empty line
                if buffer.find(b"\r\n\r\n", line_end) < 0:
                    return False
                return self._finish(bytes(self._chunks))
            if len(buffer) < line_end + 2 + size + 2:
                return False
            self._chunks += buffer[line_end + 2 : line_end + 2 + size]
            if len(self._chunks) > self._max_size:
                raise ValueError(f"response larger than {self._max_size} bytes")
            del buffer[: line_end + 2 + size + 2]

    def _finish(self, body: bytes) -> bool:
        self.body = body
        self.done = True
        return True


class _Connection(asyncio.Protocol):
    __slots__ = ("_reader", "_waiter", "closed", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._reader: ResponseReader | None = None
        self._waiter: asyncio.Future[ResponseReader] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        reader, waiter = self._reader, self._waiter
        if reader is None or waiter is None or waiter.done():
            self.close()  # bytes nobody asked for: this connection is out of line
            return
        try:
            if reader.feed(data):
                self._reader = None
                waiter.set_result(reader)
        except ValueError as exc:
            waiter.set_exception(TransportError(f"bad response: {exc}"))
            self.close()

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        reader, waiter = self._reader, self._waiter
        if reader is not None and waiter is not None and not waiter.done():
            if reader.eof():
                waiter.set_result(reader)
            else:
                waiter.set_exception(TransportError("the connection closed mid-response"))

    def exchange(self, request: bytes, max_size: int) -> asyncio.Future[ResponseReader]:
        assert self.transport is not None
        self._reader = ResponseReader(max_size)
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class RawHttpFetcher:
    """rtio.client's HttpFetcher for ``http://`` URLs on pooled keep-alive connections."""

    def __init__(self, max_idle: int = 10_000) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._all: set[_Connection] = set()
        self.max_idle = max_idle

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
        max_size: int,
    ) -> tuple[int, bytes]:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise TransportError(f"not an http:// URL: {url!r}")
        host, port = parts.hostname, parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        if body is not None or method == "POST":
            lines.append(f"Content-Length: {len(body or b'')}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        try:
            return await asyncio.wait_for(
                self._exchange((host, port), request, max_size), timeout
            )
        except TransportError:
            raise
        except (OSError, asyncio.TimeoutError) as exc:
            raise TransportError(f"{method} failed: {exc!r}") from exc

    async def _exchange(
        self, key: tuple[str, int], request: bytes, max_size: int
    ) -> tuple[int, bytes]:
        pool = self._idle.get(key)
        conn = None
        while pool:
            candidate = pool.pop()
            if not candidate.closed:
                conn = candidate
                break
        if conn is None:
            loop = asyncio.get_running_loop()
            _, conn = await loop.create_connection(_Connection, key[0], key[1])
            self._all.add(conn)
        try:
            reader = await conn.exchange(request, max_size)
        except BaseException:
            conn.close()
            self._all.discard(conn)
            raise
        if reader.keep_alive and not conn.closed:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.max_idle:
                idle.append(conn)
                return reader.status, reader.body
        conn.close()
        self._all.discard(conn)
        return reader.status, reader.body

    async def close(self) -> None:
        """Per client: nothing (the pool is shared); see :meth:`shutdown`."""

    async def shutdown(self) -> None:
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()
