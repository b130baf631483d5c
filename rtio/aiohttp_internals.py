"""The one place rtio touches aiohttp's private internals.

rtio runs on aiohttp's public API everywhere else. What aiohttp does not offer publicly,
rtio does here, each touch in one function with its contract tests in
tests/test_aiohttp_internals.py; CI runs them against the oldest aiohttp that pyproject.toml
admits (tests/stages/17-aiohttp-oldest.sh, 3.10) and the newest (the main .venv), so an
aiohttp release that changes one breaks a named test here, not the product.

The touches, and why:

The HTTP front (rtio.http):

- ``set_site_server``: ``rtio.http.FrontSite`` listens with rtio's own protocol factory, so
  it creates its listening server itself, then sets ``BaseSite._server`` to it, as aiohttp's
  own sites do in ``start()``: ``BaseSite.stop()`` closes that server, and
  ``BaseRunner.addresses`` lists its sockets. (aiohttp has no public way to give a site a
  server it did not create.)
- ``hand_off``: a connection the front has started reading (its bytes already received)
  is given to aiohttp's protocol for the rest of its life: a fresh ``RequestHandler`` from
  ``runner.server`` (a ``web.Server``, aiohttp's protocol factory) is attached to the
  transport with ``connection_made`` and fed the bytes read so far. aiohttp documents
  ``web.Server`` as a protocol factory for ``loop.create_server``, not a handler that
  takes over a connection mid-stream; this relies on ``RequestHandler`` parsing from
  whatever ``data_received`` gives it first and honouring ``pause_writing`` at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

__all__ = ["hand_off", "set_site_server"]


# -- the HTTP front (rtio.http) --


def set_site_server(site: web.BaseSite, server: asyncio.AbstractServer) -> None:
    """Make ``server`` the listening server of ``site`` (what ``TCPSite.start`` does with
    the server it creates): ``site.stop()`` closes it, ``runner.addresses`` lists it."""
    site._server = server  # (BaseSite's server slot: no public setter)


def hand_off(
    protocol_factory: Callable[[], asyncio.Protocol],
    transport: asyncio.Transport,
    received: bytes,
    *,
    writing_paused: bool,
) -> asyncio.Protocol:
    """Give ``transport`` to a new protocol of ``protocol_factory`` (aiohttp's
    ``web.Server``): it is attached, told that writing is paused when it is, then fed
    ``received`` (the bytes read so far, from the start of a request). Returns it."""
    protocol = protocol_factory()
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    if writing_paused:
        protocol.pause_writing()
    protocol.data_received(received)
    return protocol
