"""Socket.IO v5 packets as values: the type every parser produces and consumes.

Owns the packet model only; the wire formats live in ``rtio.socketio.parsers``.

    <type>[<attachments>-][<nsp>,][<ack id>][<json>]      (the JSON parser's text form)

``data`` is ``None`` when the packet carries no payload (a DISCONNECT, a CONNECT without
auth); a JSON ``null`` payload is never valid for any packet type, so no second "absent"
marker is needed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["Packet", "PacketType"]


class PacketType(enum.IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


@dataclass(slots=True)
class Packet:
    """One Socket.IO packet. Binary payloads are ``bytes`` anywhere inside ``data``.

    Parsers choose BINARY_EVENT/BINARY_ACK on the wire themselves when ``data`` holds bytes;
    the layer above may always build EVENT/ACK.
    """

    type: PacketType
    nsp: str = "/"
    data: Any = None
    id: int | None = None
