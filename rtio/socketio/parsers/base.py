"""The parser interface: encode a packet to Engine.IO messages, decode messages to packets.

Sans-I/O and stateless except for the per-connection :class:`Decoder`, which reassembles
a packet from its binary attachments (the JSON parser) or decodes one message per packet
(the msgpack parser).
"""

from __future__ import annotations

from typing import Protocol

from ..packet import Packet

__all__ = ["Decoder", "ParseError", "Parser"]


class ParseError(ValueError):
    """A message that is not a valid packet: the connection is closed with "parse error"."""


class Decoder(Protocol):
    """Per-connection decoding state."""

    def feed(self, message: str | bytes) -> Packet | None:
        """Take one Engine.IO message; return a complete packet, or None while waiting for
        more binary attachments. Raises ParseError on an invalid message."""
        ...


class Parser(Protocol):
    """A wire format for packets. Instances are immutable and shared by many connections."""

    #: Short name, used to pick the parser per connection (e.g. "json", "msgpack").
    name: str

    def encode(self, packet: Packet) -> list[str | bytes]:
        """The Engine.IO messages for one packet, in order: the packet itself, then its
        binary attachments if the format uses any."""
        ...

    def new_decoder(self) -> Decoder:
        """A fresh decoder for one connection."""
        ...
