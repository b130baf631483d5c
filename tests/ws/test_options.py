"""Tests of options.py: the defaults of every limit, and open_protocol."""

from __future__ import annotations

import pytest

from rtio.ws import ConnectionOptions, DeflateOptions, ServerOptions
from rtio.ws.deflate import DeflateParams
from rtio.ws.options import open_protocol
from rtio.ws.protocol import Side


def test_default_limits() -> None:
    options = ConnectionOptions()
    assert options.max_write_buffer == 16 * 1024 * 1024  # Engine.IO's max_buffered_bytes
    # Autobahn 9.3.1/9.4.1: 4 MiB in 64-byte fragments
    assert options.max_fragments is not None and options.max_fragments >= (4 << 20) // 64
    assert options.message_timeout is not None and options.message_timeout >= 30


def test_writes_are_coalesced_by_default() -> None:
    assert ConnectionOptions().coalesce_writes


def test_open_protocol_sets_the_limits_and_the_negotiated_deflate() -> None:
    options = ServerOptions(max_frame_size=10, max_message_size=20, max_fragments=3)
    proto = open_protocol(Side.SERVER, options, None, None)
    assert (proto.max_frame_size, proto.max_message_size, proto.max_fragments) == (10, 20, 3)
    assert proto.deflate is None and not proto.is_client
    params = DeflateParams()
    with_deflate = open_protocol(
        Side.CLIENT, options, params, DeflateOptions(), mask_key=lambda: b"1234"
    )
    assert with_deflate.deflate is not None and with_deflate.is_client
    with pytest.raises(AssertionError):
        open_protocol(Side.SERVER, options, params, None)  # negotiated without being offered
