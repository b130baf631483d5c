"""Fixtures of the Socket.IO layer's tests; the loopback harness is sio_loopback.py."""

from __future__ import annotations

import pytest

import rtio


@pytest.fixture
def sio() -> rtio.Server:
    """A server without connect timeout, driven through sio_loopback.Peer."""
    return rtio.Server(connect_timeout=None)
