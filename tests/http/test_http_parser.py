"""rtio.http.parser: request heads and chunked bodies, good and bad, as bytes."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from rtio.http.parser import (
    MAX_HEAD,
    BadRequest,
    BodyTooLarge,
    ChunkedDecoder,
    Headers,
    decode_chunked,
    parse_head,
    parse_query,
)


def test_get_with_query() -> None:
    head = parse_head(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\nX-Y:  z \t")
    assert head.method == "GET"
    assert head.path == "/engine.io/"
    assert head.query_string == "EIO=4&transport=polling"
    assert head.version == "HTTP/1.1"
    assert head.keep_alive is True
    assert head.content_length is None and not head.chunked
    assert head.headers["x-y"] == "z"
    assert head.headers.get("HOST") == "a"


def test_headers_first_value_and_raw() -> None:
    head = parse_head(b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\na: 2")
    assert head.headers["A"] == "1"
    assert head.headers.getall("a") == ["1", "2"]
    assert head.headers.raw == [("Host", "a"), ("A", "1"), ("a", "2")]  # as received
    once = parse_head(b"GET / HTTP/1.1\r\nHost: a\r\nX-Y: 1")
    assert once.headers.raw == [("host", "a"), ("x-y", "1")]  # one dict, lower-case
    assert once.headers.getall("X-y") == ["1"] and once.headers.getall("z") == []
    assert "a" in head.headers and "b" not in head.headers
    assert sorted(head.headers) == ["a", "host"] and len(head.headers) == 2


@pytest.mark.parametrize(
    ("raw", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\nHost: a", True),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Close", False),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, close", False),
        (b"GET / HTTP/1.0", False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive", True),
    ],
)
def test_keep_alive(raw: bytes, keep_alive: bool) -> None:
    assert parse_head(raw).keep_alive is keep_alive


def test_repeated_connection_headers_and_trailing_whitespace() -> None:
    head = parse_head(b"GET / HTTP/1.1\r\nHost: a \t\r\nConnection: upgrade\r\nConnection: close")
    assert head.keep_alive is False
    assert head.headers["host"] == "a"


def test_bodies() -> None:
    head = parse_head(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nContent-Length: 12")
    assert head.content_length == 12
    head = parse_head(b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked")
    assert head.chunked and head.content_length is None
    head = parse_head(b"POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1")
    assert head.expect_continue


def test_other_target_forms_have_no_path() -> None:
    assert parse_head(b"OPTIONS * HTTP/1.1\r\nHost: a").path == ""
    assert parse_head(b"GET http://a/x HTTP/1.1\r\nHost: a").path == ""


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        (b"GET /  HTTP/1.1\r\nHost: a", 400, "request line"),
        (b"GET / HTTP/1.1 x\r\nHost: a", 400, "request line"),
        (b"G@T / HTTP/1.1\r\nHost: a", 400, "method"),
        (b"GET /\x7f HTTP/1.1\r\nHost: a", 400, "control character"),
        (b"GET /\xe9 HTTP/1.1\r\nHost: a", 400, "target"),
        (b"GET / HTTP/2.0\r\nHost: a", 505, "version"),
        (b"GET / HTTQ/1.1\r\nHost: a", 400, "version"),
        (b"GET / HTTP/1.1", 400, "Host"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nNoColon", 400, "colon"),
        (b"GET / HTTP/1.1\r\nHost : a", 400, "header name"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n fold: ed", 400, "header name"),
        (b"GET / HTTP/1.1\r\nHost: a\nX: y", 400, "bare"),
        (b"GET / HTTP/1.1\r\nHost: a\rX: y", 400, "bare"),
        (b"GET / HTTP/1.1\r\nHost: a\x00", 400, "NUL"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1", 400, "Content-Length"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \xb2", 400, "Content-Length"),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2",
            400,
            "conflicting",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked",
            501,
            "Transfer-Encoding",
        ),
        (b"POST / HTTP/1.1\r\nHost: a" + b"\r\nTransfer-Encoding: chunked" * 2, 501, "Transfer"),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3",
            400,
            "both",
        ),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked", 400, "HTTP/1.0"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok", 417, "expectation"),
        (b"GET /" + b"a" * MAX_HEAD + b" HTTP/1.1", 431, "too large"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + b"9" * 19, 400, "too large"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + b"9" * 5000, 400, "too large"),
    ],
)
def test_bad_heads(raw: bytes, status: int, reason: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_head(raw)
    assert info.value.status == status
    assert reason in info.value.reason


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_bad_request(raw: bytes) -> None:
    try:
        head = parse_head(raw)
    except BadRequest as exc:
        assert exc.status in (400, 417, 431, 501, 505)
    else:
        assert head.method and head.target


@given(
    st.lists(st.binary(min_size=1, max_size=40), max_size=8),
    st.integers(min_value=1, max_value=20),
)
def test_chunked_round_trip_at_any_split(chunks: list[bytes], cut: int) -> None:
    wire = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\nT: v\r\n\r\nNEXT"
    body = b"".join(chunks)
    # incomplete until the end of the trailers, whatever the cut
    for end in range(0, len(wire) - 4, cut):
        assert decode_chunked(wire[:end], 0, 10_000) is None
    assert decode_chunked(wire, 0, 10_000) == (body, len(wire) - 4)
    assert decode_chunked(b"xx" + wire, 2, 10_000) == (body, len(wire) - 2)


@given(
    st.lists(st.binary(min_size=1, max_size=40), max_size=8),
    st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=50),
)
def test_chunked_decoder_fed_in_any_pieces(chunks: list[bytes], cuts: list[int]) -> None:
    wire = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\nT: v\r\n\r\nNEXT"
    decoder = ChunkedDecoder(10_000)
    pos, i, end = 0, 0, None
    while end is None:
        piece = wire[pos : pos + cuts[i % len(cuts)]]
        assert piece, "the body ended without the decoder seeing it"
        end = decoder.feed(piece)
        if end is None:
            pos += len(piece)
        i += 1
    assert decoder.body() == b"".join(chunks)
    assert wire[pos + end :] == b"NEXT"
    with pytest.raises(RuntimeError):
        decoder.feed(b"more")


def test_chunked_without_trailers() -> None:
    assert decode_chunked(b"3\r\nabc\r\n0\r\n\r\n", 0, 3) == (b"abc", 13)
    assert decode_chunked(b"0\r\n\r\n", 0, 0) == (b"", 5)


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"x\r\n", "chunk size"),
        (b"-1\r\n", "chunk size"),
        (b"1" * 16 + b"\r\n", "chunk size"),
        (b"3\r\nabcX\r\n", "CRLF"),
        (b"3\r\nabc" + b"x" * 1100 + b"\r\n", "not followed by CRLF"),
        (b"3\nabc\r\n", "bare LF"),
        (b"1" * 2000, "too long"),
        (b"0\r\n" + b"T: v\r\n" * 2000, "trailers"),
    ],
)
def test_bad_chunked(wire: bytes, reason: str) -> None:
    with pytest.raises(BadRequest) as info:
        decode_chunked(wire, 0, 1 << 30)
    assert info.value.status == 400
    assert reason in info.value.reason


def test_chunked_over_the_limit_before_the_data() -> None:
    with pytest.raises(BodyTooLarge) as info:
        decode_chunked(b"3\r\nabc\r\nff\r\n", 0, 100)
    assert (info.value.status, info.value.size, info.value.limit) == (413, 258, 100)


def test_headers_repr() -> None:
    assert repr(Headers([("A", "1")])) == "Headers([('a', '1')])"
    assert repr(parse_head(b"GET / HTTP/1.0")) == "<RequestHead GET / HTTP/1.0>"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b", "more than one Host"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nhost: a", "more than one Host"),
        (b"GET / HTTP/1.0\r\nHost: a\r\nHost: a", "more than one Host"),
        (b"GET / HTTP/1.1\r\nHost: a b", "invalid Host"),
        (b"GET / HTTP/1.1\r\nHost: a/b", "invalid Host"),
        (b"GET / HTTP/1.1\r\nHost: u@a", "invalid Host"),
        (b"GET / HTTP/1.1\r\nHost: a:8x", "invalid Host"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b", "control character"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb", "control character"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[31m", "control character"),
        (b"GET / HTTP/1.1\r\nHost: a\x0b", "control character"),
    ],
)
def test_lenient_heads_refused(raw: bytes, reason: str) -> None:
    """Issue 12, defect 9: a duplicate Host (RFC 9112 3.2), an invalid Host, and control
    characters (0x01, 0x7f...) in a field value were accepted: each is 400 now."""
    with pytest.raises(BadRequest) as info:
        parse_head(raw)
    assert info.value.status == 400
    assert reason in info.value.reason


@pytest.mark.parametrize(
    "host", [b"a", b"", b"example.com:8080", b"[::1]:80", b"127.0.0.1", b"xn--e1a.example", b"a:"]
)
def test_valid_hosts(host: bytes) -> None:
    head = parse_head(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nX: tab\there \xe9")
    assert head.headers["Host"] == host.decode()
    assert head.headers["X"] == "tab\there \xe9"  # HTAB and obs-text are field content


@pytest.mark.parametrize(
    "wire",
    [
        b"3;a=b\rX\r\nabc\r\n0\r\n\r\n",  # a bare CR inside a chunk extension
        b"3;a=\x01\r\nabc\r\n0\r\n\r\n",
        b"3\r\nabc\r\n0\r\nT: a\rb\r\n\r\n",  # ... or in a trailer
    ],
)
def test_control_characters_in_chunk_lines_refused(wire: bytes) -> None:
    """Issue 12, defect 9: a bare CR in a chunk extension was accepted."""
    with pytest.raises(BadRequest) as info:
        decode_chunked(wire, 0, 1 << 30)
    assert info.value.status == 400
    assert "control character" in info.value.reason


def test_chunk_size_of_2_to_the_60_refused() -> None:
    with pytest.raises(BadRequest) as info:
        decode_chunked(b"%x\r\n" % (1 << 60), 0, 1 << 62)
    assert "chunk size" in info.value.reason


def test_fresh_client_strings_are_freed() -> None:
    """Issue 12, defect 2: header names, query names and short values a client makes up
    were sys.intern'ed, and interned strings are immortal on CPython 3.12 (+18 to +33 MB
    per 10,000 requests). Parse 10,000 heads with fresh names and values, drop them: the
    memory still allocated (tracemalloc) stays under 256 KiB (the interned strings were
    ~2 MB). (Interned strings are freed on 3.11 and 3.13: only 3.12 shows the leak.)"""
    import gc
    import tracemalloc

    def parse_many(start: int, count: int) -> None:
        for i in range(start, start + count):
            head = parse_head(
                b"GET /engine.io/?EIO=4&q%d=v%d&transport=polling HTTP/1.1\r\n"
                b"Host: a\r\nX-Fresh-%d: w%d\r\nConnection: keep-alive" % (i, i, i, i)
            )
            assert head.query[f"q{i}"] == f"v{i}"
            assert head.headers[f"x-fresh-{i}"] == f"w{i}"

    parse_many(0, 1000)  # warm up (caches, the regexes)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        parse_many(1000, 10_000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 256 * 1024, f"{grown} bytes still allocated after 10,000 heads"


@given(st.binary(max_size=40), st.binary(max_size=12))
def test_a_field_value_is_accepted_exactly_when_it_is_field_content(
    value: bytes, name: bytes
) -> None:
    """The fast check (printable head) and the slow one agree: a value is refused iff it
    holds a control character other than HTAB (RFC 9110 5.5), a name iff not a token."""
    import re

    assume(b"\r\n" not in value)  # (that is a second field line)
    framing = (b"host", b"content-length", b"transfer-encoding", b"connection", b"expect")
    if not name or name.lower() in framing:
        name = b"X"
    assume(b":" not in name)  # (the name would end at its colon: "!:: v" is name "!")
    wire = b"GET / HTTP/1.1\r\nHost: a\r\n" + name + b": " + value
    bad_value = re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", value) is not None
    bad_name = re.fullmatch(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name) is None
    try:
        head = parse_head(wire)
    except BadRequest as exc:
        assert exc.status == 400
        assert bad_value or bad_name
    else:
        assert not bad_value and not bad_name
        lname = name.decode("latin-1").lower()
        assert head.headers.getall(lname)[-1] == value.decode("latin-1").strip(" \t")


@pytest.mark.parametrize(
    ("query", "parsed"),
    [
        ("", {}),
        ("a=1&&b=2&", {"a": "1", "b": "2"}),
        ("a%20b=c+d&a=second&e", {"a b": "c d", "a": "second", "e": ""}),
        ("EIO=4&transport=polling&sid=a-b_c", {"EIO": "4", "transport": "polling", "sid": "a-b_c"}),
    ],
)
def test_parse_query(query: str, parsed: dict[str, str]) -> None:
    assert parse_query(query) == parsed


def test_content_type_and_query_found_on_first_use() -> None:
    head = parse_head(
        b"POST /e/?a=1 HTTP/1.1\r\nHost: t\r\nContent-Type: Text/Plain; charset=UTF-8"
    )
    assert head.content_type == "text/plain" and head.content_type is head.content_type
    assert head.query is head.query and dict(head.query) == {"a": "1"}
    assert parse_head(b"GET / HTTP/1.1\r\nHost: t").content_type == ""


def test_headers_built_from_fields() -> None:
    headers = Headers([("Host", "t"), ("X-A", "1"), ("x-a", "2")])
    assert headers["x-a"] == "1" and headers.getall("X-A") == ["1", "2"] and len(headers) == 2
