"""The opening handshake (RFC 6455 section 4), both roles: validate a client's request and
build the 101 answer; build a client's request and check the server's answer.

Sans-I/O: headers go in as (name, value) pairs, decisions come out; a refusal is a
HandshakeRefused carrying the HTTP status, a short reason and extra headers. For the client
it also writes the request bytes and parses the response head (the server side leaves HTTP
parsing to aiohttp). Knows nothing of aiohttp or sockets; the 16 random bytes of a client
key are the caller's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from .deflate import (
    EXTENSION_NAME,
    DeflateOptions,
    DeflateParams,
    client_accept,
    client_offer,
    parse_extensions,
    server_negotiate,
)
from .errors import HandshakeRefused, InvalidHandshakeResponse

__all__ = [
    "GUID",
    "HandshakeResponse",
    "ServerAccept",
    "accept_key",
    "check_response",
    "client_request_headers",
    "generate_key",
    "parse_response",
    "serialize_request",
    "server_handshake",
]

# 1.3: the globally unique identifier concatenated with the key
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

Headers = Iterable[tuple[str, str]]


class ServerAccept(NamedTuple):
    """A validated request: the 101 response headers and what was agreed."""

    headers: list[tuple[str, str]]
    subprotocol: str | None
    deflate: DeflateParams | None


def accept_key(key: str) -> str:
    # 4.2.2: "concatenate this with the Globally Unique Identifier ... take the SHA-1 hash
    # of this concatenated value to obtain a 20-byte value and base64-encode (see Section 4
    # of [RFC4648]) this 20-byte hash."
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def generate_key(random16: bytes) -> str:
    """A Sec-WebSocket-Key from 16 random bytes (4.1: "a nonce consisting of a randomly
    selected 16-byte value that has been base64-encoded")."""
    if len(random16) != 16:
        raise ValueError("a WebSocket key is made of 16 bytes")
    return base64.b64encode(random16).decode()


def _collect(headers: Headers) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for name, value in headers:
        table.setdefault(name.lower(), []).append(value)
    return table


def _tokens(values: list[str]) -> list[str]:
    """The comma-separated list elements of every value, stripped and lower-cased."""
    return [t.strip().lower() for v in values for t in v.split(",") if t.strip()]


def _valid_key(values: list[str]) -> str | None:
    if len(values) != 1:
        return None
    key = values[0].strip()
    try:
        raw = base64.b64decode(key.encode(), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    # 4.2.1: "A |Sec-WebSocket-Key| header field with a base64-encoded value that, when
    # decoded, is 16 bytes in length."
    return key if len(raw) == 16 else None


def _check_upgrade(table: dict[str, list[str]]) -> str | None:
    """The reason the Upgrade/Connection headers do not ask for a WebSocket, or None."""
    # 4.2.1: "An |Upgrade| header field containing the value "websocket", treated as an
    # ASCII case-insensitive value." / "A |Connection| header field that includes the token
    # "Upgrade", treated as an ASCII case-insensitive value."
    # (first the common single value, without tokenizing)
    upgrade = table.get("upgrade", [])
    if not _is_single(upgrade, "websocket") and "websocket" not in _tokens(upgrade):
        return "the Upgrade header must include 'websocket'"
    connection = table.get("connection", [])
    if not _is_single(connection, "upgrade") and "upgrade" not in _tokens(connection):
        return "the Connection header must include 'Upgrade'"
    return None


def _is_single(values: list[str], token: str) -> bool:
    """``values`` is exactly one value that is ``token`` (lower-case; any case matches)."""
    return len(values) == 1 and values[0].lower() == token


def server_handshake(
    method: str,
    http_version: tuple[int, int],
    headers: Headers,
    *,
    subprotocols: Sequence[str] = (),
    compression: DeflateOptions | None = None,
    origin_check: Callable[[str | None], bool] | None = None,
) -> ServerAccept:
    """Validate a client's opening handshake (4.2.1) and build the answer (4.2.2).
    Raises HandshakeRefused with the status to answer with."""
    # 4.1: "The method of the request MUST be GET, and the HTTP version MUST be at least 1.1."
    if method.upper() != "GET":
        raise HandshakeRefused(405, "a WebSocket handshake uses GET", {"Allow": "GET"})
    if http_version < (1, 1):
        raise HandshakeRefused(505, "a WebSocket handshake needs HTTP/1.1")
    table = _collect(headers)
    problem = _check_upgrade(table)
    if problem is not None:
        raise HandshakeRefused(426, problem, {"Upgrade": "websocket", "Connection": "Upgrade"})
    if len(table.get("host", [])) != 1:
        # 4.1: "The request MUST contain a |Host| header field"
        raise HandshakeRefused(400, "a single Host header is required")
    key = _valid_key(table.get("sec-websocket-key", []))
    if key is None:
        raise HandshakeRefused(400, "Sec-WebSocket-Key must be one base64-encoded 16-byte value")
    versions = table.get("sec-websocket-version", [])
    if versions != ["13"] and _tokens(versions) != ["13"]:
        # 4.4: "If this version does not match a version understood by the server, the
        # server MUST abort the WebSocket handshake described in this section and instead
        # send an appropriate HTTP error code (such as 426 Upgrade Required) and a
        # |Sec-WebSocket-Version| header field indicating the version(s) the server is
        # capable of understanding."
        raise HandshakeRefused(
            426, "unsupported Sec-WebSocket-Version", {"Sec-WebSocket-Version": "13"}
        )
    if origin_check is not None:
        origins = table.get("origin", [])
        if len(origins) > 1 or not origin_check(origins[0] if origins else None):
            # 4.2.2: "If the server does not wish to accept this connection, it MUST return
            # an appropriate HTTP error code (e.g., 403 Forbidden)"
            raise HandshakeRefused(403, "origin not allowed")

    response = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(key)),
    ]

    subprotocol = None
    if subprotocols:
        offered = [
            t.strip() for v in table.get("sec-websocket-protocol", []) for t in v.split(",")
        ]
        # 4.2.2: "Either a single value representing the subprotocol the server is ready to
        # use or null." The server's order of preference decides.
        for candidate in subprotocols:
            if candidate in offered:
                subprotocol = candidate
                response.append(("Sec-WebSocket-Protocol", candidate))
                break

    deflate = None
    ext_values = table.get("sec-websocket-extensions", [])
    if ext_values and compression is not None:
        try:
            offers = parse_extensions(ext_values)
        except ValueError as exc:
            raise HandshakeRefused(400, f"bad Sec-WebSocket-Extensions: {exc}") from exc
        negotiated = server_negotiate(offers, compression)
        if negotiated is not None:
            deflate, value = negotiated
            response.append(("Sec-WebSocket-Extensions", value))
    return ServerAccept(response, subprotocol, deflate)


def client_request_headers(
    host: str,
    key: str,
    *,
    subprotocols: Sequence[str] = (),
    compression: DeflateOptions | None = None,
    origin: str | None = None,
) -> list[tuple[str, str]]:
    """The headers of a client's opening handshake request (4.1)."""
    headers = [
        ("Host", host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    if origin is not None:
        headers.append(("Origin", origin))
    if subprotocols:
        headers.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
    if compression is not None:
        headers.append(("Sec-WebSocket-Extensions", client_offer(compression)))
    return headers


def check_response(
    status: int,
    headers: Headers,
    key: str,
    *,
    subprotocols: Sequence[str] = (),
    compression: DeflateOptions | None = None,
) -> tuple[str | None, DeflateParams | None]:
    """Check the server's answer (4.2.2 / 4.1 "the client MUST validate the server's
    response"); return (subprotocol, permessage-deflate agreement)."""
    if status != 101:
        raise InvalidHandshakeResponse(f"the server answered {status}, not 101")
    table = _collect(headers)
    problem = _check_upgrade(table)
    if problem is not None:
        raise InvalidHandshakeResponse(problem)
    # 4.1: "If the response lacks a |Sec-WebSocket-Accept| header field or the
    # |Sec-WebSocket-Accept| contains a value other than the base64-encoded SHA-1 of the
    # concatenation of the |Sec-WebSocket-Key| ... the client MUST _Fail the WebSocket
    # Connection_."
    if [v.strip() for v in table.get("sec-websocket-accept", [])] != [accept_key(key)]:
        raise InvalidHandshakeResponse("wrong Sec-WebSocket-Accept")
    subprotocol = None
    chosen = _tokens_raw(table.get("sec-websocket-protocol", []))
    if chosen:
        # 4.1: "If the response includes a |Sec-WebSocket-Protocol| header field and this
        # header field indicates the use of a subprotocol that was not present in the
        # client's handshake ..., the client MUST _Fail the WebSocket Connection_."
        if len(chosen) != 1 or chosen[0] not in subprotocols:
            raise InvalidHandshakeResponse(f"unexpected subprotocol {', '.join(chosen)}")
        subprotocol = chosen[0]
    deflate = None
    ext_values = table.get("sec-websocket-extensions", [])
    if ext_values:
        try:
            extensions = parse_extensions(ext_values)
        except ValueError as exc:
            raise InvalidHandshakeResponse(f"bad Sec-WebSocket-Extensions: {exc}") from exc
        for name, params in extensions:
            # 4.1: "If the response includes a |Sec-WebSocket-Extensions| header field and
            # this header field indicates the use of an extension that was not present in
            # the client's handshake ..., the client MUST _Fail the WebSocket Connection_."
            if name != EXTENSION_NAME or compression is None or deflate is not None:
                raise InvalidHandshakeResponse(f"unexpected extension {name}")
            try:
                deflate = client_accept(params, compression)
            except ValueError as exc:
                raise InvalidHandshakeResponse(f"bad permessage-deflate answer: {exc}") from exc
    return subprotocol, deflate


def _tokens_raw(values: list[str]) -> list[str]:
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


class HandshakeResponse(NamedTuple):
    """The head of the server's answer to a client's opening handshake."""

    status: int
    reason: str
    headers: list[tuple[str, str]]


_HEADER_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_STATUS_LINE = re.compile(rb"HTTP/1\.[0-9] ([0-9]{3})(?: ([^\r\n]*))?")


def serialize_request(target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """The bytes of a client's opening handshake: ``GET target HTTP/1.1`` and the headers
    (4.1: "The method of the request MUST be GET, and the HTTP version MUST be at least 1.1";
    "The "Request-URI" part of the request MUST match the /resource name/")."""
    lines = [f"GET {target} HTTP/1.1"]
    for name, value in headers:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} contains a line break")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_response(
    data: bytes | bytearray, max_size: int = 16384
) -> tuple[HandshakeResponse, int] | None:
    """Parse the response head at the start of ``data``: (response, bytes consumed), or None
    while it is incomplete. Whatever follows the head already belongs to the WebSocket.
    Raises InvalidHandshakeResponse when the head is malformed or longer than ``max_size``."""
    end = data.find(b"\r\n\r\n", 0, max_size + 4)
    if end < 0:
        if len(data) >= max_size + 4:
            raise InvalidHandshakeResponse(f"response head longer than {max_size} bytes")
        return None
    lines = bytes(data[:end]).split(b"\r\n")
    m = _STATUS_LINE.fullmatch(lines[0])
    if m is None:
        raise InvalidHandshakeResponse(f"bad status line {lines[0][:80]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        # RFC 9112 5.2: obsolete line folding (a line starting with a space) is refused
        if not sep or not _HEADER_NAME.fullmatch(name):
            raise InvalidHandshakeResponse(f"bad header line {line[:80]!r}")
        headers.append((name.decode("ascii"), value.strip(b" \t").decode("latin-1")))
    reason = (m.group(2) or b"").decode("latin-1")
    return HandshakeResponse(int(m.group(1)), reason, headers), end + 4
