"""Choosing the parser of a connection from its handshake request: JSON and msgpack clients
(or any others) on one server.

Owns the ready-made choosers given to ``rtio.Server(parser_for=...)``; knows only the
request's query string, not the server.

    sio = rtio.Server(parser_for=by_query({"msgpack": MsgpackParser()}))

    // the client: io(url, { parser: msgpackParser, query: { parser: "msgpack" } })
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from .base import Parser
from .json_parser import JsonParser

__all__ = ["by_query"]


class _Request(Protocol):
    """What a chooser reads of the handshake request (rtio.engine.HandshakeRequest)."""

    @property
    def query(self) -> Mapping[str, str]: ...


def by_query(
    parsers: Mapping[str, Parser],
    *,
    default: Parser | None = None,
    param: str = "parser",
) -> Callable[[_Request], Parser]:
    """A chooser that picks ``parsers[request.query[param]]``, or ``default`` (the JSON
    parser if not given) when the parameter is absent or names no parser given.

    The parsers are the instances every connection shares: the server encodes a broadcast
    once per parser instance in use, so a chooser must not build parsers per request.
    """
    table = dict(parsers)
    fallback = default if default is not None else JsonParser()

    def parser_for(request: _Request) -> Parser:
        name = request.query.get(param)
        if name is None:
            return fallback
        return table.get(name, fallback)

    return parser_for
