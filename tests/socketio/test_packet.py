"""rtio.socketio.packet: the packet model every parser produces and consumes."""

from __future__ import annotations

from rtio.socketio.packet import Packet, PacketType


def test_packet_types_are_the_wire_numbers() -> None:
    assert [int(t) for t in PacketType] == [0, 1, 2, 3, 4, 5, 6]
    assert PacketType.BINARY_ACK.name == "BINARY_ACK"


def test_a_packet_defaults_to_the_main_namespace_without_data_or_id() -> None:
    packet = Packet(PacketType.DISCONNECT)
    assert (packet.nsp, packet.data, packet.id) == ("/", None, None)
    assert Packet(PacketType.EVENT, "/a", ["e"], 3) == Packet(PacketType.EVENT, "/a", ["e"], 3)
    assert not hasattr(packet, "__dict__")  # slots
