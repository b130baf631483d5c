"""Incremental, fail-fast UTF-8 validation of text messages that arrive in pieces.

Sans-I/O. Wraps CPython's incremental UTF-8 decoder (C speed) and closes its one gap for
fail-fast use: it holds back an incomplete trailing sequence without judging it, and for a
lead byte 0xED it accepts any continuation byte until the sequence completes, so the start
of a UTF-16 surrogate (0xED 0xA0-0xBF) would only fail one piece later. Every other invalid
prefix (0xE0 0x80-0x9F, 0xF0 0x80-0x8F, 0xF4 0x90-0xBF, 0xF5-0xFF, 0xC0, 0xC1) it already
rejects at once.
"""

from __future__ import annotations

import codecs

from .errors import InvalidUTF8

__all__ = ["Utf8Decoder"]

_IncrementalDecoder = codecs.getincrementaldecoder("utf-8")


class Utf8Decoder:
    """Decodes a text message piece by piece; raises InvalidUTF8 as soon as the bytes seen
    so far cannot be the start of valid UTF-8 (RFC 6455 8.1: "When an endpoint is to
    interpret a byte stream as UTF-8 but finds that the byte stream is not, in fact, a valid
    UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_")."""

    # slots: one per fragmented text message
    # (~45 B less each than an instance dict: bench_tricks.py, per-connection objects)
    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = _IncrementalDecoder()

    def decode(self, data: bytes, final: bool = False) -> str:
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            raise InvalidUTF8("invalid UTF-8 in a text message") from exc
        if not final:
            pending = self._decoder.getstate()[0]
            if len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0:
                raise InvalidUTF8("UTF-16 surrogate in a text message")
        return text

    def copy(self) -> Utf8Decoder:
        """A decoder in the same state (e.g. to validate ahead without consuming)."""
        other = Utf8Decoder()
        other._decoder.setstate(self._decoder.getstate())
        return other
