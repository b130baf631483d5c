"""permessage-deflate: header parsing, the RFC 7692 byte vectors, context takeover and window
bits in both roles, the threshold, and decompression bounded by the size limit."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtio.ws import PayloadTooBig, ProtocolError
from rtio.ws.deflate import (
    DeflateOptions,
    DeflateParams,
    PerMessageDeflate,
    client_accept,
    client_offer,
    parse_extensions,
    server_negotiate,
)


def test_parse_extensions() -> None:
    assert parse_extensions(
        ['permessage-deflate; client_max_window_bits; server_max_window_bits="10"', "foo, ,bar"]
    ) == [
        (
            "permessage-deflate",
            [("client_max_window_bits", None), ("server_max_window_bits", "10")],
        ),
        ("foo", []),
        ("bar", []),
    ]
    assert parse_extensions(["x ; a = 1 ;b"]) == [("x", [("a", "1"), ("b", None)])]


def test_parse_extensions_quoted_separators() -> None:
    # a quoted value must be a token after unescaping: "c,d" is not
    with pytest.raises(ValueError, match="quoted"):
        parse_extensions(['x; b="c,d"'])
    assert parse_extensions(['x; b="c\\d"']) == [("x", [("b", "cd")])]


@pytest.mark.parametrize(
    "value",
    ["x;", "x; =1", "x y", 'x; a="b', "x; a=b c", "@x", "x; a=="],
)
def test_parse_extensions_malformed(value: str) -> None:
    with pytest.raises(ValueError):
        parse_extensions([value])


@pytest.mark.parametrize(
    ("options", "offer"),
    [
        (DeflateOptions(), "permessage-deflate; client_max_window_bits"),
        (
            DeflateOptions(True, True, 10, 9),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits=9",
        ),
    ],
)
def test_client_offer(options: DeflateOptions, offer: str) -> None:
    assert client_offer(options) == offer


def test_client_accept_records_what_the_client_asked_for() -> None:
    # client_no_context_takeover is ours to honour even when the server does not echo it
    assert client_accept([], DeflateOptions(client_no_context_takeover=True)) == DeflateParams(
        client_no_context_takeover=True
    )


def test_options_validate_window_bits() -> None:
    with pytest.raises(ValueError):
        DeflateOptions(server_max_window_bits=7)
    with pytest.raises(ValueError):
        DeflateOptions(client_max_window_bits=16)


# RFC 7692 7.2.3.1: "Hello" compressed in one frame: 0xc1 0x07 0xf2 0x48 0xcd 0xc9 0xc9 0x07 0x00
HELLO = b"\xf2\x48\xcd\xc9\xc9\x07\x00"


def test_rfc_7692_vectors() -> None:
    server = PerMessageDeflate(DeflateParams(), is_server=True, threshold=0)
    assert server.compress(b"Hello") == HELLO
    # 7.2.3.2: with context takeover the second "Hello" is a back-reference
    assert server.compress(b"Hello") == b"\xf2\x00\x11\x00\x00"
    client = PerMessageDeflate(DeflateParams(), is_server=False)
    assert client.decompress(HELLO, True, None) == b"Hello"
    assert client.decompress(b"\xf2\x00\x11\x00\x00", True, None) == b"Hello"
    # 7.2.3.1: the same message in two fragments
    other = PerMessageDeflate(DeflateParams(), is_server=False)
    assert (
        other.decompress(b"\xf2\x48\xcd", False, None)
        + other.decompress(b"\xc9\xc9\x07\x00", True, None)
        == b"Hello"
    )
    # 7.2.3.3: a DEFLATE block with no compression (BFINAL=0, BTYPE=00)
    stored = PerMessageDeflate(DeflateParams(), is_server=False)
    assert stored.decompress(b"\x00\x05\x00\xfa\xffHello\x00", True, None) == b"Hello"
    # 7.2.3.4: a DEFLATE block with BFINAL=1
    final = PerMessageDeflate(DeflateParams(), is_server=False)
    assert final.decompress(b"\xf3\x48\xcd\xc9\xc9\x07\x00\x00", True, None) == b"Hello"


@pytest.mark.parametrize("is_server", [True, False])
@pytest.mark.parametrize("no_context_takeover", [True, False])
def test_context_takeover(is_server: bool, no_context_takeover: bool) -> None:
    params = DeflateParams(
        server_no_context_takeover=no_context_takeover,
        client_no_context_takeover=no_context_takeover,
    )
    sender = PerMessageDeflate(params, is_server=is_server, threshold=0)
    receiver = PerMessageDeflate(params, is_server=not is_server)
    first = sender.compress(b"Hello")
    second = sender.compress(b"Hello")
    assert first == HELLO
    # without context takeover every message is compressed on its own
    assert (second == HELLO) is no_context_takeover
    assert receiver.decompress(first, True, None) == b"Hello"
    assert receiver.decompress(second, True, None) == b"Hello"


@pytest.mark.parametrize("bits", [9, 10, 12, 15])
def test_window_bits_bound_the_senders_window(bits: int) -> None:
    params = DeflateParams(server_max_window_bits=bits, client_max_window_bits=bits)
    sender = PerMessageDeflate(params, is_server=True, threshold=0)
    data = bytes(range(256)) * 200
    compressed = sender.compress(data)
    # a receiver with exactly that window can inflate it
    inflater = zlib.decompressobj(-bits)
    assert inflater.decompress(compressed + b"\x00\x00\xff\xff") == data


def test_eight_bit_window_sends_uncompressed() -> None:
    # zlib cannot deflate with a 256-byte window: such a peer gets every message as is
    server = PerMessageDeflate(DeflateParams(server_max_window_bits=8), is_server=True)
    client = PerMessageDeflate(DeflateParams(client_max_window_bits=8), is_server=False)
    assert not server.should_compress(10000)
    assert not client.should_compress(10000)
    # ...and still inflates what the peer sends with a bigger window
    assert client.decompress(HELLO, True, None) == b"Hello"


def test_threshold() -> None:
    deflate = PerMessageDeflate(DeflateParams(), is_server=True, threshold=64)
    assert not deflate.should_compress(63)
    assert deflate.should_compress(64)


def test_zip_bomb_is_bounded_by_the_limit() -> None:
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = bomb.compress(b"\x00" * (64 << 20)) + bomb.flush(zlib.Z_SYNC_FLUSH)
    assert len(payload) < 100_000
    receiver = PerMessageDeflate(DeflateParams(), is_server=True)
    with pytest.raises(PayloadTooBig) as info:
        receiver.decompress(payload, True, 1 << 20)
    assert info.value.close_code == 1009
    # exactly at the limit is fine
    exact = PerMessageDeflate(DeflateParams(), is_server=True)
    small = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = small.compress(b"\x00" * 1000) + small.flush(zlib.Z_SYNC_FLUSH)
    assert exact.decompress(data[:-4], True, 1000) == b"\x00" * 1000


def test_bad_deflate_data() -> None:
    receiver = PerMessageDeflate(DeflateParams(), is_server=True)
    with pytest.raises(ProtocolError, match="bad deflate data") as info:
        receiver.decompress(b"\xff\xff\xff\xff", True, None)
    assert info.value.close_code == 1002


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.binary(max_size=3000) | st.text(max_size=500).map(str.encode), max_size=6),
    st.booleans(),
    st.integers(min_value=9, max_value=15),
)
def test_round_trip(messages: list[bytes], no_context: bool, bits: int) -> None:
    params = DeflateParams(no_context, no_context, bits, bits)
    for is_server in (True, False):
        sender = PerMessageDeflate(params, is_server=is_server, threshold=0)
        receiver = PerMessageDeflate(params, is_server=not is_server)
        for message in messages:
            assert receiver.decompress(sender.compress(message), True, None) == message


# -- negotiation (7.1): the server's choice, the client's check of the answer ------------


def _offer(value: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    return parse_extensions([value])


@pytest.mark.parametrize(
    ("offer", "options", "agreed", "response"),
    [
        ("permessage-deflate", DeflateOptions(), DeflateParams(), "permessage-deflate"),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            DeflateOptions(),
            DeflateParams(True, True),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        ),
        (
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits",
            DeflateOptions(server_max_window_bits=12, client_max_window_bits=11),
            DeflateParams(False, False, 10, 11),
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits=11",
        ),
        (
            "permessage-deflate; client_max_window_bits=9",
            DeflateOptions(server_no_context_takeover=True, client_no_context_takeover=True),
            DeflateParams(True, True, 15, 9),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover;"
            " client_max_window_bits=9",
        ),
        # an unknown extension and an invalid offer are skipped for the next offer
        (
            "x-other, permessage-deflate; foo, permessage-deflate; server_no_context_takeover=1,"
            " permessage-deflate; server_max_window_bits=9",
            DeflateOptions(),
            DeflateParams(False, False, 9, 15),
            "permessage-deflate; server_max_window_bits=9",
        ),
    ],
)
def test_server_negotiate(
    offer: str, options: DeflateOptions, agreed: DeflateParams, response: str
) -> None:
    assert server_negotiate(_offer(offer), options) == (agreed, response)


@pytest.mark.parametrize(
    ("offer", "options"),
    [
        # 7.1.2.2: a limit on the client's window needs an offer that allows it
        ("permessage-deflate", DeflateOptions(client_max_window_bits=10)),
        ("permessage-deflate; client_no_context_takeover=x", DeflateOptions()),
        (
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            DeflateOptions(),
        ),
        ("permessage-deflate; server_max_window_bits=16", DeflateOptions()),
        ("permessage-deflate; server_max_window_bits=08", DeflateOptions()),
        ("permessage-deflate; server_max_window_bits", DeflateOptions()),
        ("x-webkit-deflate-frame", DeflateOptions()),
    ],
)
def test_server_declines(offer: str, options: DeflateOptions) -> None:
    assert server_negotiate(_offer(offer), options) is None


@pytest.mark.parametrize(
    ("response", "options", "agreed"),
    [
        (
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10;"
            " client_max_window_bits=9",
            DeflateOptions(server_no_context_takeover=True, server_max_window_bits=12),
            DeflateParams(True, False, 10, 9),
        ),
        (
            "permessage-deflate; client_no_context_takeover",
            DeflateOptions(),
            DeflateParams(False, True),
        ),
    ],
)
def test_client_accept(response: str, options: DeflateOptions, agreed: DeflateParams) -> None:
    assert client_accept(_offer(response)[0][1], options) == agreed


@pytest.mark.parametrize(
    ("response", "options"),
    [
        ("permessage-deflate", DeflateOptions(server_no_context_takeover=True)),
        ("permessage-deflate", DeflateOptions(server_max_window_bits=10)),
        (
            "permessage-deflate; server_max_window_bits=12",
            DeflateOptions(server_max_window_bits=10),
        ),
        (
            "permessage-deflate; client_max_window_bits=12",
            DeflateOptions(client_max_window_bits=10),
        ),
        # 7.1.2.2: in a response client_max_window_bits needs its value
        ("permessage-deflate; client_max_window_bits", DeflateOptions()),
        ("permessage-deflate; unknown", DeflateOptions()),
    ],
)
def test_client_rejects(response: str, options: DeflateOptions) -> None:
    with pytest.raises(ValueError):
        client_accept(_offer(response)[0][1], options)
