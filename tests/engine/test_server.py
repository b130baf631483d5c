"""EngineServer end to end over real HTTP (both transports): the request checks and Node's
error codes in their order, the handshake (open packet, cookie, header hooks, custom ids,
allow_request, CORS and Origin), refused and doubled WebSockets, many sessions, a bug after
the 101, shutdown and aiohttp's app stop."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp
import pytest
from aiohttp import WSMsgType, WSServerHandshakeError, web

from rtio.engine import (
    CloseReason,
    CookieOptions,
    CorsOptions,
    EngineOptions,
    EngineServer,
    ErrorCode,
    HandshakeRequest,
    RequestRefused,
)
from rtio.engine.handshake import OpenPacket

from .conftest import (
    FRONTS,
    MakeEngine,
    Recorder,
    Serve,
    error_of,
    pending_poll,
    raw_upgrade,
    ws_status,
)


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


async def test_error_codes(make_engine: MakeEngine) -> None:
    engine = await make_engine(transports=["polling"])
    assert await error_of(engine, "GET", "?EIO=4") == (
        400,
        {"code": 0, "message": "Transport unknown"},
    )
    assert await error_of(engine, "GET", "?EIO=4&transport=websocket") == (
        400,
        {"code": 0, "message": "Transport unknown"},
    )
    assert await error_of(engine, "GET", "?EIO=4&transport=polling&sid=nope") == (
        400,
        {"code": 1, "message": "Session ID unknown"},
    )
    assert await error_of(engine, "POST", "?EIO=4&transport=polling") == (
        400,
        {"code": 2, "message": "Bad handshake method"},
    )
    assert await error_of(engine, "GET", "?EIO=3&transport=polling") == (
        400,
        {"code": 5, "message": "Unsupported protocol version"},
    )
    sid, _ = await engine.handshake()
    status, body = await error_of(engine, "PUT", f"?EIO=4&transport=polling&sid={sid}")
    assert (status, body["code"]) == (400, 3)


async def test_websocket_transport_without_upgrade_header(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    assert await error_of(engine, "GET", "?EIO=4&transport=websocket") == (
        400,
        {"code": 3, "message": "Bad request"},
    )


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
    assert await error_of(engine, "GET", "?EIO=4&transport=polling") == (
        403,
        {"code": 4, "message": "Forbidden"},
    )
    assert await error_of(engine, "GET", "?EIO=4&transport=polling&token=bad") == (
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
        assert await error_of(engine, "GET", "?EIO=4&transport=polling") == (
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
    assert await error_of(engine, "GET", "?EIO=4&transport=polling") == (
        500,
        {"code": 3, "message": "Duplicate session id"},
    )
    assert len(engine.handler.connected) == 1


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


async def test_websocket_only_server(make_engine: MakeEngine) -> None:
    engine = await make_engine(transports=["websocket"])
    resp = await engine.client.get("/engine.io/?EIO=4&transport=polling")
    assert resp.status == 400
    assert json.loads(await resp.text()) == {"code": 0, "message": "Transport unknown"}
    ws, _ = await engine.ws_open()
    await ws.send_str("4x")
    assert await ws.receive_str(timeout=3) == "4x"


async def test_second_websocket_after_upgrade_is_accepted_then_closed(
    make_engine: MakeEngine,
) -> None:
    engine = await make_engine()
    sid, _ = await engine.handshake()
    ws = await engine.upgrade(sid)
    ws2 = await engine.ws(sid)
    assert (await ws2.receive(timeout=3)).type is WSMsgType.CLOSE
    await ws.send_str("4still")
    assert await ws.receive_str(timeout=3) == "4still"
    # a second probe while the first is in progress is closed too
    sid2, _ = await engine.handshake()
    probe = await engine.ws(sid2)
    await probe.send_str("2probe")
    assert await probe.receive_str(timeout=3) == "3probe"
    other = await engine.ws(sid2)
    assert (await other.receive(timeout=3)).type is WSMsgType.CLOSE
    await probe.send_str("5")
    engine.server.sessions[sid2].send("ok")
    assert await probe.receive_str(timeout=3) == "4ok"


async def test_upgrade_refused_when_websocket_is_not_a_transport(
    make_engine: MakeEngine,
) -> None:
    engine = await make_engine(transports=["polling"])
    sid, _ = await engine.handshake()
    status, _, body, _, writer = await raw_upgrade(engine, f"EIO=4&transport=websocket&sid={sid}")
    writer.close()
    assert (status, json.loads(body)) == (400, {"code": 0, "message": "Transport unknown"})


async def test_upgrades_disabled(make_engine: MakeEngine) -> None:
    engine = await make_engine(allow_upgrades=False)
    sid, opened = await engine.handshake()
    assert opened["upgrades"] == []
    ws = await engine.ws(sid)
    assert (await ws.receive(timeout=3)).type is WSMsgType.CLOSE
    assert engine.server.sessions[sid].transport == "polling"


async def test_invalid_websocket_handshake_is_a_json_error(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    status, headers, body, _, writer = await raw_upgrade(
        engine, "EIO=4&transport=websocket", {"Sec-WebSocket-Version": "8"}
    )
    writer.close()
    # our raw helper sends version 13 too: two versions is not "13"
    assert status == 426 and headers["sec-websocket-version"] == "13"
    assert json.loads(body)["code"] == 3
    status, _, body, _, writer = await raw_upgrade(engine, "EIO=3&transport=websocket")
    writer.close()
    assert (status, json.loads(body)["code"]) == (400, 5)
    status, _, body, _, writer = await raw_upgrade(engine, "EIO=4&transport=websocket&sid=nope")
    writer.close()
    assert (status, json.loads(body)) == (400, {"code": 1, "message": "Session ID unknown"})


async def test_origin_of_a_websocket_upgrade_is_checked(make_engine: MakeEngine) -> None:
    engine = await make_engine(cors=CorsOptions(origins=["http://good.example"]))
    with pytest.raises(WSServerHandshakeError) as refused:
        await engine.ws(headers={"Origin": "http://evil.example"})
    assert refused.value.status == 403
    status, _, body, _, writer = await raw_upgrade(
        engine, "EIO=4&transport=websocket", {"Origin": "http://evil.example"}
    )
    writer.close()
    assert (status, json.loads(body)) == (403, {"code": 4, "message": "Not an accepted origin"})
    # an upgrade of a polling session too
    sid, _ = await engine.handshake()
    status, _, _, _, writer = await raw_upgrade(
        engine, f"EIO=4&transport=websocket&sid={sid}", {"Origin": "http://evil.example"}
    )
    writer.close()
    assert status == 403
    assert engine.server.sessions[sid].transport == "polling"
    ws = await engine.ws(headers={"Origin": "http://good.example"})
    assert (await ws.receive_str(timeout=3))[0] == "0"
    assert len(engine.handler.connected) == 2


async def test_allow_request_refuses_a_websocket_handshake(make_engine: MakeEngine) -> None:
    async def allow(request: object) -> bool:
        return False

    engine = await make_engine(allow_request=allow)
    status, _, body, _, writer = await raw_upgrade(engine, "EIO=4&transport=websocket")
    writer.close()
    assert (status, json.loads(body)) == (403, {"code": 4, "message": "Forbidden"})
    assert engine.handler.connected == []


async def test_cookie_and_header_hooks_on_the_101(make_engine: MakeEngine) -> None:
    engine = await make_engine(
        cookie=CookieOptions(name="eio", path="/x", samesite=None),
        generate_id=lambda request: "fixed-id",
        initial_headers=lambda request: {"X-Initial": "yes"},
        headers=lambda request: {"X-Every": "yes"},
    )
    status, headers, _, _, writer = await raw_upgrade(engine, "EIO=4&transport=websocket")
    assert status == 101
    assert headers["set-cookie"] == "eio=fixed-id; Path=/x; HttpOnly"
    assert headers["x-initial"] == "yes" and headers["x-every"] == "yes"
    assert "sec-websocket-extensions" not in headers
    writer.close()
    # the 101 of an upgrade: the every-response hook, no new cookie
    engine = await make_engine(cookie=CookieOptions(), headers=lambda request: {"X-Every": "yes"})
    sid, _ = await engine.handshake()
    status, headers, _, _, writer = await raw_upgrade(
        engine, f"EIO=4&transport=websocket&sid={sid}"
    )
    writer.close()
    assert status == 101 and headers["x-every"] == "yes" and "set-cookie" not in headers


async def test_shutdown_sends_close_packets_on_every_transport(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    ws, ws_sid = await engine.ws_open()
    poll_sid, _ = await engine.handshake()
    up_sid, _ = await engine.handshake()
    upgraded = await engine.upgrade(up_sid)
    await asyncio.sleep(0.05)
    poll = await pending_poll(engine, poll_sid)
    shutdown = asyncio.ensure_future(engine.server.shutdown())
    assert await poll == (200, "1")
    for sock in (ws, upgraded):
        assert await sock.receive_str(timeout=3) == "1"
        msg = await sock.receive(timeout=3)  # aiohttp answers the close frame here
        assert msg.type is WSMsgType.CLOSE and msg.data == 1001
    await asyncio.wait_for(shutdown, 0.5)  # not the grace period: both peers answered
    reasons = {sid: reason for sid, reason, _ in engine.handler.disconnected}
    assert reasons == dict.fromkeys((ws_sid, poll_sid, up_sid), CloseReason.SERVER_SHUTTING_DOWN)
    assert not engine.server.sessions
    # no new sessions once shutting down
    resp = await engine.client.get("/engine.io/?EIO=4&transport=polling")
    assert resp.status == 503


async def test_many_concurrent_websocket_sessions(make_engine: MakeEngine) -> None:
    engine = await make_engine()

    async def one(i: int) -> None:
        ws, _ = await engine.ws_open()
        await ws.send_str(f"4m{i}")
        assert await ws.receive_str(timeout=5) == f"4m{i}"
        await ws.send_bytes(i.to_bytes(2, "big"))
        assert await ws.receive_bytes(timeout=5) == i.to_bytes(2, "big")
        await ws.close()

    await asyncio.gather(*(one(i) for i in range(200)))
    await engine.handler.wait_for(lambda: len(engine.handler.disconnected) == 200)
    assert {reason for _, reason, _ in engine.handler.disconnected} == {CloseReason.TRANSPORT_CLOSE}
    assert not engine.server.sessions


async def test_a_bug_after_the_101_closes_with_1011_and_the_server_lives(
    make_engine: MakeEngine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = await make_engine()

    def broken(*args: object) -> str:
        raise RuntimeError("bug in the open packet")

    monkeypatch.setattr(OpenPacket, "encode", broken)
    with caplog.at_level(logging.ERROR, logger="rtio.engine"):
        ws = await engine.ws()
        msg = await ws.receive(timeout=3)
    assert msg.type is WSMsgType.CLOSE and msg.data == 1011
    assert any("after its 101" in r.getMessage() for r in caplog.records)
    await engine.handler.wait_for(lambda: bool(engine.handler.disconnected))
    assert engine.handler.disconnected[0][1:] == (CloseReason.TRANSPORT_ERROR, "internal error")
    monkeypatch.undo()
    _, sid = await engine.ws_open()  # the server goes on
    assert sid in engine.server.sessions


@pytest.mark.parametrize("front", FRONTS)
async def test_default_policy_refuses_a_cross_origin_websocket_and_poll(
    serve: Serve, front: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12, defect 7: with the default (cors None: same origin only), a WebSocket
    upgrade or a polling handshake from another origin is refused 403, on both fronts; a
    request with no Origin (Node's and Python's clients) or the same origin is served.
    The refusal is logged once per origin, at INFO, naming the option that admits it.
    On 0d24665 the cross-origin upgrade got 101."""
    served = await serve(front)
    port = served.port
    host = f"127.0.0.1:{port}"
    evil = {"Host": host, "Origin": "http://evil.example"}
    caplog.set_level(logging.INFO, logger="rtio.engine")
    assert await ws_status(port, evil) == 403
    assert await ws_status(port, evil) == 403
    assert await ws_status(port, {"Host": host, "Origin": "http://127.0.0.1:1"}) == 403
    assert await ws_status(port, {"Host": host}) == 101
    assert await ws_status(port, {"Host": host, "Origin": f"http://{host}"}) == 101
    assert await ws_status(port, {"Host": "Example.COM", "Origin": "https://example.com"}) == 101
    assert await ws_status(port, {"Host": "a:80", "Origin": "http://a"}) == 101
    async with aiohttp.ClientSession() as http:
        async with http.get(
            served.base + "&transport=polling", headers={"Origin": "http://evil.example"}
        ) as r:
            assert r.status == 403
            assert json.loads(await r.text())["message"] == "Not an accepted origin"
        async with http.get(
            served.base + "&transport=polling", headers={"Origin": f"http://{host}"}
        ) as r:
            assert r.status == 200
            assert "Access-Control-Allow-Origin" not in r.headers
    refusals = [r for r in caplog.records if "evil.example" in r.getMessage()]
    assert len(refusals) == 1
    assert refusals[0].levelno == logging.INFO
    assert "cors_allowed_origins" in refusals[0].getMessage()


@pytest.mark.parametrize("front", FRONTS)
async def test_an_explicit_policy_still_admits_its_origins(serve: Serve, front: str) -> None:
    served = await serve(front, cors=CorsOptions(origins=["http://app.example"]))
    port = served.port
    host = f"127.0.0.1:{port}"
    assert await ws_status(port, {"Host": host, "Origin": "http://app.example"}) == 101
    assert await ws_status(port, {"Host": host, "Origin": "http://evil.example"}) == 403
    served = await serve(front, cors=CorsOptions(origins="*"))
    assert await ws_status(served.port, {"Host": host, "Origin": "http://evil.example"}) == 101
