"""The bus's short form of a plain broadcast (rtio/workers/plain_broadcast.py): what it
carries, what it refuses, that it cannot be mistaken for a ClusterMessage, and that
BusAdapters use it (bytes in the data keep the ClusterMessage form)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from loop_bus import LoopBus, join

import rtio
from rtio.cluster import MessageError, WirePacket
from rtio.cluster.messages import Broadcast, ClusterMessage, Heartbeat, ServerSideEmit
from rtio.cluster.wire import WireOptions
from rtio.socketio import BroadcastOptions, Packet
from rtio.workers import plain_broadcast
from rtio.workers.adapter import BusAdapter


def test_a_broadcast_round_trips() -> None:
    opts = BroadcastOptions(frozenset({"a", "b"}), frozenset({"sid1"}), volatile=True,
                            compress=False)  # fmt: skip
    data = ["chat", {"text": "héllo ✓", "n": [1, 2.5, None, True]}]
    payload = plain_broadcast.encode("/room", data, opts)
    assert payload is not None and payload[:1] == plain_broadcast.MARK
    # read as local (delivered there, not published again), as local_options makes them
    assert plain_broadcast.decode(payload) == ("/room", data, replace(opts, local=True))
    plain = BroadcastOptions()
    payload = plain_broadcast.encode("/", ["x"], plain)
    assert payload == b'B["/",["x"],[],[],false,true]'
    assert plain_broadcast.decode(payload) == ("/", ["x"], replace(plain, local=True))


def test_data_json_cannot_carry_is_left_to_the_cluster_message() -> None:
    assert plain_broadcast.encode("/", ["image", b"\x89PNG"], BroadcastOptions()) is None
    assert plain_broadcast.encode("/", ["odd", object()], BroadcastOptions()) is None


@pytest.mark.parametrize("payload", [
    b"B", b"Bnot json", b"B{}", b'B["/",["x"]]', b'B[1,["x"],[],[],false,true]',
    b'B["/",[],[],[],false,true]', b'B["/","x",[],[],false,true]',
    b'B["/",["x"],[[1]],[],false,true]',
])  # fmt: skip
def test_a_bad_payload_is_a_message_error(payload: bytes) -> None:
    with pytest.raises(MessageError):
        plain_broadcast.decode(payload)


def test_no_cluster_message_begins_with_the_mark() -> None:
    messages = [
        ClusterMessage("u", "/", Heartbeat()),
        ClusterMessage("u", "/", Broadcast(WirePacket(["x", 1]), WireOptions())),
        ClusterMessage("u", "/", Broadcast(WirePacket(["x", b"\x00"]), WireOptions())),  # msgpack
        ClusterMessage("u", "/", ServerSideEmit(["e", b"\x01"], "req")),
    ]
    for message in messages:
        assert message.serialize()[:1] != plain_broadcast.MARK


async def test_bus_adapters_send_plain_broadcasts_short_and_bytes_as_before() -> None:
    net: list[LoopBus] = []
    first = rtio.Server(adapter=BusAdapter.factory(LoopBus(0, net)))  # type: ignore[arg-type]
    second = rtio.Server(adapter=BusAdapter.factory(LoopBus(1, net)))  # type: ignore[arg-type]
    join(net)
    sent: list[bytes] = []
    publish = net[0].publish

    def spy(message: ClusterMessage | bytes, to: int = -1) -> bool:
        sent.append(message if isinstance(message, bytes) else message.serialize())
        return publish(message, to)

    net[0].publish = spy  # type: ignore[method-assign]
    delivered: list[tuple[Any, BroadcastOptions, int]] = []
    adapter = second.main.adapter
    assert isinstance(adapter, BusAdapter)
    adapter.deliver = lambda packet, opts, origin: delivered.append(  # type: ignore[method-assign]
        (packet, opts, origin))
    first.to("room").except_("other").emit("chat", {"text": "hi"})
    first.emit("image", b"\x89PNG")
    for _ in range(5):
        await asyncio.sleep(0)
    # the second is msgpack: a map of 4 keys
    assert [payload[:1] for payload in sent] == [plain_broadcast.MARK, b"\x84"]
    (chat, chat_opts, origin), (image, image_opts, _) = delivered
    assert isinstance(chat, Packet) and chat.data == ["chat", {"text": "hi"}] and origin == 0
    assert chat_opts.rooms == {"room"} and chat_opts.except_rooms == {"other"}
    assert chat_opts.local and image_opts.local  # delivered there, not published again
    assert image.data == ["image", b"\x89PNG"] and image_opts.rooms == frozenset()
    assert adapter.received == 2
