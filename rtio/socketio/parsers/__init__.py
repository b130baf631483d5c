"""Socket.IO parsers: how packets become Engine.IO messages and back.

A parser is chosen per server (and, with several configured, per connection). The JSON
parser (Socket.IO's default) and the msgpack parser (npm ``socket.io-msgpack-parser``) are
two implementations of :class:`Parser`; a user may plug in a third (docs/PARSERS.md).
"""

from __future__ import annotations

from .base import Decoder, ParseError, Parser, check_packet
from .choose import by_query
from .json_parser import JsonParser
from .msgpack_parser import JsDate, MsgpackParser

__all__ = [
    "Decoder",
    "JsDate",
    "JsonParser",
    "MsgpackParser",
    "ParseError",
    "Parser",
    "by_query",
    "check_packet",
]
