"""The Engine.IO v4 request and handshake rules (sans-I/O): which requests are refused with
which of Node's error codes, in Node's order, the session id checks and the open packet.

Pure functions of the request's method, query and headers and of the options: the glue
(server.py) calls them in order and writes the refusals (RequestRefused) they raise. Knows
nothing of HTTP servers, sessions or asyncio.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping

from .cors import CorsPolicy, OriginLog, same_origin
from .errors import ErrorCode, RequestRefused
from .options import EngineOptions, ms
from .request import HandshakeRequest
from .session import Transport

__all__ = [
    "OpenPacket",
    "can_upgrade",
    "check_new_session",
    "check_origin",
    "check_request",
    "check_sid",
    "check_transport",
    "check_version",
    "check_websocket",
    "handshake_headers",
]

logger = logging.getLogger("rtio.engine")

# (enum members as globals: see session.py's figure)
_POLLING = Transport.POLLING
_WEBSOCKET = Transport.WEBSOCKET


def check_request(
    query: Mapping[str, str],
    headers: Mapping[str, str],
    options: EngineOptions,
    cors: CorsPolicy | None,
    log: OriginLog,
) -> Transport:
    """Every Engine.IO request's checks, in Node's order: the transport (code 0), the
    Origin (403), the protocol version (code 5), a WebSocket's Upgrade header (code 3).
    Returns the transport.

    Speed: one call for the four checks (the polling round trip of
    benchmarks/engine/bench_path.py calls it twice)."""
    name = query.get("transport")
    if name is None or name not in options.transports:
        raise RequestRefused(ErrorCode.UNKNOWN_TRANSPORT)
    transport = _POLLING if name == "polling" else _WEBSOCKET
    origin = headers.get("Origin")
    if origin is not None:
        check_origin(origin, headers, cors, log)
    if query.get("EIO") != "4":
        check_version(query, options.allow_eio3)
    if transport is _WEBSOCKET:
        check_websocket(transport, headers)
    return transport


def check_transport(query: Mapping[str, str], options: EngineOptions) -> Transport:
    """The transport of ``transport=``; refused (code 0) if unknown or not enabled (also
    the first step of check_request, inlined there)."""
    transport = query.get("transport")
    if transport is None or transport not in options.transports:
        raise RequestRefused(ErrorCode.UNKNOWN_TRANSPORT)
    return _POLLING if transport == "polling" else _WEBSOCKET


def check_origin(
    origin: str | None,
    headers: Mapping[str, str],
    cors: CorsPolicy | None,
    log: OriginLog,
) -> None:
    """The same policy for the Origin of every request, WebSocket upgrades included;
    without a policy, the same origin only (issue 12, defect 7). A request without Origin
    (a non-browser client) passes. Refusals are logged once per origin (``log``)."""
    if origin is None:
        return
    if cors is None:
        if not same_origin(origin, headers):
            log.refused(origin, "not the same origin as Host")
            raise RequestRefused(ErrorCode.FORBIDDEN, "Not an accepted origin")
    elif not cors.is_allowed(origin):
        log.refused(origin, "not an allowed origin")
        raise RequestRefused(ErrorCode.FORBIDDEN, "Not an accepted origin")


def check_version(query: Mapping[str, str], allow_eio3: bool = False) -> int:
    """The Engine.IO protocol version of a request: 4, or 3 with ``allow_eio3``; else
    refused with code 5 (Node: 400 ``{"code":5,"message":"Unsupported protocol
    version"}``)."""
    eio = query.get("EIO")
    if eio == "4":
        return 4
    if eio == "3":
        if allow_eio3:
            return 3
        logger.info(
            "refused Engine.IO protocol version 3 (socket.io-client 2.x and clients of that"
            " era): rtio.Server(allow_eio3=True) serves it (EngineOptions.allow_eio3)"
        )
    else:
        served = "only 4 and 3 are served" if allow_eio3 else "only 4 is served"
        logger.info("refused Engine.IO protocol version %r (%s)", eio, served)
    raise RequestRefused(ErrorCode.UNSUPPORTED_PROTOCOL_VERSION)


def check_websocket(transport: Transport, headers: Mapping[str, str]) -> None:
    """A ``transport=websocket`` request must be a WebSocket upgrade (code 3)."""
    if transport is Transport.WEBSOCKET and headers.get("Upgrade", "").lower() != "websocket":
        raise RequestRefused(ErrorCode.BAD_REQUEST)


def check_new_session(method: str, shutting_down: bool) -> None:
    """A request without sid opens a session: with a GET only (code 2), and not once the
    server is shutting down (503)."""
    if method != "GET":
        raise RequestRefused(ErrorCode.BAD_HANDSHAKE_METHOD)
    if shutting_down:
        raise RequestRefused(ErrorCode.BAD_REQUEST, "Server shutting down", status=503)


def check_sid(sid: object, live: Collection[str]) -> str:
    """A session id from ``generate_id``: a non-empty str that no live session has
    (else a logged 500: the application's hook is wrong)."""
    if not isinstance(sid, str) or not sid:
        logger.error("engine generate_id returned %r, not a non-empty str", sid)
        raise RequestRefused(ErrorCode.BAD_REQUEST, "Invalid session id", status=500)
    if sid in live:
        logger.error("engine generate_id returned the id of a live session")
        raise RequestRefused(ErrorCode.BAD_REQUEST, "Duplicate session id", status=500)
    return sid


def can_upgrade(options: EngineOptions) -> bool:
    """A polling session may be upgraded to WebSocket (the open packet says so)."""
    return options.allow_upgrades and "websocket" in options.transports


def handshake_headers(options: EngineOptions, hreq: HandshakeRequest, sid: str) -> dict[str, str]:
    """The handshake response's own headers: the session cookie, the initial_headers hook."""
    headers: dict[str, str] = {}
    if options.cookie is not None:
        headers["Set-Cookie"] = options.cookie.header(sid)
    if options.initial_headers is not None:
        headers.update(options.initial_headers(hreq))
    return headers


class OpenPacket:
    """``0{"sid":...,"upgrades":[...],"pingInterval":...,"pingTimeout":...,
    "maxPayload":...}``: all but the sid is the server's, JSON-encoded once per server
    (with and without upgrades)."""

    __slots__ = ("_tails",)

    def __init__(self, options: EngineOptions) -> None:
        self._tails: dict[bool, str] = {}
        for upgrades in (False, True):
            self._tails[upgrades] = json.dumps(
                {
                    "upgrades": ["websocket"] if upgrades else [],
                    "pingInterval": ms(options.ping_interval),
                    "pingTimeout": ms(options.ping_timeout),
                    "maxPayload": options.max_payload,
                },
                separators=(",", ":"),
            )[1:]

    def encode(self, sid: str, upgrades: bool) -> str:
        return '0{"sid":' + json.dumps(sid) + "," + self._tails[upgrades]
