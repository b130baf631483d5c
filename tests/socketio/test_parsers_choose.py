"""rtio.socketio.parsers.choose: the parser of a connection from its handshake query."""

from __future__ import annotations

from rtio.socketio.parsers import (
    JsonParser,
    MsgpackParser,
    by_query,
)


def test_by_query_picks_the_shared_instances() -> None:
    from rtio.engine import HandshakeRequest

    json_parser, msgpack_parser = JsonParser(), MsgpackParser()
    choose = by_query({"msgpack": msgpack_parser}, default=json_parser)

    def request(query: dict[str, str]) -> HandshakeRequest:
        return HandshakeRequest("GET", "/socket.io/", "/socket.io/", {}, query, None)

    assert choose(request({"EIO": "4", "parser": "msgpack"})) is msgpack_parser
    assert choose(request({"EIO": "4", "parser": "msgpack"})) is msgpack_parser
    assert choose(request({"EIO": "4"})) is json_parser
    assert choose(request({"parser": "cbor"})) is json_parser  # unknown: the default
    other = by_query({"m": msgpack_parser}, param="fmt")
    assert other(request({"fmt": "m"})) is msgpack_parser
    assert isinstance(other(request({})), JsonParser)
