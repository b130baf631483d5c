"""The WebSocket transport end to end over real sockets (aiohttp's client, or raw bytes when
the handshake response itself is under test): WebSocket-only sessions, the upgrade from
polling, heartbeat, close reasons, maxPayload, Origin, cookie, permessage-deflate, shutdown,
backpressure and many sessions."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os

import pytest
from aiohttp import WSMsgType, WSServerHandshakeError

from rtio.engine import CloseReason, CookieOptions, CorsOptions, EngineSession, prepare_packet
from rtio.engine.handshake import OpenPacket

from .conftest import Engine, MakeEngine, Recorder


async def raw_upgrade(
    engine: Engine, query: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    """Send a WebSocket upgrade request by hand; returns status, headers (last value of
    each, lower-case names), the body read so far, and the open stream."""
    server = engine.client.server
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET /engine.io/?{query} HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
    status_line, *header_lines = head.decode().split("\r\n")
    parsed: dict[str, str] = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            parsed[name.strip().lower()] = value.strip()
    body = b""
    status = int(status_line.split()[1])
    if status != 101 and "content-length" in parsed:
        body = await reader.readexactly(int(parsed["content-length"]))
    return status, parsed, body, reader, writer


async def test_websocket_only_session(make_engine: MakeEngine) -> None:
    engine = await make_engine(ping_interval=0.3, ping_timeout=0.2, max_payload=1000)
    ws = await engine.ws()
    opened = await ws.receive_str(timeout=3)
    assert opened[0] == "0"
    body = json.loads(opened[1:])
    sid = body["sid"]
    assert body == {
        "sid": sid,
        "upgrades": [],
        "pingInterval": 300,
        "pingTimeout": 200,
        "maxPayload": 1000,
    }
    session = engine.handler.connected[0]
    assert (session.sid, session.transport) == (sid, "websocket")
    await ws.send_str("4hello")
    assert await ws.receive_str(timeout=3) == "4hello"
    await ws.send_bytes(b"\x00\x01\xff")
    assert await ws.receive_bytes(timeout=3) == b"\x00\x01\xff"
    session.send(prepare_packet("shared"))
    session.send(prepare_packet(b"\x02"))
    assert await ws.receive_str(timeout=3) == "4shared"
    assert await ws.receive_bytes(timeout=3) == b"\x02"
    assert engine.handler.messages == [(sid, "hello"), (sid, b"\x00\x01\xff")]
    await ws.send_str("1")
    await engine.handler.wait_for(lambda: bool(engine.handler.disconnected))
    assert engine.handler.disconnected == [
        (sid, CloseReason.TRANSPORT_CLOSE, "client sent a close packet")
    ]
    msg = await ws.receive(timeout=3)
    assert msg.type is WSMsgType.CLOSE
    assert not engine.server.sessions


async def test_messages_sent_on_connect_follow_the_open_packet(make_engine: MakeEngine) -> None:
    engine = await make_engine(Recorder(on_connect_hook=lambda s: s.send("welcome")))
    ws = await engine.ws()
    assert (await ws.receive_str(timeout=3))[0] == "0"
    assert await ws.receive_str(timeout=3) == "4welcome"


async def test_heartbeat_over_websocket_is_exact(make_engine: MakeEngine) -> None:
    engine = await make_engine(ping_interval=0.1, ping_timeout=0.15)
    ws, sid = await engine.ws_open()
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in range(1, 4):
        assert await ws.receive_str(timeout=1) == "2"
        # each ping comes ping_interval after the previous pong (or the open)
        elapsed = loop.time() - start
        assert 0.09 <= elapsed < 0.2, (n, elapsed)
        await ws.send_str("3")
        start = loop.time()
    assert await ws.receive_str(timeout=1) == "2"
    pinged = loop.time()
    # no pong: the session is closed ping_timeout later
    msg = await ws.receive(timeout=1)
    assert msg.type is WSMsgType.CLOSE
    assert 0.14 <= loop.time() - pinged < 0.3
    assert engine.handler.disconnected == [
        (sid, CloseReason.PING_TIMEOUT, "no pong within pingTimeout")
    ]


async def test_invalid_packet_is_a_parse_error(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    ws, sid = await engine.ws_open()
    await ws.send_str("9nope")
    msg = await ws.receive(timeout=3)
    assert msg.type is WSMsgType.CLOSE
    assert engine.handler.disconnected[0][:2] == (sid, CloseReason.PARSE_ERROR)


async def test_client_ping_is_the_wrong_heartbeat_direction(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    ws, sid = await engine.ws_open()
    await ws.send_str("2")
    assert (await ws.receive(timeout=3)).type is WSMsgType.CLOSE
    assert engine.handler.disconnected == [
        (sid, CloseReason.PARSE_ERROR, "invalid heartbeat direction")
    ]


async def test_server_close_flushes_then_sends_a_close_packet(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    ws, sid = await engine.ws_open()
    session = engine.server.sessions[sid]
    session.send("last")
    session.close()
    session.send("dropped")
    assert await ws.receive_str(timeout=3) == "4last"
    assert await ws.receive_str(timeout=3) == "1"
    msg = await ws.receive(timeout=3)
    assert msg.type is WSMsgType.CLOSE and msg.data == 1000
    assert engine.handler.disconnected == [(sid, CloseReason.FORCED_CLOSE, "closed by the server")]
    assert session.closed and not session.connected


@pytest.mark.parametrize("cancel_handlers", [True, False])
async def test_client_drops_the_connection(make_engine: MakeEngine, cancel_handlers: bool) -> None:
    engine = await make_engine(cancel_handlers=cancel_handlers)
    ws, sid = await engine.ws_open()
    await ws.close(code=1001)
    await engine.handler.wait_for(lambda: bool(engine.handler.disconnected))
    assert engine.handler.disconnected == [
        (sid, CloseReason.TRANSPORT_CLOSE, "websocket closed (1001)")
    ]
    _, _, _, _, writer = await raw_upgrade(engine, "EIO=4&transport=websocket")
    await engine.handler.wait_for(lambda: len(engine.handler.connected) == 2)
    writer.transport.abort()  # no close frame: 1006
    await engine.handler.wait_for(lambda: len(engine.handler.disconnected) == 2)
    assert engine.handler.disconnected[1][1:] == (
        CloseReason.TRANSPORT_ERROR,
        "websocket connection lost (1006)",
    )


async def test_max_payload_over_websocket_is_close_1009(
    make_engine: MakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    engine = await make_engine(max_payload=100)
    ws, sid = await engine.ws_open()
    await ws.send_str("4" + "x" * 99)
    assert await ws.receive_str(timeout=3) == "4" + "x" * 99
    with caplog.at_level(logging.WARNING, logger="rtio.engine"):
        await ws.send_bytes(b"x" * 101)
        msg = await ws.receive(timeout=3)
        assert msg.type is WSMsgType.CLOSE and msg.data == 1009
        await engine.handler.wait_for(lambda: bool(engine.handler.disconnected))
    assert engine.handler.disconnected == [(sid, CloseReason.TRANSPORT_ERROR, "payload too large")]
    logged = [r.getMessage() for r in caplog.records]
    assert any("payload too large" in line and sid in line for line in logged), logged


async def _pending_poll(engine: Engine, sid: str) -> asyncio.Future[tuple[int, str]]:
    poll = asyncio.ensure_future(engine.poll(sid))
    await asyncio.sleep(0.05)
    assert not poll.done()
    return poll


async def test_upgrade_delivers_everything_in_order(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    sid, opened = await engine.handshake()
    assert opened["upgrades"] == ["websocket"]
    session = engine.server.sessions[sid]
    poll = await _pending_poll(engine, sid)
    ws = await engine.ws(sid)
    # before the probe, messages still go out on polling
    session.send("before")
    assert await poll == (200, "4before")
    poll = await _pending_poll(engine, sid)
    await ws.send_str("2probe")
    assert await ws.receive_str(timeout=3) == "3probe"
    # the probe releases the pending poll with a noop so the client can pause polling
    assert await poll == (200, "6")
    assert session.transport == "polling"
    # what is sent between the probe and "5" waits for the new transport
    session.send("during-1")
    session.send(b"\x01")
    session.send("during-2")
    await ws.send_str("5")
    assert await ws.receive_str(timeout=3) == "4during-1"
    assert await ws.receive_bytes(timeout=3) == b"\x01"
    assert await ws.receive_str(timeout=3) == "4during-2"
    assert session.transport == "websocket"
    await ws.send_str("4after")
    assert await ws.receive_str(timeout=3) == "4after"
    # polling on an upgraded session: 400
    status, body = await engine.poll(sid)
    assert status == 400 and json.loads(body)["code"] == 3
    assert (await engine.post(sid, "4x"))[0] == 400
    assert engine.handler.disconnected == []


async def test_poll_during_probe_gets_a_noop_not_a_stray_one_later(
    make_engine: MakeEngine,
) -> None:
    engine = await make_engine()
    sid, _ = await engine.handshake()
    ws = await engine.ws(sid)
    await ws.send_str("2probe")
    assert await ws.receive_str(timeout=3) == "3probe"
    assert await engine.poll(sid) == (200, "6")
    await ws.send_str("5")
    engine.server.sessions[sid].send("first")
    assert await ws.receive_str(timeout=3) == "4first"


async def test_upgrade_timeout_keeps_polling(make_engine: MakeEngine) -> None:
    engine = await make_engine(upgrade_timeout=0.15)
    sid, _ = await engine.handshake()
    ws = await engine.ws(sid)
    await ws.send_str("2probe")
    assert await ws.receive_str(timeout=3) == "3probe"
    loop = asyncio.get_running_loop()
    start = loop.time()
    msg = await ws.receive(timeout=3)
    assert msg.type is WSMsgType.CLOSE
    assert 0.1 <= loop.time() - start < 1.0
    session = engine.server.sessions[sid]
    assert session.transport == "polling" and session.connected
    session.send("still here")
    assert await engine.poll(sid) == (200, "4still here")
    # and a later upgrade can still succeed
    ws2 = await engine.upgrade(sid)
    session.send("upgraded")
    assert await ws2.receive_str(timeout=3) == "4upgraded"


async def test_bad_probe_aborts_the_upgrade(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    sid, _ = await engine.handshake()
    ws = await engine.ws(sid)
    await ws.send_str("4not a probe")
    assert (await ws.receive(timeout=3)).type is WSMsgType.CLOSE
    session = engine.server.sessions[sid]
    assert session.transport == "polling" and session.connected
    assert engine.handler.messages == []


async def test_upgrade_without_a_probe_completes_as_in_node(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    sid, _ = await engine.handshake()
    poll = await _pending_poll(engine, sid)
    ws = await engine.ws(sid)
    await ws.send_str("5")
    assert await poll == (200, "6")  # the pending poll is released with a noop
    engine.server.sessions[sid].send("on ws")
    assert await ws.receive_str(timeout=3) == "4on ws"
    assert engine.server.sessions[sid].transport == "websocket"


async def test_probe_socket_lost_keeps_polling(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    sid, _ = await engine.handshake()
    ws = await engine.ws(sid)
    await ws.send_str("2probe")
    assert await ws.receive_str(timeout=3) == "3probe"
    await ws.close()
    await asyncio.sleep(0.05)
    session = engine.server.sessions[sid]
    assert session.transport == "polling" and session.connected
    assert await engine.post(sid, "4x") == (200, "ok")
    assert await engine.poll(sid) == (200, "4x")


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


async def test_websocket_only_server(make_engine: MakeEngine) -> None:
    engine = await make_engine(transports=["websocket"])
    resp = await engine.client.get("/engine.io/?EIO=4&transport=polling")
    assert resp.status == 400
    assert json.loads(await resp.text()) == {"code": 0, "message": "Transport unknown"}
    ws, _ = await engine.ws_open()
    await ws.send_str("4x")
    assert await ws.receive_str(timeout=3) == "4x"


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


async def test_per_message_deflate_is_off_by_default_and_can_be_enabled(
    make_engine: MakeEngine,
) -> None:
    offer = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
    plain = await make_engine()
    status, headers, _, _, writer = await raw_upgrade(plain, "EIO=4&transport=websocket", offer)
    writer.close()
    assert status == 101 and "sec-websocket-extensions" not in headers
    deflating = await make_engine(per_message_deflate=True)
    status, headers, _, _, writer = await raw_upgrade(deflating, "EIO=4&transport=websocket", offer)
    writer.close()
    assert status == 101
    assert headers["sec-websocket-extensions"].startswith("permessage-deflate")
    # and a compressing client gets its messages through (aiohttp offers deflate)
    ws = await deflating.ws(compress=15)
    assert (await ws.receive_str(timeout=3))[0] == "0"
    await ws.send_str("4" + "z" * 5000)
    assert await ws.receive_str(timeout=3) == "4" + "z" * 5000


async def test_shutdown_sends_close_packets_on_every_transport(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    ws, ws_sid = await engine.ws_open()
    poll_sid, _ = await engine.handshake()
    up_sid, _ = await engine.handshake()
    upgraded = await engine.upgrade(up_sid)
    await asyncio.sleep(0.05)
    poll = await _pending_poll(engine, poll_sid)
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


async def test_slow_websocket_reader_is_bounded(make_engine: MakeEngine) -> None:
    engine = await make_engine(max_buffered_bytes=256 * 1024)
    _ws, sid = await engine.ws_open()
    session = engine.server.sessions[sid]
    chunk = "x" * 65536
    # the client does not read: socket buffers fill, then the session's backlog passes
    # its limit and the session is closed instead of growing without bound
    for _ in range(2000):
        session.send(chunk)
        if session.closed:
            break
        await asyncio.sleep(0)
    assert session.closed
    assert engine.handler.disconnected == [(sid, CloseReason.TRANSPORT_ERROR, "send queue full")]


async def test_drain_paces_a_sender_to_a_slow_reader(make_engine: MakeEngine) -> None:
    engine = await make_engine(max_buffered_bytes=256 * 1024)
    ws, sid = await engine.ws_open()
    session = engine.server.sessions[sid]
    chunk = "y" * 65536
    total = 300  # about 20 MB, far more than the socket buffers and the limit

    async def sender() -> None:
        for _ in range(total):
            session.send(chunk)
            await session.drain()

    task = asyncio.ensure_future(sender())
    await asyncio.sleep(0.2)  # the reader is late
    received = 0
    while received < total:
        assert await ws.receive_str(timeout=5) == "4" + chunk
        received += 1
    await task
    assert session.connected and engine.handler.disconnected == []


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


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked server frame off the wire: its first byte (FIN, RSV1, opcode) and
    payload."""
    head = await asyncio.wait_for(reader.readexactly(2), 3)
    length = head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    return head[0], await reader.readexactly(length)


async def test_compress_false_sends_a_frame_uncompressed(make_engine: MakeEngine) -> None:
    # Node's socket.compress(false): with permessage-deflate on, that frame goes plain
    engine = await make_engine(per_message_deflate=True)
    offer = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
    status, headers, _, reader, writer = await raw_upgrade(
        engine, "EIO=4&transport=websocket", offer
    )
    try:
        assert status == 101 and headers["sec-websocket-extensions"].startswith("permessage")
        first, _ = await _read_frame(reader)  # the open packet, over the 64-byte threshold
        assert first == 0xC1  # FIN, RSV1 (compressed), text
        session = engine.handler.connected[0]
        text = "z" * 300
        session.send(text, compress=False)
        session.send(text)
        session.send(prepare_packet(text), compress=False)
        session.send(prepare_packet(b"\x00" * 300), compress=False)
        session.send(prepare_packet(b"\x00" * 300))
        frames = [await _read_frame(reader) for _ in range(5)]
        assert frames[0] == (0x81, b"4" + text.encode())
        assert frames[1][0] == 0xC1 and len(frames[1][1]) < 50
        assert frames[2] == (0x81, b"4" + text.encode())
        assert frames[3] == (0x82, b"\x00" * 300)
        assert frames[4][0] == 0xC2 and len(frames[4][1]) < 50
    finally:
        writer.close()


async def test_writable_over_websocket_follows_backpressure(make_engine: MakeEngine) -> None:
    # Node's transport.writable: false while earlier frames wait behind a paused socket
    engine = await make_engine(max_buffered_bytes=64 * 1024 * 1024)
    ws, sid = await engine.ws_open()
    session = engine.server.sessions[sid]
    assert session.writable
    chunk = "w" * 65536
    sent = 0
    while session.writable:  # the client does not read: the socket buffers fill
        session.send(chunk)
        sent += 1
        assert sent < 1000, "the socket never applied backpressure"
        await asyncio.sleep(0)
    assert session.connected and not session.writable
    for _ in range(sent):
        assert await ws.receive_str(timeout=5) == "4" + chunk
    for _ in range(100):
        if session.writable:
            break
        await asyncio.sleep(0.01)
    assert session.writable
    await ws.send_str("1")
    await engine.handler.wait_for(lambda: bool(engine.handler.disconnected))
    assert not session.writable


def _frames(*texts: str) -> bytes:
    """Masked text frames (zero mask key), as a client sends them."""
    out = b""
    for text in texts:
        data = text.encode()
        assert len(data) < 126
        out += bytes([0x81, 0x80 | len(data)]) + b"\0\0\0\0" + data
    return out


async def _read_text(reader: asyncio.StreamReader) -> str:
    """One unmasked, unfragmented text frame of the server (short)."""
    head = await asyncio.wait_for(reader.readexactly(2), 3)
    assert head[0] == 0x81 and head[1] < 126, head
    return (await reader.readexactly(head[1])).decode()


async def test_messages_in_the_read_of_the_upgrade_go_to_the_session(
    make_engine: MakeEngine,
) -> None:
    engine = await make_engine()
    sid, _ = await engine.handshake()
    status, _, _, reader, writer = await raw_upgrade(engine, f"EIO=4&transport=websocket&sid={sid}")
    assert status == 101
    writer.write(_frames("2probe"))
    assert await _read_text(reader) == "3probe"
    # "5" and a message in one TCP write: the message arrives after the switch
    writer.write(_frames("5", "4after", "4again"))
    assert await _read_text(reader) == "4after"
    assert await _read_text(reader) == "4again"
    assert engine.server.sessions[sid].transport == "websocket"
    assert engine.handler.messages == [(sid, "after"), (sid, "again")]
    writer.close()


async def test_a_message_after_a_bad_probe_in_the_same_read_is_dropped(
    make_engine: MakeEngine,
) -> None:
    engine = await make_engine()
    sid, _ = await engine.handshake()
    _, _, _, reader, writer = await raw_upgrade(engine, f"EIO=4&transport=websocket&sid={sid}")
    writer.write(_frames("4early", "4late"))
    closing = await asyncio.wait_for(reader.readexactly(2), 3)
    assert closing[0] == 0x88  # the probe is closed
    assert engine.handler.messages == []
    assert engine.server.sessions[sid].transport == "polling"
    engine.server.sessions[sid].send("on polling")
    assert await engine.poll(sid) == (200, "4on polling")
    writer.close()


async def test_messages_behind_a_close_in_the_same_read_are_not_delivered(
    make_engine: MakeEngine,
) -> None:
    class Closer(Recorder):
        def on_message(self, session: EngineSession, data: str | bytes) -> None:
            super().on_message(session, data)
            if data == "close":
                session.close()

    engine = await make_engine(Closer(echo=False))
    _, _, _, reader, writer = await raw_upgrade(engine, "EIO=4&transport=websocket")
    assert (await _read_text(reader))[0] == "0"
    writer.write(_frames("4close", "4late"))
    assert await _read_text(reader) == "1"
    await engine.handler.wait_for(lambda: bool(engine.handler.disconnected))
    assert [data for _, data in engine.handler.messages] == ["close"]
    assert engine.handler.disconnected[0][1] is CloseReason.FORCED_CLOSE
    writer.close()


async def test_a_raising_handler_over_websocket_is_logged_and_the_session_lives(
    make_engine: MakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    class Raiser(Recorder):
        def on_message(self, session: EngineSession, data: str | bytes) -> None:
            super().on_message(session, data)
            if data == "boom":
                raise RuntimeError("bug in on_message")

    engine = await make_engine(Raiser())
    ws, _ = await engine.ws_open()
    with caplog.at_level(logging.ERROR, logger="rtio.engine"):
        await ws.send_str("4boom")
        assert await ws.receive_str(timeout=3) == "4boom"
        await ws.send_str("4after")
        assert await ws.receive_str(timeout=3) == "4after"
    assert any("on_message failed" in r.getMessage() for r in caplog.records)
    assert not engine.handler.disconnected
    await ws.close()


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


async def test_a_loop_stall_does_not_drop_a_websocket_client_that_answers(
    make_engine: MakeEngine,
) -> None:
    """Issue 12, defect 4 (WebSocket, real loop): the loop is blocked 0.8 s, longer than
    pingInterval + pingTimeout (0.1 + 0.3 s); the late ping goes out after the stall and
    the client answers it at once: it is kept (on 0d24665 it was closed with "ping timeout"
    as soon as the late ping went out)."""
    import time

    engine = await make_engine(ping_interval=0.1, ping_timeout=0.3)
    ws, sid = await engine.ws_open()
    pings = 0

    async def answer() -> None:
        nonlocal pings
        while True:
            msg = await ws.receive()
            if msg.type is not WSMsgType.TEXT:
                return
            if msg.data == "2":
                pings += 1
                await ws.send_str("3")

    task = asyncio.ensure_future(answer())
    await asyncio.sleep(0.02)
    time.sleep(0.8)  # the stall: the ping timer fires late
    await asyncio.sleep(0.5)  # the late ping and a few more, all answered
    task.cancel()
    assert engine.handler.disconnected == []
    assert sid in engine.server.sessions and pings >= 2
    await ws.close()
