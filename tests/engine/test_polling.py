"""The polling transport end to end over real HTTP: handshake, errors, messages, close,
maxPayload, JSONP, compression, cookie, CORS, allow_request, many sessions."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import random
import time
import zlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from rtio.engine import (
    CloseReason,
    CookieOptions,
    CorsOptions,
    EngineOptions,
    EngineServer,
    EngineSession,
    ErrorCode,
    HandshakeRequest,
    HttpCompression,
    RequestRefused,
    prepare_packet,
)

from .conftest import Engine, MakeEngine, Recorder


async def test_open_packet_has_exactly_the_v4_keys(make_engine: MakeEngine) -> None:
    engine = await make_engine(ping_interval=0.3, ping_timeout=0.2, max_payload=1000)
    sid, opened = await engine.handshake()
    assert opened == {
        "sid": sid,
        "upgrades": ["websocket"],
        "pingInterval": 300,
        "pingTimeout": 200,
        "maxPayload": 1000,
    }
    assert len(sid) == 20
    assert engine.handler.connected[0].sid == sid
    assert engine.handler.connected[0].transport == "polling"
    assert engine.handler.connected[0].request.query["EIO"] == "4"


async def test_no_upgrades_when_polling_only(make_engine: MakeEngine) -> None:
    engine = await make_engine(transports=["polling"])
    _, opened = await engine.handshake()
    assert opened["upgrades"] == []


async def _error(engine: Engine, method: str, query: str) -> tuple[int, dict[str, object]]:
    resp = await engine.client.request(method, "/engine.io/" + query)
    return resp.status, json.loads(await resp.text())


async def test_error_codes(make_engine: MakeEngine) -> None:
    engine = await make_engine(transports=["polling"])
    assert await _error(engine, "GET", "?EIO=4") == (
        400,
        {"code": 0, "message": "Transport unknown"},
    )
    assert await _error(engine, "GET", "?EIO=4&transport=websocket") == (
        400,
        {"code": 0, "message": "Transport unknown"},
    )
    assert await _error(engine, "GET", "?EIO=4&transport=polling&sid=nope") == (
        400,
        {"code": 1, "message": "Session ID unknown"},
    )
    assert await _error(engine, "POST", "?EIO=4&transport=polling") == (
        400,
        {"code": 2, "message": "Bad handshake method"},
    )
    assert await _error(engine, "GET", "?EIO=3&transport=polling") == (
        400,
        {"code": 5, "message": "Unsupported protocol version"},
    )
    sid, _ = await engine.handshake()
    status, body = await _error(engine, "PUT", f"?EIO=4&transport=polling&sid={sid}")
    assert (status, body["code"]) == (400, 3)


async def test_websocket_transport_without_upgrade_header(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    assert await _error(engine, "GET", "?EIO=4&transport=websocket") == (
        400,
        {"code": 3, "message": "Bad request"},
    )


async def test_messages_both_ways_text_and_binary(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    sid, _ = await engine.handshake()
    assert await engine.post(sid, "4hello\x1ebAQIDBA==") == (200, "ok")
    assert engine.handler.messages == [(sid, "hello"), (sid, b"\x01\x02\x03\x04")]
    assert await engine.poll(sid) == (200, "4hello\x1ebAQIDBA==")


async def test_one_message_posts_and_polls(make_engine: MakeEngine) -> None:
    # the usual POST (one text message) and poll (one packet) take a shorter path
    engine = await make_engine()
    sid, _ = await engine.handshake()
    assert await engine.post(sid, "4hello") == (200, "ok")
    assert await engine.post(sid, "4") == (200, "ok")
    assert await engine.post(sid, "4a\x1e4") == (200, "ok")
    assert engine.handler.messages == [(sid, "hello"), (sid, ""), (sid, "a"), (sid, "")]
    # (the recorder echoes each message)
    assert await engine.poll(sid) == (200, "4hello\x1e4\x1e4a\x1e4")
    engine.server.sessions[sid].send("one")
    assert await engine.poll(sid) == (200, "4one")
    # a client's ping is not a message: refused (Node: "invalid heartbeat direction")
    assert (await engine.post(sid, "2"))[0] == 400
    assert engine.handler.disconnected[0][1] is CloseReason.PARSE_ERROR


async def test_pending_poll_is_answered_by_a_send(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    sid, _ = await engine.handshake()
    poll = asyncio.ensure_future(engine.poll(sid))
    await asyncio.sleep(0.05)
    assert not poll.done()
    session = engine.server.sessions[sid]
    session.send("a")
    session.send(prepare_packet(b"\xff"))
    assert await poll == (200, "4a")
    assert await engine.poll(sid) == (200, "b/w==")


async def test_messages_sent_on_connect_follow_the_open_packet(make_engine: MakeEngine) -> None:
    handler = Recorder(on_connect_hook=lambda s: s.send("welcome"))
    engine = await make_engine(handler)
    resp = await engine.client.get("/engine.io/?EIO=4&transport=polling")
    text = await resp.text()
    assert text.split("\x1e")[1] == "4welcome"


async def test_batches_are_capped_at_max_payload(make_engine: MakeEngine) -> None:
    engine = await make_engine(max_payload=100)
    sid, _ = await engine.handshake()
    session = engine.server.sessions[sid]
    for _ in range(5):
        session.send("x" * 40)
    lengths = []
    while sum(lengths) < 5:
        status, body = await engine.poll(sid)
        assert status == 200
        assert len(body) <= 100
        lengths.append(len(body.split("\x1e")))
    assert lengths == [2, 2, 1]


async def test_heartbeat_over_polling(make_engine: MakeEngine) -> None:
    # a generous pingTimeout: a loaded CI machine may take tens of ms to answer a ping
    engine = await make_engine(ping_interval=0.05, ping_timeout=0.5)
    sid, _ = await engine.handshake()
    for _ in range(3):
        assert await engine.poll(sid) == (200, "2")
        assert await engine.post(sid, "3") == (200, "ok")
    await engine.handler.wait_for(lambda: bool(engine.handler.disconnected))
    assert engine.handler.disconnected[0][1] is CloseReason.PING_TIMEOUT
    assert (await engine.poll(sid))[0] == 400


async def test_ping_timeout_releases_pending_poll_with_close(make_engine: MakeEngine) -> None:
    engine = await make_engine(ping_interval=0.05, ping_timeout=0.05)
    sid, _ = await engine.handshake()
    assert await engine.poll(sid) == (200, "2")
    assert await engine.poll(sid) == (200, "1")


async def test_client_close_releases_pending_poll_with_noop(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    sid, _ = await engine.handshake()
    poll = asyncio.ensure_future(engine.poll(sid))
    await asyncio.sleep(0.02)
    assert await engine.post(sid, "1") == (200, "ok")
    assert await poll == (200, "6")
    assert engine.handler.disconnected == [
        (sid, CloseReason.TRANSPORT_CLOSE, "client sent a close packet")
    ]


async def test_invalid_payload_is_a_parse_error(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    sid, _ = await engine.handshake()
    status, _ = await engine.post(sid, "abc")
    assert status == 400
    assert engine.handler.disconnected[0][1] is CloseReason.PARSE_ERROR
    assert (await engine.poll(sid))[0] == 400


async def test_duplicate_poll_closes_the_session(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    sid, _ = await engine.handshake()
    first = asyncio.ensure_future(engine.poll(sid))
    await asyncio.sleep(0.02)
    assert (await engine.poll(sid))[0] == 400
    assert await first == (200, "1")
    assert engine.handler.disconnected[0][1] is CloseReason.TRANSPORT_ERROR


async def test_server_close_sends_a_close_packet(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    sid, _ = await engine.handshake()
    session = engine.server.sessions[sid]
    session.send("last")
    session.close()
    session.send("dropped")
    assert engine.handler.disconnected == []  # waits for the client to fetch the close
    # as Node ("drain"), the close packet comes in a response of its own: socket.io-client
    # would handle a close packet before the messages decoded with it
    assert await engine.poll(sid) == (200, "4last")
    assert engine.handler.disconnected == []
    assert await engine.poll(sid) == (200, "1")
    assert engine.handler.disconnected == [(sid, CloseReason.FORCED_CLOSE, "closed by the server")]
    assert (await engine.poll(sid))[0] == 400


async def test_server_close_answers_a_pending_poll(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    sid, _ = await engine.handshake()
    poll = asyncio.ensure_future(engine.poll(sid))
    await asyncio.sleep(0.02)
    engine.server.sessions[sid].close()
    assert await poll == (200, "1")
    assert engine.handler.disconnected[0][1] is CloseReason.FORCED_CLOSE


async def test_shutdown_closes_every_session(make_engine: MakeEngine) -> None:
    engine = await make_engine(shutdown_grace=0.2)
    sid1, _ = await engine.handshake()
    sid2, _ = await engine.handshake()
    poll = asyncio.ensure_future(engine.poll(sid1))
    await asyncio.sleep(0.02)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await engine.server.shutdown()  # sid2's client never polls: the grace period runs out
    assert 0.2 <= loop.time() - start < 1.0
    assert await poll == (200, "1")
    reasons = {sid: reason for sid, reason, _ in engine.handler.disconnected}
    assert reasons == {
        sid1: CloseReason.SERVER_SHUTTING_DOWN,
        sid2: CloseReason.SERVER_SHUTTING_DOWN,
    }
    assert not engine.server.sessions


async def test_oversized_post_is_413_and_closes(make_engine: MakeEngine) -> None:
    engine = await make_engine(max_payload=50)
    sid, _ = await engine.handshake()
    assert await engine.post(sid, "4" + "x" * 49) == (200, "ok")
    status, _ = await engine.post(sid, "4" + "x" * 50)
    assert status == 413
    assert engine.handler.disconnected == [(sid, CloseReason.TRANSPORT_ERROR, "payload too large")]


async def test_send_queue_is_bounded(make_engine: MakeEngine) -> None:
    engine = await make_engine(max_buffered_bytes=1000)
    sid, _ = await engine.handshake()
    session = engine.server.sessions[sid]
    for _ in range(30):
        session.send("x" * 99)
    assert session.closed
    assert engine.handler.disconnected == [(sid, CloseReason.TRANSPORT_ERROR, "send queue full")]


async def test_drain_waits_for_the_queue(make_engine: MakeEngine) -> None:
    engine = await make_engine(max_buffered_bytes=1000)
    sid, _ = await engine.handshake()
    session = engine.server.sessions[sid]
    for _ in range(6):
        session.send("x" * 99)
    drained = asyncio.ensure_future(session.drain())
    await asyncio.sleep(0.01)
    assert not drained.done()
    await engine.poll(sid)
    await asyncio.wait_for(drained, 1)


async def test_jsonp(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    resp = await engine.client.get("/engine.io/?EIO=4&transport=polling&j=3")
    assert resp.headers["Content-Type"] == "text/javascript; charset=UTF-8"
    text = await resp.text()
    assert text.startswith('___eio[3]("0{') and text.endswith('");')
    sid = json.loads(json.loads(text[len("___eio[3](") : -2])[1:])["sid"]
    body = "d=" + "4line1\\nline2\u2028".replace("%", "%25").replace("&", "%26")
    resp = await engine.client.post(
        f"/engine.io/?EIO=4&transport=polling&sid={sid}&j=3",
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert await resp.text() == "ok"
    assert engine.handler.messages == [(sid, "line1\nline2\u2028")]
    resp = await engine.client.get(f"/engine.io/?EIO=4&transport=polling&sid={sid}&j=3")
    assert await resp.text() == '___eio[3]("4line1\\nline2\\u2028");'


async def test_http_compression(make_engine: MakeEngine) -> None:
    engine = await make_engine(http_compression=HttpCompression(threshold=100))
    sid, _ = await engine.handshake()
    session = engine.server.sessions[sid]
    url = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
    session.send("x" * 500)
    resp = await engine.client.get(url, headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert resp.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(await resp.read()) == b"4" + b"x" * 500
    session.send("y" * 500)
    resp = await engine.client.get(
        url, headers={"Accept-Encoding": "deflate"}, auto_decompress=False
    )
    assert resp.headers["Content-Encoding"] == "deflate"
    assert zlib.decompress(await resp.read()) == b"4" + b"y" * 500
    session.send("short")
    resp = await engine.client.get(url, headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert "Content-Encoding" not in resp.headers
    assert await resp.read() == b"4short"


async def test_cookie(make_engine: MakeEngine) -> None:
    engine = await make_engine(cookie=CookieOptions(name="io", samesite="Strict", secure=True))
    resp = await engine.client.get("/engine.io/?EIO=4&transport=polling")
    sid = json.loads((await resp.text())[1:])["sid"]
    assert resp.headers["Set-Cookie"] == f"io={sid}; Path=/; HttpOnly; Secure; SameSite=Strict"
    plain = await make_engine()
    resp = await plain.client.get("/engine.io/?EIO=4&transport=polling")
    assert "Set-Cookie" not in resp.headers


async def test_cors_headers_and_preflight(make_engine: MakeEngine) -> None:
    engine = await make_engine(cors=CorsOptions(origins=["http://a.example"], credentials=True))
    resp = await engine.client.options(
        "/engine.io/?EIO=4&transport=polling",
        headers={"Origin": "http://a.example", "Access-Control-Request-Headers": "content-type"},
    )
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "http://a.example"
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    assert resp.headers["Access-Control-Allow-Methods"] == "GET,POST"
    assert resp.headers["Access-Control-Allow-Headers"] == "content-type"
    resp = await engine.client.get(
        "/engine.io/?EIO=4&transport=polling", headers={"Origin": "http://a.example"}
    )
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "http://a.example"
    resp = await engine.client.get(
        "/engine.io/?EIO=4&transport=polling", headers={"Origin": "http://evil.example"}
    )
    assert resp.status == 403
    assert json.loads(await resp.text())["code"] == ErrorCode.FORBIDDEN
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_allow_request_refusal(make_engine: MakeEngine) -> None:
    async def allow(request: HandshakeRequest) -> bool:
        token = request.query.get("token")
        if token == "bad":
            raise RequestRefused(ErrorCode.FORBIDDEN, "bad token", status=401)
        return token == "ok"

    engine = await make_engine(allow_request=allow)
    await engine.handshake(token="ok")
    assert await _error(engine, "GET", "?EIO=4&transport=polling") == (
        403,
        {"code": 4, "message": "Forbidden"},
    )
    assert await _error(engine, "GET", "?EIO=4&transport=polling&token=bad") == (
        401,
        {"code": 4, "message": "bad token"},
    )
    assert len(engine.handler.connected) == 1


async def test_header_hooks_and_custom_ids(make_engine: MakeEngine) -> None:
    counter = iter(range(100))
    engine = await make_engine(
        generate_id=lambda request: f"custom-{next(counter)}",
        initial_headers=lambda request: {"X-Initial": "1"},
        headers=lambda request: {"X-Every": "1"},
    )
    resp = await engine.client.get("/engine.io/?EIO=4&transport=polling")
    assert json.loads((await resp.text())[1:])["sid"] == "custom-0"
    assert resp.headers["X-Initial"] == "1" and resp.headers["X-Every"] == "1"
    resp = await engine.client.post("/engine.io/?EIO=4&transport=polling&sid=custom-0", data="3")
    assert "X-Initial" not in resp.headers and resp.headers["X-Every"] == "1"


async def test_many_concurrent_sessions(make_engine: MakeEngine) -> None:
    engine = await make_engine()

    async def one(i: int) -> None:
        sid, _ = await engine.handshake()
        assert await engine.post(sid, f"4m{i}") == (200, "ok")
        assert await engine.poll(sid) == (200, f"4m{i}")
        assert await engine.post(sid, "1") == (200, "ok")

    await asyncio.gather(*(one(i) for i in range(200)))
    assert len(engine.handler.connected) == 200
    assert len(engine.handler.disconnected) == 200
    assert not engine.server.sessions


async def test_failing_hooks_are_a_json_500_not_a_crash(make_engine: MakeEngine) -> None:
    def broken_headers(request: HandshakeRequest) -> dict[str, str]:
        raise RuntimeError("bug in a hook")

    async def broken_allow(request: HandshakeRequest) -> bool:
        raise RuntimeError("bug in a hook")

    for options in (
        {"headers": broken_headers},
        {"initial_headers": broken_headers},
        {"allow_request": broken_allow},
        {"generate_id": lambda request: ""},
    ):
        engine = await make_engine(**options)
        assert await _error(engine, "GET", "?EIO=4&transport=polling") == (
            500,
            {"code": 3, "message": "Server error"}
            if "generate_id" not in options
            else {"code": 3, "message": "Invalid session id"},
        )
        assert engine.handler.connected == []
        assert not engine.server.sessions


async def test_duplicate_generated_id_is_refused(make_engine: MakeEngine) -> None:
    engine = await make_engine(generate_id=lambda request: "same")
    await engine.handshake()
    assert await _error(engine, "GET", "?EIO=4&transport=polling") == (
        500,
        {"code": 3, "message": "Duplicate session id"},
    )
    assert len(engine.handler.connected) == 1


@pytest.mark.parametrize("cancel_handlers", [True, False])
async def test_post_cut_short_closes_the_session(
    make_engine: MakeEngine, cancel_handlers: bool
) -> None:
    engine = await make_engine(cancel_handlers=cancel_handlers)
    sid, _ = await engine.handshake()
    server = engine.client.server
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        f"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n4abc".encode()
    )
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.transport.abort()
    await engine.handler.wait_for(lambda: bool(engine.handler.disconnected))
    assert engine.handler.disconnected == [
        (sid, CloseReason.TRANSPORT_ERROR, "data request connection lost")
    ]
    assert engine.handler.messages == []


async def test_a_dead_pending_poll_closes_the_session_at_the_next_send(
    make_engine: MakeEngine,
) -> None:
    # aiohttp's production default: no handler cancellation when a connection is lost
    engine = await make_engine(cancel_handlers=False)
    sid, _ = await engine.handshake()
    server = engine.client.server
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        f"GET /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n\r\n".encode()
    )
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.transport.abort()
    await asyncio.sleep(0.05)
    session = engine.server.sessions[sid]
    session.send("not lost in a dead response")
    assert session.closed
    assert engine.handler.disconnected == [
        (sid, CloseReason.TRANSPORT_ERROR, "poll connection closed prematurely")
    ]


async def test_bad_post_bodies_are_parse_errors(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    cases = [
        (b"4abc", {"Content-Type": "application/octet-stream"}, ""),
        (b"4\xff\xfe", {"Content-Type": "text/plain"}, ""),
        (b"x=1", {"Content-Type": "application/x-www-form-urlencoded"}, "&j=0"),
        (b"bnot base64!", {"Content-Type": "text/plain"}, ""),
        (b"2", {"Content-Type": "text/plain"}, ""),  # a ping from the client
    ]
    for body, headers, extra in cases:
        sid, _ = await engine.handshake()
        resp = await engine.client.post(
            f"/engine.io/?EIO=4&transport=polling&sid={sid}{extra}", data=body, headers=headers
        )
        assert resp.status == 400, body
        assert json.loads(await resp.text())["code"] == 3
        assert engine.handler.disconnected[-1][:2] == (sid, CloseReason.PARSE_ERROR)
        assert sid not in engine.server.sessions
    assert engine.handler.messages == []


async def test_chunked_post_bodies(make_engine: MakeEngine) -> None:
    engine = await make_engine(max_payload=100)

    async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    sid, _ = await engine.handshake()
    url = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
    text = {"Content-Type": "text/plain;charset=UTF-8"}  # what the JS client sends
    resp = await engine.client.post(url, data=chunks(b"4he", b"llo\x1e4", b"again"), headers=text)
    assert (resp.status, await resp.text()) == (200, "ok")
    assert engine.handler.messages == [(sid, "hello"), (sid, "again")]
    resp = await engine.client.post(url, data=chunks(b"4" + b"x" * 60, b"y" * 60), headers=text)
    assert resp.status == 413
    assert engine.handler.disconnected == [(sid, CloseReason.TRANSPORT_ERROR, "payload too large")]


async def test_overlapping_posts_close_the_session(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    sid, _ = await engine.handshake()
    gate = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b"4first"
        await gate.wait()

    first = asyncio.ensure_future(
        engine.client.post(f"/engine.io/?EIO=4&transport=polling&sid={sid}", data=slow_body())
    )
    await asyncio.sleep(0.05)
    status, body = await engine.post(sid, "4second")
    assert (status, json.loads(body)["code"]) == (400, 3)
    assert engine.handler.disconnected == [
        (sid, CloseReason.TRANSPORT_ERROR, "overlapping data requests")
    ]
    gate.set()
    await first
    assert engine.handler.messages == []


async def test_aborted_pending_poll_closes_the_session(make_engine: MakeEngine) -> None:
    engine = await make_engine()  # aiohttp cancels the handler of a lost connection
    sid, _ = await engine.handshake()
    _reader, writer = await asyncio.open_connection("127.0.0.1", engine.client.server.port)
    writer.write(
        f"GET /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n\r\n".encode()
    )
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.transport.abort()
    await engine.handler.wait_for(lambda: bool(engine.handler.disconnected))
    assert engine.handler.disconnected == [
        (sid, CloseReason.TRANSPORT_ERROR, "poll connection closed prematurely")
    ]


async def test_server_close_gives_up_on_a_client_that_never_polls(
    make_engine: MakeEngine,
) -> None:
    engine = await make_engine(close_timeout=0.1)
    sid, _ = await engine.handshake()
    engine.server.sessions[sid].close()
    assert engine.handler.disconnected == []
    await engine.handler.wait_for(lambda: bool(engine.handler.disconnected), timeout=1)
    assert engine.handler.disconnected == [(sid, CloseReason.FORCED_CLOSE, "closed by the server")]


class Faulty(Recorder):
    """A layer above with bugs: the engine logs them and carries on."""

    def on_message(self, session: EngineSession, data: str | bytes) -> None:
        super().on_message(session, data)
        if data == "boom":
            raise RuntimeError("bug in on_message")

    def on_disconnect(self, session: EngineSession, reason: CloseReason, description: str) -> None:
        super().on_disconnect(session, reason, description)
        raise RuntimeError("bug in on_disconnect")


async def test_handler_exceptions_are_logged_not_fatal(
    make_engine: MakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    engine = await make_engine(Faulty())
    sid, _ = await engine.handshake()
    assert await engine.post(sid, "4boom\x1e4after") == (200, "ok")
    assert await engine.poll(sid) == (200, "4boom\x1e4after")
    assert await engine.post(sid, "1") == (200, "ok")
    assert engine.handler.disconnected[0][1] is CloseReason.TRANSPORT_CLOSE
    logged = [r.getMessage() for r in caplog.records]
    assert "engine handler on_message failed" in logged
    assert "engine handler on_disconnect failed" in logged

    def refuse(session: EngineSession) -> None:
        raise RuntimeError("bug in on_connect")

    engine = await make_engine(Recorder(on_connect_hook=refuse))
    sid, _ = await engine.handshake()
    assert engine.handler.disconnected == [
        (sid, CloseReason.TRANSPORT_ERROR, "connect handler failed")
    ]
    assert (await engine.poll(sid))[0] == 400


async def test_server_close_of_a_full_queue_still_sends_the_close_packet(
    make_engine: MakeEngine,
) -> None:
    engine = await make_engine(max_buffered_bytes=100)
    sid, _ = await engine.handshake()
    session = engine.server.sessions[sid]
    session.send("x" * 99)  # 100 bytes queued: full
    session.close()
    assert await engine.poll(sid) == (200, "4" + "x" * 99)
    assert await engine.poll(sid) == (200, "1")
    assert engine.handler.disconnected == [(sid, CloseReason.FORCED_CLOSE, "closed by the server")]


async def test_shutdown_lets_polling_clients_fetch_their_messages_first(
    make_engine: MakeEngine,
) -> None:
    engine = await make_engine(shutdown_grace=2.0)
    sid, _ = await engine.handshake()
    session = engine.server.sessions[sid]
    session.send("bye")
    loop = asyncio.get_running_loop()
    start = loop.time()
    shutdown = asyncio.ensure_future(engine.server.shutdown())
    await asyncio.sleep(0.02)
    assert engine.handler.disconnected == []
    assert await engine.poll(sid) == (200, "4bye")
    assert await engine.poll(sid) == (200, "1")
    await asyncio.wait_for(shutdown, 1.0)
    assert loop.time() - start < 1.0  # no need to wait out the grace period
    assert engine.handler.disconnected == [
        (sid, CloseReason.SERVER_SHUTTING_DOWN, "server shutting down")
    ]
    resp = await engine.client.get("/engine.io/?EIO=4&transport=polling")
    assert resp.status == 503


async def test_a_request_acts_on_a_deadline_the_timer_has_not_fired_yet(
    make_engine: MakeEngine,
) -> None:
    engine = await make_engine(ping_interval=0.05, ping_timeout=0.05)
    sid, _ = await engine.handshake()
    await asyncio.sleep(0.3)  # the ping went out (queued) and was not answered
    status, body = await engine.poll(sid)
    assert (status, json.loads(body)["code"]) == (400, 1)
    assert engine.handler.disconnected == [
        (sid, CloseReason.PING_TIMEOUT, "no pong within pingTimeout")
    ]


async def test_a_loop_stall_does_not_drop_a_polling_client(make_engine: MakeEngine) -> None:
    """Issue 12, defect 4 (polling): the loop stalls past pingInterval + pingTimeout; the
    ping goes out late, and the client that fetches and answers it is kept (on 0d24665 the
    poll after the stall found the session closed: "ping timeout")."""
    engine = await make_engine(ping_interval=0.05, ping_timeout=0.5)
    sid, _ = await engine.handshake()
    time.sleep(0.7)  # the loop is blocked: the ping timer is late
    assert await engine.poll(sid) == (200, "2")
    assert await engine.post(sid, "3") == (200, "ok")
    assert engine.handler.disconnected == []
    assert sid in engine.server.sessions


async def test_a_pending_poll_gets_the_close_packet_when_aiohttp_stops() -> None:
    # aiohttp's own shutdown order (what SIGTERM to web.run_app does): the listening socket
    # closes, idle connections close, then on_shutdown (our shutdown) runs
    handler = Recorder()
    app = web.Application()
    EngineServer(handler, EngineOptions()).attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}/engine.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        async with http.get(base) as resp:
            sid = json.loads((await resp.text())[1:])["sid"]

        async def poll() -> tuple[int, str]:
            async with http.get(f"{base}&sid={sid}") as resp:
                return resp.status, await resp.text()

        pending = asyncio.ensure_future(poll())
        await asyncio.sleep(0.05)
        await asyncio.wait_for(runner.cleanup(), 2.0)
        assert await pending == (200, "1")
    assert handler.disconnected == [(sid, CloseReason.SERVER_SHUTTING_DOWN, "server shutting down")]


async def test_fuzzed_post_bodies_are_answered_never_crash(
    make_engine: MakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(4)
    pieces = [
        "4hi",
        "4",
        "3",
        "2",
        "1",
        "6",
        "5",
        "0x",
        "9",
        "",
        "b",
        "bAQID",
        "b!!",
        "é",
        "\x1e",
        "\x1e\x1e",
        "4\x00",
        "b" + "A" * 7,
        "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"),
    ]
    engine = await make_engine(max_payload=200)
    statuses: set[int] = set()
    for _ in range(300):
        sid, _ = await engine.handshake()
        body = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        raw = body.encode("utf-8", "surrogatepass")
        if rng.random() < 0.1:
            raw = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        status, _ = await engine.post(sid, raw)
        statuses.add(status)
        assert status in (200, 400, 413), (status, raw)
        if status != 200 and sid in engine.server.sessions:
            raise AssertionError(f"refused {raw!r} but the session lives on")
    assert statuses >= {200, 400}
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_http_compression_honours_the_compress_flag(make_engine: MakeEngine) -> None:
    # Node: a polling response is compressed if any of its packets allows it
    engine = await make_engine(http_compression=HttpCompression(threshold=100))
    sid, _ = await engine.handshake()
    session = engine.server.sessions[sid]
    url = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
    gz = {"Accept-Encoding": "gzip"}
    session.send("x" * 500, compress=False)
    session.send(b"\x01" * 300, compress=False)
    resp = await engine.client.get(url, headers=gz, auto_decompress=False)
    assert "Content-Encoding" not in resp.headers
    assert await resp.read() == b"4" + b"x" * 500 + b"\x1eb" + base64.b64encode(b"\x01" * 300)
    session.send("y" * 500, compress=False)
    session.send("z")
    resp = await engine.client.get(url, headers=gz, auto_decompress=False)
    assert resp.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(await resp.read()) == b"4" + b"y" * 500 + b"\x1e4z"
    # a pending poll answered by an uncompressed message
    poll = asyncio.ensure_future(engine.client.get(url, headers=gz, auto_decompress=False))
    await asyncio.sleep(0.05)
    session.send("p" * 500, compress=False)
    resp = await poll
    assert "Content-Encoding" not in resp.headers and await resp.read() == b"4" + b"p" * 500


async def test_writable_over_polling_means_a_poll_is_pending(make_engine: MakeEngine) -> None:
    # Node's polling transport is writable while a GET waits for data
    engine = await make_engine()
    sid, _ = await engine.handshake()
    session = engine.server.sessions[sid]
    assert not session.writable  # no GET pending
    poll = asyncio.ensure_future(engine.poll(sid))
    for _ in range(100):
        if session.writable:
            break
        await asyncio.sleep(0.01)
    assert session.writable
    session.send("now")
    assert not session.writable  # the GET is answered: the next message waits
    assert await poll == (200, "4now")
    session.send("queued")
    poll = asyncio.ensure_future(engine.poll(sid))
    assert await poll == (200, "4queued")
    session.close()
    assert not session.writable


async def test_app_stop_does_not_wait_for_polls_that_cannot_arrive() -> None:
    # Once aiohttp runs on_shutdown it reads no new request, so a polling client without
    # a GET pending can never fetch its close packet: the stop does not wait the grace
    # for it (the client sees its next poll fail), while a pending GET still gets "1".
    handler = Recorder()
    app = web.Application()
    EngineServer(handler, EngineOptions(shutdown_grace=5.0)).attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}/engine.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        sids = []
        for _ in range(2):
            async with http.get(base) as resp:
                sids.append(json.loads((await resp.text())[1:])["sid"])

        async def poll() -> tuple[int, str]:
            async with http.get(f"{base}&sid={sids[0]}") as resp:
                return resp.status, await resp.text()

        pending = asyncio.ensure_future(poll())
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await asyncio.wait_for(runner.cleanup(), 2.0)
        assert time.monotonic() - started < 1.0
        assert await pending == (200, "1")
    assert sorted(handler.disconnected) == sorted(
        (sid, CloseReason.SERVER_SHUTTING_DOWN, "server shutting down") for sid in sids
    )
