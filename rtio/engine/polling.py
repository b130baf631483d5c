"""The HTTP long-polling transport: decoding POST bodies, JSONP framing, building the
GET/POST responses (Content-Type, gzip/deflate over a threshold) as HttpResponses, and the
answer to a POST whose body could not be read.

Owns HTTP details of polling only; the session rules (what a GET waits for, what a POST
delivers) live in session.py, the payload codec in packet.py, reading a body within
maxPayload in each HTTP front (HttpRequest.read_body).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import zlib
from collections.abc import Mapping
from urllib.parse import parse_qs

from . import eio3
from .errors import (
    Close,
    ErrorCode,
    PacketDecodeError,
    PayloadTooLarge,
    RequestRefused,
)
from .http import BodyReadEnded, HttpRequest, HttpResponse
from .options import HttpCompression
from .packet import Packet
from .session import BODY_TIMEOUT, PAYLOAD_TOO_LARGE, POST_LOST, Reply

__all__ = [
    "decode_post_body",
    "decode_v3_post",
    "jsonp_index",
    "poll_response",
    "post_failure",
    "post_response",
    "reply_response",
]

logger = logging.getLogger("rtio.engine")

TEXT_PLAIN = "text/plain; charset=UTF-8"
TEXT_JS = "text/javascript; charset=UTF-8"
OCTET_STREAM = "application/octet-stream"
_NON_DIGITS = re.compile(r"[^0-9]")
_JSONP_NEWLINES = re.compile(r"(\\)?\\n")


def jsonp_index(query: Mapping[str, str]) -> str | None:
    """The JSONP callback index of ``j=`` (digits only, as Node), or None if not JSONP."""
    j = query.get("j")
    if j is None:
        return None
    return _NON_DIGITS.sub("", j)


def decode_post_body(body: bytes, content_type: str, jsonp: bool) -> str:
    """The polling payload text of a POST body. Raises PacketDecodeError."""
    if content_type == "application/octet-stream":
        # v4 clients always send text payloads (binary is base64 inside them); Node
        # refuses this content type for v4 ("invalid content").
        raise PacketDecodeError("binary content is not a v4 polling payload")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PacketDecodeError("polling payload is not UTF-8") from exc
    if not jsonp:
        return text
    values = parse_qs(text, keep_blank_values=True).get("d")
    if not values:
        raise PacketDecodeError("JSONP POST without a 'd' field")
    # The client escapes newlines as \\n and literal "\n" as \\\\n (Node's polling-jsonp).
    data = _JSONP_NEWLINES.sub(lambda m: m.group(0) if m.group(1) else "\n", values[0])
    return data.replace("\\\\n", "\\n")


def decode_v3_post(body: bytes, content_type: str, jsonp: bool, max_packets: int) -> list[Packet]:
    """The packets of an Engine.IO v3 POST: a binary payload (application/octet-stream,
    from clients with XHR2), else a text one. Raises PacketDecodeError."""
    if content_type == OCTET_STREAM and not jsonp:
        return eio3.decode_binary_payload(body, max_packets=max_packets)
    text = decode_post_body(body, content_type, jsonp)
    return eio3.decode_text_payload(text, max_packets=max_packets)


def _compress(body: bytes, accept_encoding: str, level: int) -> tuple[bytes, str] | None:
    encodings = {part.split(";")[0].strip().lower() for part in accept_encoding.split(",")}
    if "gzip" in encodings:
        compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return compressor.compress(body) + compressor.flush(), "gzip"
    if "deflate" in encodings:
        return zlib.compress(body, level), "deflate"
    return None


def poll_response(
    payload: str | bytes,
    *,
    jsonp: str | None,
    headers: dict[str, str],
    accept_encoding: str | None,
    compression: HttpCompression | None,
) -> HttpResponse:
    """The answer to a GET: the payload as text/plain, or wrapped as a JSONP call (a v3
    binary payload: application/octet-stream)."""
    if isinstance(payload, bytes):
        # (only for a v3 client that supports binary; JSONP sessions do not: eio3.py)
        body = payload
        headers["Content-Type"] = OCTET_STREAM
    elif jsonp is not None:
        # Valid JavaScript, not just JSON: escape U+2028/U+2029 (as Node does).
        js = json.dumps(payload).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        body = f"___eio[{jsonp}]({js});".encode()
        headers["Content-Type"] = TEXT_JS
    else:
        body = payload.encode()
        headers["Content-Type"] = TEXT_PLAIN
    if compression is not None and accept_encoding and len(body) >= compression.threshold:
        compressed = _compress(body, accept_encoding, compression.level)
        if compressed is not None:
            body, coding = compressed
            headers["Content-Encoding"] = coding
            headers["Vary"] = (
                "Accept-Encoding"
                if "Vary" not in headers
                else (headers["Vary"] + ", Accept-Encoding")
            )
    return HttpResponse(200, headers, body)


def reply_response(
    request: HttpRequest,
    headers: dict[str, str],
    reply: Reply,
    compression: HttpCompression | None,
) -> HttpResponse:
    """The answer to a GET of a session: ``reply`` (the session core's), http-compressed
    only if the reply may be."""
    query = request.query
    if "j" not in query and type(reply.payload) is str:
        body = reply.payload.encode()
        if compression is None or not reply.compress or len(body) < compression.threshold:
            # Speed: the usual poll (no JSONP, too short to compress) without
            # poll_response's call. With the two other call savings of issue 13 (one call
            # for the request checks, the armed deadline for request_arrived): 6.57 -> 6.17
            # µs per round trip (benchmarks/engine/bench_path.py polling, best of 8
            # interleaved runs; 6.24 before issue 13)
            headers["Content-Type"] = TEXT_PLAIN
            return HttpResponse(200, headers, body)
    if not reply.compress:
        compression = None
    return poll_response(
        reply.payload,
        jsonp=jsonp_index(query) if "j" in query else None,
        headers=headers,
        accept_encoding=(
            request.headers.get("Accept-Encoding") if compression is not None else None
        ),
        compression=compression,
    )


def post_response(headers: dict[str, str]) -> HttpResponse:
    """The answer to a POST: "ok" (Node sends it as text/html).

    v4 "Sending data": "To indicate success, the server MUST return an HTTP 200 response,
    with the string `ok` in the response body."."""
    headers["Content-Type"] = "text/html"
    return HttpResponse(200, headers, b"ok")


#: the exceptions of a POST body read that post_failure answers
POST_READ_ERRORS = (PayloadTooLarge, BodyReadEnded, asyncio.IncompleteReadError, ConnectionError)


def post_failure(
    exc: BaseException, headers: dict[str, str], sid: str, body_timeout: float
) -> tuple[HttpResponse, Close | None]:
    """The answer to a POST whose body read failed with ``exc`` (one of
    POST_READ_ERRORS), and how its session closes (None: it is closed already)."""
    headers["Content-Type"] = "application/json"
    if isinstance(exc, PayloadTooLarge):
        logger.warning("engine session %s: %s", sid, exc)
        body = b'{"code": 3, "message": "Payload too large"}'
        return HttpResponse(413, headers, body, close=True), PAYLOAD_TOO_LARGE
    if isinstance(exc, BodyReadEnded):
        if exc.reason != "timeout":
            # the session closed while its POST was still arriving
            refused = RequestRefused(ErrorCode.UNKNOWN_SID)
            return HttpResponse(400, headers, refused.body().encode(), close=True), None
        logger.info(
            "engine session %s: a POST body did not arrive within body_timeout (%g s), closing",
            sid,
            body_timeout,
        )
        refused = RequestRefused(ErrorCode.BAD_REQUEST, "Body timeout", status=408)
        return HttpResponse(408, headers, refused.body().encode(), close=True), BODY_TIMEOUT
    # Node: "data request connection closed prematurely"
    refused = RequestRefused(ErrorCode.BAD_REQUEST)
    return HttpResponse(400, headers, refused.body().encode()), POST_LOST
