"""rtio.http.request: FrontRequest as the engine's HttpRequest, over a parsed head and a
stand-in connection (request.Connection), and the Cookie header's parsing."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from rtio.http.parser import parse_head
from rtio.http.request import FrontRequest, parse_cookies
from rtio.ws import ServerOptions


class Transport:
    def __init__(self, peer: Any) -> None:
        self.peer = peer

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default


class Connection:
    """request.Connection, recording what the request asked of it."""

    def __init__(self, transport: Any, scheme: str = "http") -> None:
        self.transport = transport
        self.scheme = scheme
        self.asked: list[Any] = []

    async def read_body(self, request: FrontRequest, limit: int) -> bytes:
        self.asked.append(("read_body", limit))
        return b"body"

    def accept_websocket(
        self, request: FrontRequest, options: ServerOptions, headers: Mapping[str, str] | None
    ) -> Any:
        self.asked.append(("accept_websocket", headers))
        return "ws"


HEAD = (
    b"POST /engine.io/?EIO=4&transport=polling&x=%41 HTTP/1.1\r\nHost: example.com:8080\r\n"
    b"Content-Type: text/plain\r\nCookie: io=abc; other=\"q v\"; io=second; bad; =x\r\n"
    b"Content-Length: 4"
)


async def test_a_request_as_the_engine_sees_it() -> None:
    connection = Connection(Transport(("10.0.0.7", 5555)), scheme="https")
    request = FrontRequest(connection, parse_head(HEAD))
    assert request.method == "POST" and request.path == "/engine.io/"
    assert dict(request.query) == {"EIO": "4", "transport": "polling", "x": "A"}
    assert request.headers["content-type"] == "text/plain" == request.content_type
    assert request.url == "https://example.com:8080/engine.io/?EIO=4&transport=polling&x=%41"
    assert dict(request.cookies) == {"io": "abc", "other": "q v"}
    assert request.cookies is request.cookies  # parsed once
    assert request.remote == "10.0.0.7" and request.transport is connection.transport
    assert repr(request) == "<FrontRequest POST /engine.io/?EIO=4&transport=polling&x=%41>"
    assert not request.body_read
    assert await request.read_body(10) == b"body"
    assert await request.accept_websocket(ServerOptions(), {"X": "1"}) == "ws"
    assert connection.asked == [("read_body", 10), ("accept_websocket", {"X": "1"})]


@pytest.mark.parametrize("transport", [None, Transport(None), Transport("/a/unix/socket")])
def test_no_remote_without_an_ip_peer(transport: Any) -> None:
    request = FrontRequest(Connection(transport), parse_head(HEAD))
    assert request.remote is None


def test_no_host_is_localhost() -> None:
    head = parse_head(b"GET / HTTP/1.0")
    assert FrontRequest(Connection(None), head).url == "http://localhost/"


@pytest.mark.parametrize(
    ("header", "cookies"),
    [
        (None, {}),
        ("", {}),
        ("a=1", {"a": "1"}),
        ("a=1; b=2;c=3", {"a": "1", "b": "2", "c": "3"}),
        ('a="quoted"; b="', {"a": "quoted", "b": '"'}),
        ("a=%20x; a=2", {"a": " x"}),
        ("novalue; =nameless; ok=1", {"ok": "1"}),
    ],
)
def test_parse_cookies(header: str | None, cookies: dict[str, str]) -> None:
    assert parse_cookies(header) == cookies


def test_the_engine_reads_it_as_an_http_request() -> None:
    # the structural contract: FrontRequest has what rtio.engine.HttpRequest names
    from rtio.engine import HttpRequest

    names = {n for n in vars(HttpRequest) if not n.startswith("_")}
    request = FrontRequest(Connection(None), parse_head(HEAD))
    assert all(hasattr(request, name) for name in names), names
    assert asyncio.iscoroutinefunction(FrontRequest.accept_websocket)
