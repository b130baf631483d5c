"""Incremental UTF-8 validation: fails as soon as the bytes seen cannot start valid UTF-8."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtio.ws.errors import InvalidUTF8
from rtio.ws.utf8 import Utf8Decoder


@pytest.mark.parametrize(
    "prefix",
    [
        b"\xff",  # never valid
        b"\xc0",  # overlong lead bytes
        b"\xc1",
        b"\xf5",  # beyond U+10FFFF
        b"\xe0\x80",  # overlong 3-byte
        b"\xf0\x8f",  # overlong 4-byte
        b"\xf4\x90",  # > U+10FFFF
        b"\xed\xa0",  # UTF-16 surrogate (the case CPython's decoder holds back)
        b"\xed\xbf",
        b"\x80",  # a continuation byte first
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80",  # Autobahn 6.4.2-like
    ],
)
def test_fails_fast_on_an_invalid_prefix(prefix: bytes) -> None:
    decoder = Utf8Decoder()
    with pytest.raises(InvalidUTF8) as info:
        decoder.decode(prefix)  # not final: more bytes could follow
    assert info.value.close_code == 1007


@pytest.mark.parametrize("prefix", [b"\xe2", b"\xe2\x82", b"\xf0\x9f", b"\xed\x9f", b"\xf4\x8f"])
def test_holds_back_a_valid_incomplete_sequence(prefix: bytes) -> None:
    decoder = Utf8Decoder()
    assert decoder.decode(prefix) == ""
    with pytest.raises(InvalidUTF8):
        decoder.copy().decode(b"", final=True)  # incomplete at the end of the message


def test_pieces_split_inside_a_character() -> None:
    decoder = Utf8Decoder()
    data = "κόσμε €𝄞".encode()
    text = "".join(decoder.decode(data[i : i + 1]) for i in range(len(data)))
    assert text + decoder.decode(b"", final=True) == "κόσμε €𝄞"


def test_copy_is_independent() -> None:
    decoder = Utf8Decoder()
    assert decoder.decode(b"a\xe2\x82") == "a"
    ahead = decoder.copy()
    assert ahead.decode(b"\xac") == "€"
    assert decoder.decode(b"\xac", final=True) == "€"


@given(st.text(), st.lists(st.integers(min_value=0, max_value=50), max_size=6))
def test_any_chunking_of_valid_text(text: str, cuts: list[int]) -> None:
    data = text.encode("utf-8", "surrogatepass")
    try:
        expected: str | None = data.decode()
    except UnicodeDecodeError:
        expected = None  # hypothesis' text() may contain lone surrogates
    decoder = Utf8Decoder()
    out = []
    pos = 0
    try:
        for cut in cuts:
            out.append(decoder.decode(data[pos : pos + cut]))
            pos += cut
        out.append(decoder.decode(data[pos:], final=True))
    except InvalidUTF8:
        assert expected is None
    else:
        assert "".join(out) == expected
