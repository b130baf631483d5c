"""rtio.socketio.adapter: the room bookkeeping (a socket in its own room only costs no set)."""

from __future__ import annotations

from sio_loopback import crowd, settle

import rtio


async def test_a_socket_in_its_own_room_only_costs_no_set(sio: rtio.Server) -> None:
    [(_, sa)] = await crowd(sio, 1)
    adapter = sio.main.adapter
    assert adapter.sids == {sa.id: None} and adapter.rooms == {}  # the own room is implied
    assert sa.rooms == {sa.id} and sio.main.rooms() == {sa.id}
    assert sio.main.room_members(sa.id) == {sa.id}


async def test_own_rooms_joined_by_others_and_left(sio: rtio.Server) -> None:
    (a, sa), (b, sb), (c, sc) = await crowd(sio, 3)
    await sb.join(sa.id)  # b joins the room named by a's id (allowed, as in Node)
    assert sio.main.room_members(sa.id) == {sa.id, sb.id}
    await sio.to(sa.id).emit("x")
    assert (a.take(), b.take(), c.take()) == (['2["x"]'], ['2["x"]'], [])
    await sb.broadcast.emit("y")  # everyone but b (b's own room)
    assert (a.take(), b.take(), c.take()) == (['2["y"]'], [], ['2["y"]'])
    await sa.join("red")  # a gets the explicit bookkeeping, b stays a member of a's room
    assert sa.rooms == {sa.id, "red"} and sio.main.room_members(sa.id) == {sa.id, sb.id}
    await sc.leave(sc.id)  # c leaves its own room: to(c.id) no longer reaches it
    assert sc.rooms == set() and sc.id not in sio.main.rooms()
    await sio.to(sc.id).emit("z")
    assert c.take() == []
    await sio.emit("all")  # still a socket of the namespace
    assert (a.take(), b.take(), c.take()) == (['2["all"]'], ['2["all"]'], ['2["all"]'])
    await sc.join(sc.id)
    assert sc.rooms == {sc.id}
    await sio.to(sc.id).emit("z")
    assert c.take() == ['2["z"]']
    await sa.leave("nowhere")
    await sb.leave("nowhere")  # not in that room: nothing changes
    assert sb.rooms == {sb.id, sa.id}
    a.session.close()
    await settle()
    assert sio.main.room_members(sa.id) == {sb.id}  # b's membership outlives a
    assert sio.main.rooms() == {sa.id, sb.id, sc.id}
