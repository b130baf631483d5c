"""µs of Python per broadcast that spans the workers, on the bus only: publishing (the
message made and serialized, its frame) and reading it (parsed, the local packet and
options made), in socket.io-adapter's ClusterMessage form and in the bus's short form of a
plain broadcast (rtio/workers/plain_broadcast.py).

    .venv/bin/python benchmarks/workers/bus_codec.py

Best of 5 runs of 20,000 each, no I/O.
"""

from __future__ import annotations

import sys
import timeit
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rtio.cluster import WirePacket
from rtio.cluster.convert import local_options, wire_options
from rtio.cluster.messages import Broadcast, ClusterMessage
from rtio.socketio import BroadcastOptions, Packet, PacketType
from rtio.workers import plain_broadcast
from rtio.workers.frames import FrameKind, encode_frame

OPTS = BroadcastOptions(rooms=frozenset({"room"}))
PACKET = Packet(PacketType.EVENT, "/", ["heard", 123])


def publish_cluster_message() -> bytes:
    body = Broadcast(WirePacket(list(PACKET.data)), wire_options(OPTS))
    return encode_frame(FrameKind.DELIVER, 1, ClusterMessage("abcdefgh", "/", body).serialize())


def publish_short() -> bytes:
    payload = plain_broadcast.encode("/", PACKET.data, OPTS)
    assert payload is not None
    return encode_frame(FrameKind.DELIVER, 1, payload)


# what a reader gets: the frame without its 7-byte header (length, kind, peer; frames.py)
CLUSTER_PAYLOAD = publish_cluster_message()[7:]
SHORT_PAYLOAD = publish_short()[7:]


def read_cluster_message() -> BroadcastOptions:
    message = ClusterMessage.parse(CLUSTER_PAYLOAD)
    body = message.body
    assert isinstance(body, Broadcast)
    Packet(PacketType.EVENT, message.nsp, body.packet.data)
    return local_options(body.opts)


def read_short() -> BroadcastOptions:
    nsp, data, opts = plain_broadcast.decode(SHORT_PAYLOAD)
    Packet(PacketType.EVENT, nsp, data)
    return opts


def main() -> None:
    assert read_cluster_message() == read_short() == replace(OPTS, local=True)
    for fn in (publish_cluster_message, read_cluster_message, publish_short, read_short):
        n = 20_000
        best = min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6
        print(f"{fn.__name__:24} {best:6.2f} µs")


if __name__ == "__main__":
    main()
