"""rtio.cluster's codecs against the bytes Node's packages published on a real Redis.

tests/cluster/vectors.json was captured by tests/cluster/capture.mjs (socket.io 4.8 with
@socket.io/redis-adapter 8.3, classic and sharded, @socket.io/redis-emitter 5.1 and
socket.io-adapter 2.5's ClusterAdapterWithHeartbeat; versions in the file). Every vector
must parse, and serialize back to the very same bytes; the tests below also check what
each one says. No Redis and no Node needed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rtio.cluster import classic, messages
from rtio.cluster.classic import ClassicChannels, RequestType
from rtio.cluster.emitter import EmitterWire
from rtio.cluster.messages import ClusterMessage, MessageType
from rtio.cluster.sharded import ShardedChannels
from rtio.cluster.wire import WireFlags, WireOptions, WirePacket

FIXTURE = json.loads((Path(__file__).parent / "vectors.json").read_text())
CONTEXT: dict[str, Any] = FIXTURE["context"]
VECTORS: list[dict[str, str]] = FIXTURE["vectors"]
UID_A, UID_B = CONTEXT["classic"]["uidA"], CONTEXT["classic"]["uidB"]
UID_C, UID_D = CONTEXT["sharded"]["uidC"], CONTEXT["sharded"]["uidD"]


def vectors(step: str) -> list[tuple[str, bytes]]:
    found = [(v["channel"], bytes.fromhex(v["hex"])) for v in VECTORS if v["step"] == step]
    assert found, f"no vector for {step}"
    return found


def one(step: str) -> tuple[str, bytes]:
    (found,) = vectors(step)
    return found


# the type of the request each response step answers (untyped responses need it)
PENDING = {"fetchSockets": RequestType.REMOTE_FETCH, "allRooms": RequestType.ALL_ROOMS}


def pending_for(step: str) -> Callable[[str], RequestType | None]:
    for word, kind in PENDING.items():
        if word in step:
            return lambda _id: kind
    if step == "classic.sockets":
        return lambda _id: RequestType.SOCKETS
    return lambda _id: RequestType.BROADCAST


def reserialize(vector: dict[str, str]) -> bytes:
    """Parse a vector with the codec its channel calls for, and serialize it again."""
    channel, payload, step = vector["channel"], bytes.fromhex(vector["hex"]), vector["step"]
    if vector["how"] == "spublish" or channel.startswith("capture-cluster#"):
        return ClusterMessage.parse(payload).serialize()
    if channel.startswith("socket.io-request#"):
        return classic.serialize_request(classic.parse_request(payload))
    if channel.startswith("socket.io-response#"):
        response = classic.parse_response(payload, pending_for(step))
        assert response is not None
        return classic.serialize_response(response)
    return classic.BroadcastMessage.parse(payload).serialize()


@pytest.mark.parametrize("vector", VECTORS, ids=[f"{v['step']}@{v['channel']}" for v in VECTORS])
def test_every_vector_round_trips_byte_for_byte(vector: dict[str, str]) -> None:
    assert reserialize(vector) == bytes.fromhex(vector["hex"])


def test_the_fixture_covers_every_message_type() -> None:
    classic_types: set[int] = set()
    cluster_types: set[int] = set()
    for v in VECTORS:
        payload = bytes.fromhex(v["hex"])
        if v["how"] == "spublish" or v["channel"].startswith("capture-cluster#"):
            cluster_types.add(ClusterMessage.parse(payload).type)
        elif v["channel"].startswith("socket.io-request#"):
            classic_types.add(classic.parse_request(payload).type)
        elif v["channel"].startswith("socket.io-response#"):
            response = classic.parse_response(payload, pending_for(v["step"]))
            kinds = {
                classic.BroadcastClientCountResponse: 8,
                classic.BroadcastAckResponse: 9,
            }
            classic_types.add(kinds.get(type(response), -1))
    assert classic_types >= set(range(8)) | {8, 9}
    assert cluster_types == set(MessageType)


# -- the classic adapter -----------------------------------------------------------------


def test_classic_broadcast_to_everybody() -> None:
    channel, payload = one("classic.emit")
    assert channel == ClassicChannels("/", UID_A).broadcast == "socket.io#/#"
    message = classic.BroadcastMessage.parse(payload)
    assert message.uid == UID_A
    assert message.packet == WirePacket(
        ["hello", "world", 1, 1.5, -3, {"a": True, "b": None}], 2, "/"
    )
    assert message.opts == WireOptions((), (), WireFlags())


def test_classic_broadcast_to_one_room_uses_the_room_channel() -> None:
    channel, payload = one("classic.emit.room")
    assert channel == "socket.io#/#room1#"
    channels = ClassicChannels("/", UID_B)
    assert channels.room_of(channel) == "room1"
    assert channels.room_of("socket.io#/#") == ""
    assert channels.room_of("socket.io#/custom#") is None
    assert classic.BroadcastMessage.parse(payload).opts.rooms == ("room1",)


def test_a_numeric_room_is_a_number_on_the_wire_and_its_decimal_in_the_channel() -> None:
    channel, payload = one("classic.emit.numeric-room")
    message = classic.BroadcastMessage.parse(payload)
    assert message.opts.rooms == (123,)
    assert channel == ClassicChannels("/", UID_A).for_broadcast(message.opts.rooms)
    assert ClassicChannels("/", UID_A).room_of(channel) == "123"


def test_classic_flags_and_except() -> None:
    assert classic.BroadcastMessage.parse(one("classic.emit.volatile")[1]).opts.flags == WireFlags(
        volatile=True
    )
    assert classic.BroadcastMessage.parse(one("classic.emit.compress")[1]).opts.flags == WireFlags(
        compress=False
    )
    message = classic.BroadcastMessage.parse(one("classic.emit.except")[1])
    assert message.opts.except_rooms == ("room1",)
    channel, payload = one("classic.emit.two-rooms")
    assert channel == "socket.io#/#"
    assert classic.BroadcastMessage.parse(payload).opts.rooms == ("room1", "room2")


def test_binary_stays_inline_as_msgpack_bin() -> None:
    message = classic.BroadcastMessage.parse(one("classic.emit.binary")[1])
    assert message.packet.data == ["bin", b"\x01\x02\x03", {"nested": b"\xff"}]


def test_unicode_and_other_namespaces() -> None:
    message = classic.BroadcastMessage.parse(one("classic.emit.unicode")[1])
    assert message.packet.data == ["ünï", "😀", "x" * 40]
    channel, payload = one("classic.emit.nsp")
    message = classic.BroadcastMessage.parse(payload)
    assert channel == "socket.io#/custom#" and message.nsp == "/custom"


def test_classic_requests() -> None:
    join = classic.parse_request(one("classic.socketsJoin")[1])
    assert join == classic.RemoteJoinRequest(UID_A, WireOptions(flags=None), ("room3",))
    leave = classic.parse_request(one("classic.socketsLeave")[1])
    assert leave == classic.RemoteLeaveRequest(
        UID_A, WireOptions(("room1",), ("123",), None), ("room3",)
    )
    kick = classic.parse_request(one("classic.disconnectSockets.close")[1])
    assert kick == classic.RemoteDisconnectRequest(UID_A, WireOptions(("kick",), (), None), True)
    soft = classic.parse_request(one("classic.disconnectSockets")[1])
    assert isinstance(soft, classic.RemoteDisconnectRequest) and soft.close is False
    emit = classic.parse_request(one("classic.serverSideEmit")[1])
    assert emit == classic.ServerSideEmitRequest(UID_A, ["ping", 1, "two"])


def test_classic_fetch_sockets_and_its_answers_on_both_response_channels() -> None:
    (_, request), (resp_channel, response) = vectors("classic.fetchSockets.specific")
    fetch = classic.parse_request(request)
    assert isinstance(fetch, classic.RemoteFetchRequest)
    assert fetch.opts.rooms == ("room1",)
    # B publishes on the requester's specific channel, A on the shared one
    assert resp_channel == ClassicChannels("/", UID_A).specific_response
    answer = classic.parse_response(response, {fetch.request_id: RequestType.REMOTE_FETCH}.get)
    assert isinstance(answer, classic.FetchSocketsResponse)
    (socket,) = answer.sockets
    assert socket.id == CONTEXT["classic"]["sids"]["cB"]
    assert socket.rooms == (socket.id, "room1", 123)
    assert socket.data == {"user": "b", "n": 1}
    assert set(socket.handshake) == {
        "headers", "time", "address", "xdomain", "secure", "issued", "url", "query", "auth",
    }  # fmt: skip
    _, shared = vectors("classic.fetchSockets.shared")[1]
    assert vectors("classic.fetchSockets.shared")[1][0] == "socket.io-response#/#"
    # an answer to a request that is not ours is ignored
    assert classic.parse_response(shared, {}.get) is None


def test_classic_all_rooms_and_sockets() -> None:
    (_, request), (_, response) = vectors("classic.allRooms")
    assert isinstance(classic.parse_request(request), classic.AllRoomsRequest)
    rooms = classic.parse_response(response, lambda _: RequestType.ALL_ROOMS)
    assert isinstance(rooms, classic.AllRoomsResponse)
    assert set(rooms.rooms) == {CONTEXT["classic"]["sids"]["cB"], "room1", 123}
    answers = vectors("classic.sockets")[1:]
    sids = set()
    for _, payload in answers:
        response = classic.parse_response(payload, lambda _: RequestType.SOCKETS)
        assert isinstance(response, classic.SocketsResponse)
        sids.update(response.sockets)
    assert sids == {CONTEXT["classic"]["sids"]["cA"], CONTEXT["classic"]["sids"]["cB"]}


def test_classic_server_side_emit_with_ack() -> None:
    (_, request), (channel, response) = vectors("classic.serverSideEmit.ack")
    emit = classic.parse_request(request)
    assert isinstance(emit, classic.ServerSideEmitRequest) and emit.request_id
    assert channel == "socket.io-response#/#"  # always the shared channel
    answer = classic.parse_response(response, lambda _: RequestType.SERVER_SIDE_EMIT)
    assert answer == classic.ServerSideEmitResponse(
        emit.request_id, {"answer": "q?", "from": "other"}
    )


def test_classic_broadcast_with_ack_count_then_acks() -> None:
    (_, request), (_, count), (_, ack) = vectors("classic.broadcast.ack")
    assert request[0] != ord("{")  # msgpack
    broadcast = classic.parse_request(request)
    assert isinstance(broadcast, classic.BroadcastRequest)
    assert broadcast.packet == WirePacket(["ack-me", "x"], 2, "/")
    assert broadcast.opts.flags == WireFlags(timeout=1000)
    rid = broadcast.request_id
    assert classic.parse_response(count, {rid: RequestType.BROADCAST}.get) == (
        classic.BroadcastClientCountResponse(rid, 1)
    )
    # the first ack argument only ("pong"; the client also sent bytes)
    assert classic.parse_response(ack, {rid: RequestType.BROADCAST}.get) == (
        classic.BroadcastAckResponse(rid, "pong")
    )


# -- the emitter -------------------------------------------------------------------------


def emitted(step: str) -> tuple[str, bytes]:
    wire = EmitterWire()
    flags = {"volatile": WireFlags(volatile=True), "compress": WireFlags(compress=False)}
    table: dict[str, tuple[str, bytes]] = {
        "emitter.emit": wire.emit("from-emitter", [1, "a"]),
        "emitter.emit.room": wire.emit("e-room", rooms=["room1"]),
        "emitter.emit.numeric-room": wire.emit("e-num", rooms=[123]),
        "emitter.emit.except": wire.emit("e-except", except_rooms=["room1"]),
        "emitter.emit.volatile": wire.emit("e-volatile", flags=flags["volatile"]),
        "emitter.emit.compress": wire.emit("e-compress", flags=flags["compress"]),
        "emitter.emit.binary": wire.emit("e-bin", [b"\x00\x01\x02"]),
        "emitter.emit.nsp": EmitterWire("/custom").emit("e-nsp", rooms=["room1", "room2"]),
        "emitter.socketsJoin": wire.sockets_join(["room4"], select=["room1"]),
        "emitter.socketsLeave": wire.sockets_leave(["room4", "room3"]),
        "emitter.disconnectSockets": wire.disconnect_sockets(True, select=["nobody"]),
        "emitter.serverSideEmit": wire.server_side_emit("from-emitter", [{"k": 1}]),
    }
    return table[step]


@pytest.mark.parametrize(
    "step", sorted({v["step"] for v in VECTORS if v["step"].startswith("emitter.")})
)
def test_rtio_emitter_publishes_what_the_npm_emitter_publishes(step: str) -> None:
    assert emitted(step) == one(step)


def test_emitter_refuses_reserved_events() -> None:
    with pytest.raises(ValueError, match="reserved"):
        EmitterWire().emit("disconnect")


# -- the sharded adapter and the ClusterAdapter messages ---------------------------------


def cluster(step: str, index: int = 0) -> tuple[str, ClusterMessage]:
    channel, payload = vectors(step)[index]
    return channel, ClusterMessage.parse(payload)


def test_sharded_broadcast_channels() -> None:
    channels = ShardedChannels("/", UID_C)
    for step, expected in [
        ("sharded.emit", "socket.io#/#"),
        ("sharded.emit.room", "socket.io#/#room1#"),
        ("sharded.emit.numeric-room", "socket.io#/#123#"),
        ("sharded.emit.socket-id-like-room", "socket.io#/#"),
        ("sharded.emit.two-rooms", "socket.io#/#"),
        ("sharded.broadcast.ack", "socket.io#/#"),
    ]:
        channel, message = cluster(step)
        assert channel == expected == channels.for_message(message), step
        assert message.uid == UID_C and message.nsp == "/"
    _, message = cluster("sharded.emit.socket-id-like-room")
    assert message.body == messages.Broadcast(
        WirePacket(["l"]), WireOptions((CONTEXT["sharded"]["longRoom"],))
    )


def test_sharded_binary_is_msgpack_and_json_otherwise() -> None:
    _, payload = one("sharded.emit.binary")
    assert payload[0] != ord("{")
    message = ClusterMessage.parse(payload)
    assert isinstance(message.body, messages.Broadcast)
    assert message.body.packet.data == ["bin", b"\x01\x02\x03"]
    assert message.body.packet.nsp is None  # the nsp is the message's
    assert one("sharded.emit")[1][0] == ord("{")


def test_sharded_requests_and_responses() -> None:
    channels = ShardedChannels("/", UID_C)
    assert cluster("sharded.socketsJoin")[1].body == messages.SocketsJoin(WireOptions(), ("room3",))
    assert cluster("sharded.socketsLeave")[1].body == messages.SocketsLeave(
        WireOptions(("room1",)), ("room3",)
    )
    assert cluster("sharded.disconnectSockets")[1].body == messages.DisconnectSockets(
        WireOptions(("kick",)), True
    )
    _, fetch = cluster("sharded.fetchSockets", 0)
    assert isinstance(fetch.body, messages.FetchSockets)
    assert fetch.body.opts.flags == WireFlags(timeout=300)
    channel, answer = cluster("sharded.fetchSockets", 1)
    assert channel == channels.response and answer.uid == UID_D and answer.is_response
    assert isinstance(answer.body, messages.FetchSocketsResponse)
    assert answer.body.request_id == fetch.body.request_id
    assert answer.body.sockets[0].rooms[-2:] == (123, CONTEXT["sharded"]["longRoom"])
    assert cluster("sharded.serverSideEmit")[1].body == messages.ServerSideEmit(["ping", 1])
    _, ask = cluster("sharded.serverSideEmit.ack", 0)
    _, reply = cluster("sharded.serverSideEmit.ack", 1)
    assert isinstance(ask.body, messages.ServerSideEmit) and ask.body.request_id
    assert reply.body == messages.ServerSideEmitResponse(
        ask.body.request_id, {"answer": "q?", "from": "other"}
    )
    _, ask = cluster("sharded.serverSideEmit.ack.binary", 0)
    _, reply = cluster("sharded.serverSideEmit.ack.binary", 1)
    assert ask.body == messages.ServerSideEmit(["ask-binary", b"\x04\x05"], ask.body.request_id)  # type: ignore[union-attr]
    assert reply.body == messages.ServerSideEmitResponse(ask.body.request_id, b"\x07\x08\x09")  # type: ignore[union-attr]
    bodies = [m.body for _, m in (cluster("sharded.broadcast.ack", i) for i in range(3))]
    request_id = bodies[0].request_id  # type: ignore[union-attr]
    assert request_id is not None
    assert bodies[1:] == [
        messages.BroadcastClientCount(request_id, 1),
        messages.BroadcastAck(request_id, "pong"),
    ]


def test_heartbeat_messages_have_no_data() -> None:
    uid = CONTEXT["heartbeat"]["uid"]
    for step, body in [
        ("heartbeat.initial", messages.InitialHeartbeat()),
        ("heartbeat.heartbeat", messages.Heartbeat()),
        ("heartbeat.close", messages.AdapterClose()),
    ]:
        assert cluster(step)[1] == ClusterMessage(uid, "/", body)
