"""Encoded: one packet encoded once per parser, for a broadcast to write to every member.

Knows parsers and the engine's ``prepare_packet``; knows no socket or namespace.
"""

from __future__ import annotations

import logging

from rtio.engine import PreparedPacket, prepare_packet

from .packet import Packet
from .parsers.base import Parser

__all__ = ["Encoded"]

log = logging.getLogger("rtio.socketio")


class Encoded:
    """One packet encoded once per parser, its Engine.IO messages prepared once: what a
    broadcast writes to every member (a WebSocket frame is built once, on first use)."""

    __slots__ = ("_by_parser", "packet")

    def __init__(self, packet: Packet) -> None:
        self.packet = packet
        # keyed by the parser object itself (held here, so no id is reused meanwhile)
        self._by_parser: dict[Parser, list[PreparedPacket]] = {}

    def messages(self, parser: Parser) -> list[PreparedPacket]:
        out = self._by_parser.get(parser)
        if out is None:
            try:
                encoded = parser.encode(self.packet)
            except Exception:
                packet = self.packet
                log.error(
                    "event %r to namespace %s cannot be encoded by the %s parser: not sent",
                    packet.data[0] if packet.data else None,
                    packet.nsp,
                    parser.name,
                )
                raise
            out = self._by_parser[parser] = [prepare_packet(m) for m in encoded]
        return out

    def encoded_once(self) -> list[PreparedPacket] | None:
        """The messages of the first parser it was encoded for (None: none yet): what an
        observer measures a broadcast by."""
        for out in self._by_parser.values():
            return out
        return None
