"""The parser interface: encode a packet to Engine.IO messages, decode messages to packets.

Owns the contract every parser keeps (and the layer above relies on); knows no wire format.
Sans-I/O and stateless except for the per-connection :class:`Decoder`, which reassembles
a packet from its binary attachments (the JSON parser) or decodes one message per packet
(the msgpack parser). docs/PARSERS.md shows how to write and plug in a third.

The contract, in short:

- ``Parser.encode(packet)`` is a pure function of the packet: the server encodes a
  broadcast once per parser and sends the same messages to every connection using it.
  It raises TypeError (or ValueError) for data the format cannot carry; the packet is not
  sent and the error reaches the application's ``emit``.
- A parser may also have ``encode_ack(nsp, ack_id, args)``, the same messages as
  ``encode(Packet(ACK, nsp, args, ack_id))`` made faster (the answer to nearly every
  event); the server uses it when present.
- ``Parser.new_decoder()`` gives each connection its own :class:`Decoder`. ``feed`` takes
  one Engine.IO message (``str`` for a text frame or record, ``bytes`` for a binary one),
  returns a packet once one is complete, and raises :class:`ParseError`, and nothing else,
  for anything invalid: the connection is then closed with reason "parse error".
- A decoded packet satisfies what both built-in parsers guarantee:

  ==================  ==========================================================
  ``type``            a :class:`PacketType`; BINARY_* only if the format has them
  ``nsp``             a ``str``
  ``id``              ``None`` or an ``int``
  CONNECT             ``data`` is ``None`` (no auth) or a ``dict``
  DISCONNECT          ``data`` is ``None``
  EVENT               ``data`` is a non-empty ``list`` whose first item, the event
                      name, is a ``str`` not reserved by the client (``connect``,
                      ``disconnect``...) or a number
  ACK                 ``data`` is a ``list``
  CONNECT_ERROR       ``data`` is a ``str`` or a ``dict``
  ==================  ==========================================================

  Binary data arrives as ``bytes`` anywhere inside ``data``.
"""

from __future__ import annotations

from typing import Protocol

from ..errors import SocketIOError
from ..packet import Packet, PacketType

__all__ = [
    "RESERVED_EVENTS",
    "Decoder",
    "ParseError",
    "Parser",
    "check_event_name",
    "check_packet",
]

#: Event names the JS client reserves for itself: an EVENT carrying one is invalid.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


class ParseError(SocketIOError, ValueError):
    """A message that is not a valid packet: the connection is closed with "parse error".
    Under :class:`~rtio.socketio.SocketIOError`; also a ValueError, as it was before.

    The one exception a :class:`Decoder` raises for bad input; its message says what was
    wrong (for logs, never sent to the peer)."""


class Decoder(Protocol):
    """Per-connection decoding state: one instance per connection, fed its messages in
    arrival order, from one thread."""

    def feed(self, message: str | bytes) -> Packet | None:
        """Take one Engine.IO message; return a complete packet, or None while waiting for
        more messages (the JSON parser's binary attachments). Raises ParseError, and only
        ParseError, on an invalid message; the connection is closed after it, so the
        decoder need not recover."""
        ...


class Parser(Protocol):
    """A wire format for packets. Instances are immutable and shared by many connections
    (and threads): per-connection state lives in the :class:`Decoder` they create.

    Structural: any object with these members is a parser; there is nothing to inherit.
    """

    #: Short name, used to pick the parser per connection (e.g. "json", "msgpack") and
    #: in logs.
    name: str

    def encode(self, packet: Packet) -> list[str | bytes]:
        """The Engine.IO messages for one packet, in order: the packet itself, then its
        binary attachments if the format uses any. A pure function of the packet (the
        result may be sent to many connections). Raises TypeError or ValueError for data
        the format cannot carry."""
        ...

    def new_decoder(self) -> Decoder:
        """A fresh decoder for one connection."""
        ...


def check_event_name(data: list[object]) -> None:
    """An EVENT's arguments start with its name: a string not reserved by the client, or a
    number (what the JS client accepts)."""
    if not data:
        raise ParseError("invalid payload: an event needs a name")
    name = data[0]
    if type(name) is str:
        if name in RESERVED_EVENTS:
            raise ParseError("invalid payload: reserved event name")
    elif type(name) is not int and type(name) is not float:
        raise ParseError("invalid payload: an event name is a string or a number")


def check_packet(ptype: object, nsp: object, data: object = None, ack_id: object = None) -> Packet:
    """The packet of fields a decoder read, checked against the contract above (``data``
    None: no payload; ``ack_id`` None: no ack). Raises ParseError. For decoders of new
    formats; the built-in ones check as they parse."""
    if type(ptype) is not int or not 0 <= ptype <= PacketType.BINARY_ACK:
        raise ParseError("invalid packet type")
    kind = PacketType(ptype)
    if type(nsp) is not str:
        raise ParseError("invalid namespace")
    if ack_id is not None and type(ack_id) is not int:
        raise ParseError("invalid packet id")
    if kind is PacketType.EVENT or kind is PacketType.BINARY_EVENT:
        if type(data) is not list:
            raise ParseError("invalid payload: an event needs a name")
        check_event_name(data)
    elif kind is PacketType.ACK or kind is PacketType.BINARY_ACK:
        if type(data) is not list:
            raise ParseError("invalid payload")
    elif kind is PacketType.CONNECT:
        if data is not None and type(data) is not dict:
            raise ParseError("invalid payload")
    elif kind is PacketType.CONNECT_ERROR:
        if type(data) is not str and type(data) is not dict:
            raise ParseError("invalid payload")
    elif data is not None:  # DISCONNECT
        raise ParseError("invalid payload")
    return Packet(kind, nsp, data, ack_id)
