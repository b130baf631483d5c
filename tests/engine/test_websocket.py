"""The WebSocket transport end to end over real sockets (aiohttp's client, or raw bytes when
the handshake response itself is under test): WebSocket-only sessions, the upgrade from
polling, heartbeat, close reasons, maxPayload, Origin, cookie, permessage-deflate, shutdown,
backpressure and many sessions."""

from __future__ import annotations

import asyncio

from rtio.engine import CloseReason, prepare_packet

from .conftest import (
    MakeEngine,
    Recorder,
    raw_upgrade,
    read_frame,
)


async def test_messages_sent_on_connect_follow_the_open_packet(make_engine: MakeEngine) -> None:
    engine = await make_engine(Recorder(on_connect_hook=lambda s: s.send("welcome")))
    ws = await engine.ws()
    assert (await ws.receive_str(timeout=3))[0] == "0"
    assert await ws.receive_str(timeout=3) == "4welcome"


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


async def test_compress_false_sends_a_frame_uncompressed(make_engine: MakeEngine) -> None:
    # Node's socket.compress(false): with permessage-deflate on, that frame goes plain
    engine = await make_engine(per_message_deflate=True)
    offer = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
    status, headers, _, reader, writer = await raw_upgrade(
        engine, "EIO=4&transport=websocket", offer
    )
    try:
        assert status == 101 and headers["sec-websocket-extensions"].startswith("permessage")
        first, _ = await read_frame(reader)  # the open packet, over the 64-byte threshold
        assert first == 0xC1  # FIN, RSV1 (compressed), text
        session = engine.handler.connected[0]
        text = "z" * 300
        session.send(text, compress=False)
        session.send(text)
        session.send(prepare_packet(text), compress=False)
        session.send(prepare_packet(b"\x00" * 300), compress=False)
        session.send(prepare_packet(b"\x00" * 300))
        frames = [await read_frame(reader) for _ in range(5)]
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
