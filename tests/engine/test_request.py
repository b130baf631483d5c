"""HandshakeRequest: a frozen snapshot of the request that opened a session."""

from __future__ import annotations

import dataclasses

import pytest

from rtio.engine import HandshakeRequest


def test_snapshot_is_frozen_with_empty_cookies_by_default() -> None:
    request = HandshakeRequest("GET", "http://h/x?a=1", "/x", {"Host": "h"}, {"a": "1"}, "1.2.3.4")
    assert request.cookies == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.path = "/y"  # type: ignore[misc]
