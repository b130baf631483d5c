"""The polling transport (polling.py): JSONP, http compression and its compress flag, POST
bodies (bad, chunked, fuzzed) end to end over real HTTP, and polling.py's functions alone."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import random
import zlib
from collections.abc import AsyncIterator

import pytest

from rtio.engine import (
    CloseReason,
    HttpCompression,
    PacketDecodeError,
    PayloadTooLarge,
)
from rtio.engine.errors import Close
from rtio.engine.http import BodyReadEnded
from rtio.engine.polling import (
    decode_post_body,
    jsonp_index,
    poll_response,
    post_failure,
    post_response,
    reply_response,
)
from rtio.engine.session import BODY_TIMEOUT, PAYLOAD_TOO_LARGE, POST_LOST, Reply

from .conftest import (
    MakeEngine,
)


async def test_jsonp(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    resp = await engine.client.get("/engine.io/?EIO=4&transport=polling&j=3")
    assert resp.headers["Content-Type"] == "text/javascript; charset=UTF-8"
    text = await resp.text()
    assert text.startswith('___eio[3]("0{') and text.endswith('");')
    sid = json.loads(json.loads(text[len("___eio[3](") : -2])[1:])["sid"]
    body = "d=" + "4line1\\nline2\u2028".replace("%", "%25").replace("&", "%26")
    resp = await engine.client.post(
        f"/engine.io/?EIO=4&transport=polling&sid={sid}&j=3",
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert await resp.text() == "ok"
    assert engine.handler.messages == [(sid, "line1\nline2\u2028")]
    resp = await engine.client.get(f"/engine.io/?EIO=4&transport=polling&sid={sid}&j=3")
    assert await resp.text() == '___eio[3]("4line1\\nline2\\u2028");'


async def test_http_compression(make_engine: MakeEngine) -> None:
    engine = await make_engine(http_compression=HttpCompression(threshold=100))
    sid, _ = await engine.handshake()
    session = engine.server.sessions[sid]
    url = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
    session.send("x" * 500)
    resp = await engine.client.get(url, headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert resp.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(await resp.read()) == b"4" + b"x" * 500
    session.send("y" * 500)
    resp = await engine.client.get(
        url, headers={"Accept-Encoding": "deflate"}, auto_decompress=False
    )
    assert resp.headers["Content-Encoding"] == "deflate"
    assert zlib.decompress(await resp.read()) == b"4" + b"y" * 500
    session.send("short")
    resp = await engine.client.get(url, headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert "Content-Encoding" not in resp.headers
    assert await resp.read() == b"4short"


async def test_bad_post_bodies_are_parse_errors(make_engine: MakeEngine) -> None:
    engine = await make_engine()
    cases = [
        (b"4abc", {"Content-Type": "application/octet-stream"}, ""),
        (b"4\xff\xfe", {"Content-Type": "text/plain"}, ""),
        (b"x=1", {"Content-Type": "application/x-www-form-urlencoded"}, "&j=0"),
        (b"bnot base64!", {"Content-Type": "text/plain"}, ""),
        (b"2", {"Content-Type": "text/plain"}, ""),  # a ping from the client
    ]
    for body, headers, extra in cases:
        sid, _ = await engine.handshake()
        resp = await engine.client.post(
            f"/engine.io/?EIO=4&transport=polling&sid={sid}{extra}", data=body, headers=headers
        )
        assert resp.status == 400, body
        assert json.loads(await resp.text())["code"] == 3
        assert engine.handler.disconnected[-1][:2] == (sid, CloseReason.PARSE_ERROR)
        assert sid not in engine.server.sessions
    assert engine.handler.messages == []


async def test_chunked_post_bodies(make_engine: MakeEngine) -> None:
    engine = await make_engine(max_payload=100)

    async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    sid, _ = await engine.handshake()
    url = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
    text = {"Content-Type": "text/plain;charset=UTF-8"}  # what the JS client sends
    resp = await engine.client.post(url, data=chunks(b"4he", b"llo\x1e4", b"again"), headers=text)
    assert (resp.status, await resp.text()) == (200, "ok")
    assert engine.handler.messages == [(sid, "hello"), (sid, "again")]
    resp = await engine.client.post(url, data=chunks(b"4" + b"x" * 60, b"y" * 60), headers=text)
    assert resp.status == 413
    assert engine.handler.disconnected == [(sid, CloseReason.TRANSPORT_ERROR, "payload too large")]


async def test_fuzzed_post_bodies_are_answered_never_crash(
    make_engine: MakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(4)
    pieces = [
        "4hi",
        "4",
        "3",
        "2",
        "1",
        "6",
        "5",
        "0x",
        "9",
        "",
        "b",
        "bAQID",
        "b!!",
        "é",
        "\x1e",
        "\x1e\x1e",
        "4\x00",
        "b" + "A" * 7,
        "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"),
    ]
    engine = await make_engine(max_payload=200)
    statuses: set[int] = set()
    for _ in range(300):
        sid, _ = await engine.handshake()
        body = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        raw = body.encode("utf-8", "surrogatepass")
        if rng.random() < 0.1:
            raw = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        status, _ = await engine.post(sid, raw)
        statuses.add(status)
        assert status in (200, 400, 413), (status, raw)
        if status != 200 and sid in engine.server.sessions:
            raise AssertionError(f"refused {raw!r} but the session lives on")
    assert statuses >= {200, 400}
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_http_compression_honours_the_compress_flag(make_engine: MakeEngine) -> None:
    # Node: a polling response is compressed if any of its packets allows it
    engine = await make_engine(http_compression=HttpCompression(threshold=100))
    sid, _ = await engine.handshake()
    session = engine.server.sessions[sid]
    url = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
    gz = {"Accept-Encoding": "gzip"}
    session.send("x" * 500, compress=False)
    session.send(b"\x01" * 300, compress=False)
    resp = await engine.client.get(url, headers=gz, auto_decompress=False)
    assert "Content-Encoding" not in resp.headers
    assert await resp.read() == b"4" + b"x" * 500 + b"\x1eb" + base64.b64encode(b"\x01" * 300)
    session.send("y" * 500, compress=False)
    session.send("z")
    resp = await engine.client.get(url, headers=gz, auto_decompress=False)
    assert resp.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(await resp.read()) == b"4" + b"y" * 500 + b"\x1e4z"
    # a pending poll answered by an uncompressed message
    poll = asyncio.ensure_future(engine.client.get(url, headers=gz, auto_decompress=False))
    await asyncio.sleep(0.05)
    session.send("p" * 500, compress=False)
    resp = await poll
    assert "Content-Encoding" not in resp.headers and await resp.read() == b"4" + b"p" * 500


# -- polling.py's functions, without a server ------------------------------------------------


class Request:
    """The fields of an HttpRequest that the response builders read."""

    def __init__(self, query: dict[str, str], headers: dict[str, str]) -> None:
        self.query = query
        self.headers = headers


def test_reply_response_compresses_only_what_may_be() -> None:
    request = Request({}, {"Accept-Encoding": "gzip"})
    big = "4" + "x" * 2000
    response = reply_response(request, {}, Reply(big, True), HttpCompression())  # type: ignore[arg-type]
    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.body).decode() == big
    response = reply_response(request, {}, Reply(big, False), HttpCompression())  # type: ignore[arg-type]
    assert "Content-Encoding" not in response.headers and response.body == big.encode()
    jsonp = reply_response(Request({"j": "2"}, {}), {}, Reply("6", False), None)  # type: ignore[arg-type]
    assert jsonp.body == b'___eio[2]("6");'


def test_compression_level_and_vary() -> None:
    body = "4" + "abc" * 1000
    fast = poll_response(
        body,
        jsonp=None,
        headers={"Vary": "Origin"},
        accept_encoding="deflate",
        compression=HttpCompression(threshold=10, level=1),
    )
    assert fast.headers["Vary"] == "Origin, Accept-Encoding"
    assert zlib.decompress(fast.body).decode() == body
    best = poll_response(
        body,
        jsonp=None,
        headers={},
        accept_encoding="br, deflate;q=0.5",
        compression=HttpCompression(threshold=10, level=9),
    )
    assert len(best.body) <= len(fast.body)
    none = poll_response(
        body, jsonp=None, headers={}, accept_encoding="br", compression=HttpCompression()
    )
    assert none.body == body.encode()


@pytest.mark.parametrize(
    ("exc", "status", "close", "closes_connection"),
    [
        (PayloadTooLarge(11, 10), 413, PAYLOAD_TOO_LARGE, True),
        (BodyReadEnded("timeout"), 408, BODY_TIMEOUT, True),
        (BodyReadEnded("session closed"), 400, None, True),
        (asyncio.IncompleteReadError(b"", 10), 400, POST_LOST, False),
        (ConnectionResetError(), 400, POST_LOST, False),
    ],
)
def test_post_failures(
    exc: BaseException, status: int, close: Close | None, closes_connection: bool
) -> None:
    response, then = post_failure(exc, {}, "sid", 30.0)
    assert (response.status, then, response.close) == (status, close, closes_connection)
    assert response.headers["Content-Type"] == "application/json"
    assert isinstance(json.loads(response.body)["code"], int)


def test_post_body_decoding() -> None:
    assert decode_post_body(b"4hi", "text/plain", False) == "4hi"
    assert decode_post_body(b"d=4a%5C%5Cnb%5Cnc", "", True) == "4a\\nb\nc"
    for body, content_type, jsonp in (
        (b"4hi", "application/octet-stream", False),
        (b"\xff", "text/plain", False),
        (b"x=1", "", True),
    ):
        with pytest.raises(PacketDecodeError):
            decode_post_body(body, content_type, jsonp)
    assert jsonp_index({"j": "1a2"}) == "12" and jsonp_index({}) is None
    assert post_response({}).body == b"ok"
