"""Rooms, broadcasts (encoded once), broadcast acks and the adapter's server-wide ops."""

from __future__ import annotations

import asyncio

from sio_loopback import Peer, crowd, settle

import rtio
from rtio.engine import PreparedPacket


async def test_rooms_join_leave_and_emit_to(sio: rtio.Server) -> None:
    (a, sa), (b, sb), (c, sc) = await crowd(sio, 3)
    await sa.join("red")
    await sb.join(["red", "blue"])
    await sc.join("blue")
    assert sa.rooms == {sa.id, "red"}
    assert sio.main.room_members("red") == {sa.id, sb.id}
    assert {"red", "blue", sa.id, sb.id, sc.id} == sio.main.rooms()
    await sio.to("red").emit("r", 1)
    assert (a.take(), b.take(), c.take()) == (['2["r",1]'], ['2["r",1]'], [])
    # several rooms: the union, each socket once
    await sio.to("red").to("blue").emit("rb")
    assert (a.take(), b.take(), c.take()) == (['2["rb"]'], ['2["rb"]'], ['2["rb"]'])
    await sio.emit("ids", to=[sa.id, sc.id])
    assert (a.take(), b.take(), c.take()) == (['2["ids"]'], [], ['2["ids"]'])
    await sb.leave("red")
    await sio.in_("red").emit("r2")
    assert (a.take(), b.take(), c.take()) == (['2["r2"]'], [], [])


async def test_except_and_socket_broadcast_excludes_itself(sio: rtio.Server) -> None:
    (a, sa), (b, sb), (c, sc) = await crowd(sio, 3)
    await sb.join("quiet")
    await sio.except_("quiet").emit("x")
    assert (a.take(), b.take(), c.take()) == (['2["x"]'], [], ['2["x"]'])
    await sa.broadcast.emit("y")
    assert (a.take(), b.take(), c.take()) == ([], ['2["y"]'], ['2["y"]'])
    await sa.join("quiet")
    await sa.to("quiet").emit("z")  # a is in the room but is the sender
    assert (a.take(), b.take(), c.take()) == ([], ['2["z"]'], [])
    await sa.except_(sc.id).emit("w")
    assert (a.take(), b.take(), c.take()) == ([], ['2["w"]'], [])
    await sio.to("quiet").except_(sb.id).emit("v")
    assert (a.take(), b.take(), c.take()) == (['2["v"]'], [], [])


async def test_broadcast_is_encoded_once(sio: rtio.Server) -> None:
    peers = await crowd(sio, 3)
    await sio.emit("big", {"blob": b"\x00" * 10, "text": "t"})
    raws = [peer.session.raw[-2:] for peer, _ in peers]
    for text, blob in raws:
        assert isinstance(text, PreparedPacket) and isinstance(blob, PreparedPacket)
    assert raws[0][0] is raws[1][0] is raws[2][0]
    assert raws[0][1] is raws[1][1] is raws[2][1]
    assert peers[0][0].take() == [
        '51-["big",{"blob":{"_placeholder":true,"num":0},"text":"t"}]',
        b"\x00" * 10,
    ]


async def test_broadcast_in_a_namespace_only(sio: rtio.Server) -> None:
    sio.of("/other")
    main, _ = (await crowd(sio, 1))[0]
    other = Peer(sio)
    await other.connect("/other")
    other.take()
    await sio.of("/other").emit("hi")
    await sio.emit("hi", namespace="/other")
    assert main.take() == []
    assert other.take() == ['2/other,["hi"]', '2/other,["hi"]']


async def test_volatile_broadcast_skips_clients_not_writable(sio: rtio.Server) -> None:
    (a, _), (b, _) = await crowd(sio, 2)
    b.session.writable = False
    await sio.volatile.emit("v")
    await sio.compress(False).local.emit("k")
    assert a.take() == ['2["v"]', '2["k"]']
    assert b.take() == ['2["k"]']


async def test_broadcast_compress_flag_reaches_the_engine(sio: rtio.Server) -> None:
    (a, _), (b, _) = await crowd(sio, 2)
    await sio.compress(False).emit("plain", b"\x02")
    await sio.emit("zip")
    assert a.session.compressed == b.session.compressed == [False, False, True]
    assert a.session.raw[-3] is b.session.raw[-3]  # still encoded once
    plain = ['51-["plain",{"_placeholder":true,"num":0}]', b"\x02", '2["zip"]']
    assert a.take() == b.take() == plain


async def test_broadcast_with_acks_per_socket_results(sio: rtio.Server) -> None:
    (a, sa), (b, sb), (c, sc) = await crowd(sio, 3)
    waiting = asyncio.ensure_future(sio.timeout(0.05).emit_with_ack("vote", "q"))
    await settle()
    [packet] = a.take()
    assert isinstance(packet, str)
    ack_id = packet[1 : packet.index("[")]
    assert b.take() == [packet] and c.take() == [packet]  # one encoding, one ack id
    a.feed(f'3{ack_id}["yes"]')
    b.feed(f'3{ack_id}["no",2]')
    results = await waiting
    assert dict(results) == {sa.id: "yes", sb.id: ("no", 2)}
    assert results.timed_out == {sc.id} and not results.complete
    assert not sc._acks


async def test_broadcast_with_acks_returns_when_all_answered(sio: rtio.Server) -> None:
    (a, _sa), (b, sb) = await crowd(sio, 2)
    await sb.join("r")
    waiting = asyncio.ensure_future(sio.to("r").emit_with_ack("q", timeout=10))
    await settle()
    assert a.take() == []
    b.feed('30["only"]')
    results = await asyncio.wait_for(waiting, 1)
    assert dict(results) == {sb.id: "only"} and results.complete


async def test_broadcast_with_acks_counts_a_departure_as_missing(sio: rtio.Server) -> None:
    (a, sa), (b, sb) = await crowd(sio, 2)
    waiting = asyncio.ensure_future(sio.emit_with_ack("q"))
    await settle()
    a.feed('30["here"]')
    b.feed("1")
    results = await asyncio.wait_for(waiting, 1)
    assert dict(results) == {sa.id: "here"} and results.timed_out == {sb.id}


async def test_broadcast_with_acks_to_nobody(sio: rtio.Server) -> None:
    results = await asyncio.wait_for(sio.to("empty").emit_with_ack("q"), 1)
    assert dict(results) == {} and results.complete


async def test_server_wide_operations(sio: rtio.Server) -> None:
    (a, sa), (b, sb), (c, sc) = await crowd(sio, 3)
    sa.data["name"] = "ann"
    assert {s.id for s in await sio.fetch_sockets()} == {sa.id, sb.id, sc.id}
    await sio.except_(sc.id).sockets_join("team")
    assert sio.main.room_members("team") == {sa.id, sb.id}
    [found] = await sio.in_("team").except_(sb.id).fetch_sockets()
    assert found is sa and found.data == {"name": "ann"}
    await sio.to(sa.id).sockets_leave("team")
    assert sio.main.room_members("team") == {sb.id}
    await sio.server_side_emit("hello", 1)  # no other servers in memory: nothing happens
    assert (a.take(), b.take(), c.take()) == ([], [], [])
    await sio.in_("team").disconnect_sockets()
    assert b.take() == ["1"] and not sb.connected and not b.session.closed
    await sio.disconnect_sockets(close=True)
    assert a.take() == ["1"] and a.session.closed and c.session.closed
    assert sio.sockets == {} and sio.main.rooms() == set()
    await sio.sockets_join("nobody")
    await sio.sockets_leave("nobody")


async def test_parent_namespace_broadcast_ops(sio: rtio.Server) -> None:
    import re

    parent = sio.of(re.compile(r"/g\d"))
    a, b = Peer(sio), Peer(sio)
    await a.connect("/g1")
    await b.connect("/g2")
    assert len(await parent.fetch_sockets()) == 2
    await parent.sockets_join("all")
    await parent.to("all").emit("x")
    assert a.take() == ['2/g1,["x"]'] and b.take() == ['2/g2,["x"]']
    await parent.disconnect_sockets()
    assert a.take() == ["1/g1,"] and b.take() == ["1/g2,"]
