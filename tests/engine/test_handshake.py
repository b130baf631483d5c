"""The request and handshake rules (sans-I/O), driven with plain dicts: Node's error codes,
the origin policy, the session id checks, the handshake headers and the open packet."""

from __future__ import annotations

import json
import logging

import pytest

from rtio.engine import CookieOptions, CorsOptions, EngineOptions, ErrorCode, RequestRefused
from rtio.engine.cors import CorsPolicy, OriginLog
from rtio.engine.handshake import (
    OpenPacket,
    can_upgrade,
    check_new_session,
    check_origin,
    check_sid,
    check_transport,
    check_version,
    check_websocket,
    handshake_headers,
)
from rtio.engine.request import HandshakeRequest
from rtio.engine.session import Transport

HREQ = HandshakeRequest("GET", "http://h/engine.io/", "/engine.io/", {}, {}, None)


def refused(call: object, *args: object) -> RequestRefused:
    with pytest.raises(RequestRefused) as info:
        call(*args)  # type: ignore[operator]
    return info.value


def test_transport() -> None:
    options = EngineOptions()
    assert check_transport({"transport": "polling"}, options) is Transport.POLLING
    assert check_transport({"transport": "websocket"}, options) is Transport.WEBSOCKET
    for query in ({}, {"transport": "flashsocket"}):
        assert refused(check_transport, query, options).code is ErrorCode.UNKNOWN_TRANSPORT
    polling_only = EngineOptions(transports=["polling"])
    exc = refused(check_transport, {"transport": "websocket"}, polling_only)
    assert (exc.status, exc.body()) == (400, '{"code": 0, "message": "Transport unknown"}')


def test_version(caplog: pytest.LogCaptureFixture) -> None:
    check_version({"EIO": "4"})
    with caplog.at_level(logging.INFO, logger="rtio.engine"):
        for query in ({}, {"EIO": "3"}):
            exc = refused(check_version, query)
            assert exc.code is ErrorCode.UNSUPPORTED_PROTOCOL_VERSION
    assert "only 4 is served" in caplog.records[0].getMessage()


def test_websocket_needs_an_upgrade_header() -> None:
    check_websocket(Transport.POLLING, {})
    check_websocket(Transport.WEBSOCKET, {"Upgrade": "WebSocket"})
    assert refused(check_websocket, Transport.WEBSOCKET, {}).code is ErrorCode.BAD_REQUEST


def test_new_sessions_need_a_get_and_a_running_server() -> None:
    check_new_session("GET", False)
    assert refused(check_new_session, "POST", False).code is ErrorCode.BAD_HANDSHAKE_METHOD
    exc = refused(check_new_session, "GET", True)
    assert (exc.status, exc.message) == (503, "Server shutting down")


def test_origin_without_a_policy_is_the_same_origin_only() -> None:
    log = OriginLog()
    check_origin(None, {}, None, log)  # no Origin: a non-browser client
    check_origin("http://h:1", {"Host": "h:1"}, None, log)
    exc = refused(check_origin, "http://evil", {"Host": "h:1"}, None, log)
    assert (exc.status, exc.message) == (403, "Not an accepted origin")
    assert len(log) == 1


def test_origin_with_a_policy() -> None:
    log = OriginLog()
    policy = CorsPolicy(CorsOptions(origins=["http://app"]))
    check_origin("http://app", {"Host": "elsewhere"}, policy, log)
    assert refused(check_origin, "http://evil", {}, policy, log).code is ErrorCode.FORBIDDEN
    assert len(log) == 1


def test_session_ids() -> None:
    assert check_sid("abc", {"other"}) == "abc"
    for bad in (None, "", 12):
        exc = refused(check_sid, bad, set())
        assert (exc.status, exc.message) == (500, "Invalid session id")
    exc = refused(check_sid, "abc", {"abc"})
    assert (exc.status, exc.message) == (500, "Duplicate session id")


def test_upgrades_offered() -> None:
    assert can_upgrade(EngineOptions())
    assert not can_upgrade(EngineOptions(allow_upgrades=False))
    assert not can_upgrade(EngineOptions(transports=["polling"]))


def test_handshake_headers() -> None:
    assert handshake_headers(EngineOptions(), HREQ, "sid") == {}
    options = EngineOptions(
        cookie=CookieOptions(name="io"), initial_headers=lambda request: {"X-Path": request.path}
    )
    assert handshake_headers(options, HREQ, "sid") == {
        "Set-Cookie": "io=sid; Path=/; HttpOnly; SameSite=Lax",
        "X-Path": "/engine.io/",
    }


def test_open_packet() -> None:
    packet = OpenPacket(EngineOptions(ping_interval=0.3, ping_timeout=0.2, max_payload=1000))
    text = packet.encode('a"b', True)
    assert text[0] == "0"
    assert json.loads(text[1:]) == {
        "sid": 'a"b',
        "upgrades": ["websocket"],
        "pingInterval": 300,
        "pingTimeout": 200,
        "maxPayload": 1000,
    }
    assert json.loads(packet.encode("s", False)[1:])["upgrades"] == []
