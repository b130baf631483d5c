"""Sans-I/O HTTP/1.1 request parsing (RFC 9112): the request head and chunked bodies.

Pure functions over bytes, no asyncio: ``parse_head`` turns one complete head (everything
before the blank line) into a ``RequestHead``; ``decode_chunked`` decodes a chunked body
from a buffer once it is complete. Every violation raises ``BadRequest`` carrying the
status and the reason to answer with. Knows nothing of connections (protocol.py) nor of
what a request is for.

The head on the wire::

    request-line = method SP request-target SP HTTP-version CRLF
    *( field-name ":" OWS field-value OWS CRLF )
    CRLF

A chunked body::

    *( chunk-size [ ";" ext ] CRLF  chunk-data CRLF )
    "0" [ ";" ext ] CRLF  *( trailer-field CRLF )  CRLF
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from urllib.parse import unquote_plus

__all__ = [
    "MAX_HEAD",
    "BadRequest",
    "BodyTooLarge",
    "ChunkedDecoder",
    "Headers",
    "HttpError",
    "RequestHead",
    "decode_chunked",
    "parse_head",
    "parse_query",
]

#: the largest request head accepted (request line and header fields), in bytes
MAX_HEAD = 8192
#: the longest chunk-size line (with extensions) and trailer section of a chunked body
MAX_CHUNK_LINE = 1024
MAX_TRAILERS = 8192

# RFC 9110 5.6.2: token = 1*tchar
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 5.5: field-value = *field-content, field-vchar = VCHAR / obs-text, with SP and
# HTAB inside: any other control character (CR and LF are counted apart) is refused
_CTL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# RFC 9112 3.2 / RFC 3986 3.2.2: Host = uri-host [ ":" port ]; uri-host is an IP-literal
# in brackets or a reg-name (unreserved / pct-encoded / sub-delims), possibly empty
_HOST = re.compile(r"(?:\[[0-9A-Za-z:.]+\]|[0-9A-Za-z\-._~%!$&'()*+,;=]*)(?::[0-9]*)?")
# RFC 9112 7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ),
# names are tokens, values tokens or quoted strings: no control character but HTAB
_CHUNK_CTL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# The two bounds below are fixed protocol bounds, not options: each is far past any body
# limit (the handler's ``read_body(limit)`` is the size a deployer tunes) and only keeps
# a peer's number inside a machine integer before that limit is compared with it.
#: the longest Content-Length accepted, in digits (10^18 bytes, below 2^63)
_MAX_LENGTH_DIGITS = 18
_VERSION = re.compile(r"HTTP/[0-9]\.[0-9]")
#: a chunk size: at most 15 hex digits (below 2^60)
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")


class HttpError(Exception):
    """Root of rtio.http's errors.

    HttpError
     └── BadRequest     the peer's request is malformed or over a limit (has the status)
    """


class BadRequest(HttpError):
    """A remote violation: answer ``status`` with ``reason``, then close the connection."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class Headers(Mapping[str, str]):
    """The header fields of a request: case-insensitive lookup of the first value of each
    name. ``raw`` gives every field (name, value) in order; only a head with a repeated
    name keeps its fields as received (a session holds its handshake's headers: the
    common case keeps one dict, lower-case names)."""

    __slots__ = ("_first", "_raw")

    def __init__(self, raw: list[tuple[str, str]], first: dict[str, str] | None = None) -> None:
        if first is not None:
            # (parse_head built the first values as it went, names lower-case and shared,
            # and gives every field only when a name repeats)
            self._first = first
            self._raw = raw or None
            return
        first = {}
        known = _KNOWN
        for name, value in raw:
            # shared, not interned: every session's handshake headers use one "host",
            # "upgrade", "websocket"... (a session holds its handshake's headers), found in
            # a fixed table. Never sys.intern what a client chose: interned strings are
            # immortal on CPython 3.12 (issue 12, defect 2)
            if len(value) <= 16:
                value = known.get(value, value)
            lname = name.lower()
            first.setdefault(_KNOWN_NAMES.get(lname, lname), value)
        self._first = first
        self._raw = raw if len(first) != len(raw) else None

    @property
    def raw(self) -> list[tuple[str, str]]:
        """Every field, in order (names lower-case unless a name was repeated)."""
        return self._raw if self._raw is not None else list(self._first.items())

    def __getitem__(self, name: str) -> str:
        return self._first[name.lower()]

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self._first.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def getall(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
        lname = name.lower()
        if self._raw is None:
            value = self._first.get(lname)
            return [] if value is None else [value]
        return [value for key, value in self._raw if key.lower() == lname]

    def __repr__(self) -> str:
        return f"Headers({self.raw!r})"


def parse_query(query_string: str) -> dict[str, str]:
    """The first value of each parameter of an urlencoded query, percent-decoded ('+' is a
    space, as in forms and aiohttp's ``request.query``)."""
    result: dict[str, str] = {}
    if not query_string:
        return result
    for field in query_string.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        # the common Engine.IO query (EIO=4&transport=polling&sid=...) needs no decoding
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        # shared from a fixed table, never interned (see Headers): every session's query
        # uses one "EIO", "transport", "websocket"...
        known = _KNOWN
        result.setdefault(known.get(name, name), known.get(value, value))
    return result


#: the strings a session keeps from its handshake that many sessions have in common:
#: parsed copies are swapped for these (fixed sets: what a client makes up stays its own
#: and is freed with the request). Header names, lower-case (each a valid token: a name
#: found here needs no further check)
_KNOWN_NAMES: dict[str, str] = {
    s: s
    for s in (
        # header names (lower-case)
        "host",
        "connection",
        "upgrade",
        "origin",
        "user-agent",
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "pragma",
        "cookie",
        "referer",
        "content-type",
        "content-length",
        "transfer-encoding",
        "expect",
        "authorization",
        "dnt",
        "priority",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "sec-fetch-dest",
        "sec-fetch-mode",
        "sec-fetch-site",
        "sec-ch-ua",
        "sec-ch-ua-mobile",
        "sec-ch-ua-platform",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-real-ip",
    )
}
#: header values, query names and values
_KNOWN: dict[str, str] = {
    s: s
    for s in (
        # header values
        "websocket",
        "Upgrade",
        "upgrade",
        "keep-alive",
        "Keep-Alive",
        "close",
        "13",
        "*/*",
        "no-cache",
        "gzip, deflate",
        "gzip, deflate, br",
        "empty",
        "cors",
        "same-origin",
        "same-site",
        "cross-site",
        "?0",
        "?1",
        "text/plain;charset=UTF-8",
        "text/plain; charset=UTF-8",
        "node",
        "http",
        "https",
        # query names and values (Engine.IO)
        "EIO",
        "transport",
        "sid",
        "t",
        "b64",
        "j",
        "polling",
        "4",
        "3",
        "1",
    )
}


class RequestHead:
    """One parsed request head. Read-only once parsed: a connection reuses it for the same
    head bytes (a polling client sends the same GET again and again)."""

    __slots__ = (
        "_content_type",
        "_query",
        "chunked",
        "content_length",
        "expect_continue",
        "head_only",
        "headers",
        "http10",
        "keep_alive",
        "method",
        "path",
        "query_string",
        "target",
        "version",
    )

    def __init__(
        self,
        method: str,
        target: str,
        version: str,
        headers: Headers,
        *,
        content_length: int | None,
        chunked: bool,
        keep_alive: bool,
        expect_continue: bool,
    ) -> None:
        self.method = method
        self.target = target
        #: "HTTP/1.1" or "HTTP/1.0"
        self.version = version
        self.headers = headers
        path, _, query = target.partition("?")
        #: the path of an origin-form target ('' for any other form: "*", absolute-form)
        self.path = path if target.startswith("/") else ""
        self.query_string = query
        self.content_length = content_length
        self.chunked = chunked
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        #: what the response depends on: HTTP/1.0, a HEAD (no body sent)
        self.http10 = version == "HTTP/1.0"
        self.head_only = method == "HEAD"
        self._query: Mapping[str, str] | None = None
        self._content_type: str | None = None

    @property
    def content_type(self) -> str:
        """The media type of Content-Type, lower-case, without parameters ('' if none);
        found on first use."""
        value = self._content_type
        if value is None:
            header = self.headers.get("Content-Type")
            value = header.partition(";")[0].strip().lower() if header else ""
            self._content_type = value
        return value

    @property
    def query(self) -> Mapping[str, str]:
        """The query parameters (parse_query), parsed on first use, read-only."""
        query = self._query
        if query is None:
            query = self._query = MappingProxyType(parse_query(self.query_string))
        return query

    def __repr__(self) -> str:
        return f"<RequestHead {self.method} {self.target} {self.version}>"


def parse_head(head: bytes, max_head: int = MAX_HEAD) -> RequestHead:
    """Parse a request head: the bytes before the blank line that ends it (without that
    CRLF CRLF), at most ``max_head`` of them. Raises BadRequest (400, 431, 501 or 505)."""
    if len(head) > max_head:
        raise BadRequest("request head too large", 431)
    # latin-1: every byte maps to one character (RFC 9110 5.5: field values are octets);
    # the checks below keep what is not text out.
    text = head.decode("latin-1")
    # the usual head is printable ASCII but for its CRLFs: one fast check for it; else
    # find what is wrong (HTAB and obs-text are allowed in field values)
    if not text.replace("\r\n", "").isprintable():
        crlf = text.count("\r\n")
        if text.count("\r") != crlf or text.count("\n") != crlf:
            raise BadRequest("bare CR or LF in the request head")
        if _CTL.search(text) is not None:
            # (issue 12, defect 9: 0x01 and 0x7f in a value were accepted)
            raise BadRequest("control character (NUL, DEL...) in the request head")
    request_line, _, rest = text.partition("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3:
        raise BadRequest("malformed request line")
    method, target, version = parts
    if not _TOKEN.fullmatch(method):
        raise BadRequest("malformed method")
    if not target or not target.isprintable() or not target.isascii():
        raise BadRequest("malformed request target")
    if version != "HTTP/1.1" and version != "HTTP/1.0":
        if _VERSION.fullmatch(version):
            raise BadRequest("HTTP version not supported", 505)
        raise BadRequest("malformed HTTP version")
    content_length: int | None = None
    chunked = False
    connection: list[str] = []
    expect_continue = False
    has_host = False
    raw: list[tuple[str, str]] | None = None
    first: dict[str, str] = {}
    known_names = _KNOWN_NAMES
    known = _KNOWN
    framing = _FRAMING
    for line in rest.split("\r\n") if rest else ():
        name, colon, value = line.partition(":")
        if not colon:
            raise BadRequest("header line without a colon")
        lname = name.lower()
        # shared, not interned: every session's handshake headers use one "host",
        # "upgrade", "websocket"... (a session holds its handshake's headers), found in a
        # fixed table. Never sys.intern what a client chose: interned strings are
        # immortal on CPython 3.12 (issue 12, defect 2)
        shared = known_names.get(lname)
        if shared is not None:
            lname = shared  # a known name is a token
        # RFC 9112 5.1: "No whitespace is allowed between the field name and colon";
        # 5.2: obs-fold (a line starting with whitespace) is rejected, not unfolded
        elif not _TOKEN.fullmatch(name):
            raise BadRequest(f"malformed header name {name[:40]!r}")
        value = value.strip(" \t")
        if lname not in first:
            first[lname] = known.get(value, value) if len(value) <= 16 else value
        elif raw is None:
            # a repeated name: every field is kept as received (Headers.raw)
            raw = _fields(rest)
        if lname not in framing:
            continue
        if lname == "content-length":
            if not (value.isascii() and value.isdigit()):
                raise BadRequest("malformed Content-Length")
            if len(value) > _MAX_LENGTH_DIGITS:
                # (also: int() of a 5,000-digit string raises ValueError)
                raise BadRequest("Content-Length too large")
            length = int(value)
            if content_length is not None and content_length != length:
                raise BadRequest("conflicting Content-Length values")
            content_length = length
        elif lname == "transfer-encoding":
            codings = [c.strip(" \t").lower() for c in value.split(",")]
            # RFC 9112 6.1: chunked must be the final coding; no other coding is known here
            if codings != ["chunked"] or chunked:
                raise BadRequest("unsupported Transfer-Encoding", 501)
            chunked = True
        elif lname == "connection":
            connection.extend(t.strip(" \t").lower() for t in value.split(","))
        elif lname == "expect":
            if value.lower() != "100-continue":
                raise BadRequest("unsupported expectation", 417)
            expect_continue = True
        else:  # host
            # RFC 9112 3.2: "A server MUST respond with a 400 (Bad Request) status code to
            # any HTTP/1.1 request message that lacks a Host header field and to any
            # request message that contains more than one Host header field line or a
            # Host header field with an invalid field value."
            if has_host:
                raise BadRequest("more than one Host header")
            if not _HOST.fullmatch(value):
                raise BadRequest("invalid Host header")
            has_host = True
    if chunked:
        # RFC 9112 6.1: "A server MAY reject a request that contains both Content-Length
        # and Transfer-Encoding" (a smuggling vector): rejected
        if content_length is not None:
            raise BadRequest("both Content-Length and Transfer-Encoding")
        if version == "HTTP/1.0":
            raise BadRequest("Transfer-Encoding in an HTTP/1.0 request")
    if version == "HTTP/1.1":
        # RFC 9112 3.2: "A server MUST respond with a 400 ... to any HTTP/1.1 request
        # message that lacks a Host header field"
        if not has_host:
            raise BadRequest("missing Host header")
        keep_alive = "close" not in connection
    else:
        keep_alive = "keep-alive" in connection and "close" not in connection
    return RequestHead(
        method,
        target,
        version,
        Headers(raw if raw is not None else [], first),
        content_length=content_length,
        chunked=chunked,
        keep_alive=keep_alive,
        expect_continue=expect_continue,
    )


def _fields(rest: str) -> list[tuple[str, str]]:
    """Every field of a head's field lines (checked already), as received."""
    fields = []
    for line in rest.split("\r\n"):
        name, _, value = line.partition(":")
        fields.append((name, value.strip(" \t")))
    return fields


#: the fields that frame the request (looked at as they are parsed)
_FRAMING = frozenset(("content-length", "transfer-encoding", "connection", "expect", "host"))


def decode_chunked(buffer: bytes | bytearray, start: int, limit: int) -> tuple[bytes, int] | None:
    """Decode the chunked body that starts at ``buffer[start]`` in one go: (body, index
    just past its end), or None while it is incomplete (ChunkedDecoder does it piece by
    piece)."""
    decoder = ChunkedDecoder(limit)
    end = decoder.feed(bytes(buffer[start:]))
    return None if end is None else (decoder.body(), start + end)


_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class ChunkedDecoder:
    """A chunked body, decoded as its bytes arrive (each byte looked at once, whatever the
    pieces). ``feed`` raises BadRequest when malformed and ``BodyTooLarge`` (413) as soon
    as the sizes announced pass ``limit``, before the data arrives."""

    __slots__ = (
        "_chunks",
        "_line",
        "_need",
        "_size",
        "_state",
        "_trailers",
        "limit",
        "max_line",
        "max_trailers",
    )

    def __init__(
        self, limit: int, max_line: int = MAX_CHUNK_LINE, max_trailers: int = MAX_TRAILERS
    ) -> None:
        self.limit = limit
        #: the longest chunk-size line (with its extensions), without its CRLF
        self.max_line = max_line
        #: the largest trailer section
        self.max_trailers = max_trailers
        self._chunks: list[bytes] = []
        self._size = 0
        self._state = _SIZE
        #: the start of a line (chunk size, CRLF after data, trailer) cut by a piece's end
        self._line = b""
        #: bytes of the current chunk's data still to come
        self._need = 0
        self._trailers = 0

    def body(self) -> bytes:
        return b"".join(self._chunks)

    def feed(self, data: bytes) -> int | None:
        """Consume ``data``: the index in it just past the body's end once the body is
        complete (what follows belongs to the next request), else None."""
        if self._state == _DONE:
            raise RuntimeError("the body is complete")
        pos = 0
        while True:
            if self._state == _DATA:
                take = min(self._need, len(data) - pos)
                if take:
                    self._chunks.append(data[pos : pos + take])
                    pos += take
                    self._need -= take
                if self._need:
                    return None
                self._state = _DATA_END
            eol = data.find(b"\n", pos)
            if eol < 0:
                self._line += data[pos:]
                self._check_line(len(self._line))
                return None
            line = self._line + data[pos : eol + 1]
            self._line = b""
            pos = eol + 1
            self._check_line(len(line))
            if not line.endswith(b"\r\n"):
                raise BadRequest("bare LF in a chunked body")
            line = line[:-2]
            # RFC 9112 7.1.1: no CR (nor other control character) in a chunk-size line or
            # a trailer; a bare CR is a smuggling vector behind a proxy that splits on it
            # (issue 12, defect 9)
            if _CHUNK_CTL.search(line) is not None:
                raise BadRequest("control character in a chunked body's line")
            if self._state == _SIZE:
                hex_size = line.split(b";", 1)[0].rstrip(b" \t")
                if not _HEX.fullmatch(hex_size):
                    raise BadRequest("malformed chunk size")
                size = int(hex_size, 16)
                if size == 0:
                    self._state = _TRAILER
                    continue
                self._size += size
                if self._size > self.limit:
                    raise BodyTooLarge(self._size, self.limit)
                self._need = size
                self._state = _DATA
            elif self._state == _DATA_END:
                if line:
                    raise BadRequest("chunk data not followed by CRLF")
                self._state = _SIZE
            elif line:  # a trailer field: ignored (nothing here needs one)
                self._trailers += len(line) + 2
            else:
                self._state = _DONE
                return pos

    def _check_line(self, length: int) -> None:
        if self._state == _TRAILER:
            if self._trailers + length > self.max_trailers:
                raise BadRequest("chunked trailers too large")
        elif length > self.max_line + 2:
            if self._state == _SIZE:
                raise BadRequest("chunk-size line too long")
            raise BadRequest("chunk data not followed by CRLF")


class BodyTooLarge(BadRequest):
    """A body larger than the limit its reader set (413)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"body of {size} bytes over the limit of {limit}", 413)
        self.size = size
        self.limit = limit
