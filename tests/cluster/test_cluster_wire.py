"""rtio.cluster's codecs beyond the captured vectors: room names as Node writes them,
binary round trips, the encoding choice, and invalid messages (MessageError, never a crash).
"""

from __future__ import annotations

import json

import pytest

from rtio.cluster import MessageError, classic, messages
from rtio.cluster.classic import ClassicChannels, RequestType
from rtio.cluster.messages import ClusterMessage
from rtio.cluster.sharded import ShardedChannels, SubscriptionMode, looks_like_socket_id
from rtio.cluster.wire import (
    RemoteSocket,
    Room,
    WireFlags,
    WireOptions,
    WirePacket,
    decode,
    encode,
    encode_json,
    has_binary,
    js_string,
)


@pytest.mark.parametrize(
    ("room", "text"),
    [
        ("room", "room"),
        (123, "123"),
        (-7, "-7"),
        (2.0, "2"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (123456789012.5, "123456789012.5"),
        (float("inf"), "Infinity"),
        (float("nan"), "NaN"),
    ],
)
def test_room_names_are_written_as_javascript_writes_numbers(room: object, text: str) -> None:
    assert js_string(room) == text  # type: ignore[arg-type]


def test_a_numeric_room_channel_names_the_rtio_room_of_its_decimal() -> None:
    channels = ClassicChannels("/", "uid001")
    assert channels.room(123) == "socket.io#/#123#"
    assert channels.room_of(channels.room(123)) == "123"
    assert channels.room_of("socket.io#/#a#b#") == "a#b"  # as Node: up to the last "#"


def test_binary_round_trips_in_every_message_kind() -> None:
    blob = bytes(range(256)) * 300  # bin 32 territory
    packet = WirePacket(["e", blob, {"deep": [b"", b"\x00"]}], nsp="/")
    broadcast = classic.BroadcastMessage("uid001", packet, WireOptions())
    assert classic.BroadcastMessage.parse(broadcast.serialize()) == broadcast
    # a classic request holding bytes goes as msgpack (Node decodes both), not as a
    # JSON {"type":"Buffer"} object
    request = classic.ServerSideEmitRequest("uid001", ["e", blob], "rq0001")
    payload = classic.serialize_request(request)
    assert payload[0] != ord("{")
    assert classic.parse_request(payload) == request
    response = classic.ServerSideEmitResponse("rq0001", blob)
    parsed = classic.parse_response(
        classic.serialize_response(response), lambda _: RequestType.SERVER_SIDE_EMIT
    )
    assert parsed == response
    socket = RemoteSocket("sid", {"auth": {"token": b"\x01"}}, ("sid", 5), {"k": b"\x02"})
    message = ClusterMessage("a" * 16, "/", messages.FetchSocketsResponse("rq", (socket,)))
    payload = message.serialize()
    assert payload[0] != ord("{") and ClusterMessage.parse(payload) == message


def test_json_unless_binary() -> None:
    assert encode({"a": "é"}) == '{"a":"é"}'.encode()
    assert encode({"a": [1, {"b": b"x"}]})[0] == 0x81  # a fixmap of one key
    assert has_binary(({"x": bytearray(b"1")},))
    assert not has_binary({"x": "bytes"})
    # messages that never hold binary are JSON even if asked otherwise
    close = ClusterMessage("u", "/", messages.AdapterClose())
    assert close.serialize() == b'{"type":13,"uid":"u","nsp":"/"}'


def test_notepack_undefined_and_legacy_arraybuffer() -> None:
    # [undefined, ArrayBuffer as ext 0] as notepack.io 1.x wrote them
    payload = bytes([0x92, 0xD4, 0x00, 0x00, 0xC7, 0x02, 0x00, 0xAB, 0xCD])
    assert decode(payload) == [None, b"\xab\xcd"]


def test_flags_keep_the_order_they_came_in() -> None:
    payload = b'{"rooms":[],"except":[],"flags":{"timeout":5,"volatile":true}}'
    opts = WireOptions.parse(decode(payload))
    assert opts.flags == WireFlags(volatile=True, timeout=5)
    assert opts.to_wire()["flags"] == {"timeout": 5, "volatile": True}
    assert list(opts.to_wire()["flags"]) == ["timeout", "volatile"]
    assert list(WireFlags(volatile=True, timeout=5).to_wire()) == ["volatile", "timeout"]


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{not json",
        b"\xc1",  # never used in msgpack
        b'{"type":99,"uid":"u"}',
        b'{"type":"3"}',
        b'{"type":5,"uid":"u","opts":{"rooms":[],"except":[]}}',  # no requestId
        b'{"type":2,"opts":{"rooms":[null],"except":[]},"rooms":[]}',
        b'{"type":6,"uid":"u","data":"x"}',
        b'{"type":8,"requestId":"r","clientCount":1}',  # a response on the request channel
        b"[1,2]",
    ],
)
def test_invalid_classic_requests_raise_message_error(payload: bytes) -> None:
    with pytest.raises(MessageError):
        classic.parse_request(payload)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"type":3,"data":{"packet":{"type":2,"data":"x"},"opts":{}},"uid":"u","nsp":"/"}',
        b'{"type":3,"data":{"packet":{"type":2,"data":[]},"opts":{"flags":{"volatile":1}}},"uid":"u"}',
        b'{"type":3,"data":{"packet":{"type":2,"data":[]},"opts":{"flags":{"timeout":"1"}}},"uid":"u"}',
        b'{"type":7,"data":{"opts":{}},"uid":"u","nsp":"/"}',
        b'{"type":8,"data":{"requestId":"r","sockets":[{"rooms":[]}]},"uid":"u","nsp":"/"}',
        b'{"type":9,"data":{"packet":{}},"uid":"u","nsp":"/"}',
        b'{"type":14,"uid":"u","nsp":"/"}',
        b'{"type":4,"data":[],"uid":"u","nsp":"/"}',
        b'{"type":3,"uid":5,"nsp":"/"}',
    ],
)
def test_invalid_cluster_messages_raise_message_error(payload: bytes) -> None:
    with pytest.raises(MessageError):
        ClusterMessage.parse(payload)


def test_invalid_broadcasts_and_responses_raise_message_error() -> None:
    with pytest.raises(MessageError):
        classic.BroadcastMessage.parse(encode([1, 2]))
    with pytest.raises(MessageError):
        classic.BroadcastMessage.parse(encode(["u", {"type": 2}, {}], True))
    with pytest.raises(MessageError):
        classic.parse_response(b'{"requestId":"r","sockets":"x"}', lambda _: RequestType.SOCKETS)
    with pytest.raises(MessageError):
        classic.parse_response(b'{"requestId":"r"}', lambda _: RequestType.REMOTE_JOIN)
    with pytest.raises(MessageError):
        classic.parse_response(b'{"sockets":[]}', lambda _: RequestType.SOCKETS)


def test_an_emitter_cluster_message_without_uid() -> None:
    message = ClusterMessage.parse(b'{"type":9,"data":{"packet":["e"]},"nsp":"/"}')
    assert message.uid == "" and message.body == messages.ServerSideEmit(["e"])


def test_sharded_subscription_modes() -> None:
    def broadcast(room: object, request_id: str | None = None) -> ClusterMessage:
        body = messages.Broadcast(WirePacket(["e"]), WireOptions((room,)), request_id)  # type: ignore[arg-type]
        return ClusterMessage("u", "/", body)

    sid = "S" * 20
    dynamic = ShardedChannels("/", "u")
    assert dynamic.for_message(broadcast("room")) == "socket.io#/#room#"
    assert dynamic.for_message(broadcast(sid)) == "socket.io#/#"
    assert dynamic.for_message(broadcast("room", "rq")) == "socket.io#/#"
    private = ShardedChannels("/", "u", mode=SubscriptionMode.DYNAMIC_PRIVATE)
    assert private.for_message(broadcast(sid)) == f"socket.io#/#{sid}#"
    static = ShardedChannels("/", "u", mode=SubscriptionMode.STATIC)
    assert static.for_message(broadcast("room")) == "socket.io#/#"
    assert dynamic.subscribes_to_room("room", is_private=False)
    assert not dynamic.subscribes_to_room(sid, is_private=True)
    assert private.subscribes_to_room(sid, is_private=True)
    assert not static.subscribes_to_room("room", is_private=False)
    assert looks_like_socket_id(sid) and not looks_like_socket_id(12345678901234567890)
    assert dynamic.response == "socket.io#/#u#"


def test_room_names_for_rtio() -> None:
    opts = WireOptions(("room", 123, 1.5), ("S" * 20, 7))
    assert opts.room_names() == (frozenset({"room", "123", "1.5"}), frozenset({"S" * 20, "7"}))


def _sockets(cached: bool) -> tuple[RemoteSocket, ...]:
    out = []
    for n, data in enumerate([None, {"user": "é\u2028", "n": 1.5}, [1, None, True], "x"]):
        handshake = {"headers": {"host": "h"}, "issued": 1700000000000 + n, "auth": {"k": "ü"}}
        text = json.dumps(handshake, separators=(",", ":"), ensure_ascii=False) if cached else None
        rooms: tuple[Room, ...] = (f"sid{n}", "room1", 123) if n == 2 else (f"sid{n}",)
        out.append(RemoteSocket(f"sid{n}", handshake, rooms, data, text))
    return tuple(out)


@pytest.mark.parametrize("cached", [True, False])
def test_fetch_answers_written_from_cached_handshakes_are_the_same_bytes(cached: bool) -> None:
    """The fast path of a fetch answer (sockets' JSON spliced in, handshakes pre-encoded)
    writes exactly what encoding the whole answer writes, on both wires."""
    sockets = _sockets(cached)
    answer = classic.FetchSocketsResponse("req", sockets)
    assert answer.serialize() == encode_json(answer.to_wire())
    assert answer.serialize("uid1") == encode_json({**answer.to_wire(), "uid": "uid1"})
    assert classic.serialize_response(answer) == encode_json(answer.to_wire())
    message = ClusterMessage("0123456789abcdef", "/é", messages.FetchSocketsResponse("r", sockets))
    assert message.serialize() == encode_json(message.to_wire())
    assert ClusterMessage.parse(message.serialize()) == message
    # a socket's data holding bytes: the whole answer goes as msgpack, as before
    with_bytes = (*sockets, RemoteSocket("b", {}, ("b",), {"blob": b"\x00\x01"}, "{}"))
    packed = classic.FetchSocketsResponse("req", with_bytes).serialize("u")
    assert packed[0] != ord("{") and decode(packed)["sockets"][-1]["data"] == {"blob": b"\x00\x01"}
    with pytest.raises(ValueError):  # NaN: not JSON, not sendable (the adapter drops data)
        classic.FetchSocketsResponse("r", (RemoteSocket("n", {}, (), float("nan")),)).serialize()


def test_remote_sockets_parse_fast_and_slow_paths_agree() -> None:
    usual = {"id": "s1", "handshake": {"a": 1}, "rooms": ["s1", "r"], "data": {"x": 1}}
    assert RemoteSocket.parse(usual) == RemoteSocket("s1", {"a": 1}, ("s1", "r"), {"x": 1})
    numeric = {**usual, "rooms": ["s1", 123, 1.5]}
    assert RemoteSocket.parse(numeric).rooms == ("s1", 123, 1.5)
    for bad in ({**usual, "rooms": ["s1", None]}, {**usual, "id": 5}, {**usual, "rooms": "r"},
                {**usual, "handshake": []}, ["s1"]):  # fmt: skip
        with pytest.raises(MessageError):
            RemoteSocket.parse(bad)
