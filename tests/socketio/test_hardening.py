"""Issue 12 (hardening) defects of the Socket.IO layer: 6 (dynamic namespaces left behind by
refused CONNECTs, and without bound), 10 (an ack the encoder cannot carry), 11 (a handler
that never returns). Figures are asserted as bounds (counts, traced bytes), not timings."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import tracemalloc

import pytest
from sio_loopback import Peer, settle

import rtio
from rtio.socketio.errors import ConnectionRefused

# -- defect 6: dynamic namespaces ---------------------------------------------------------


def _connect_many(peer: Peer, names: range) -> None:
    for k in names:
        peer.feed(f"0/room-{k},")
        if k % 1000 == 0:
            _forget_sent(peer)


def _forget_sent(peer: Peer) -> None:
    """The replies the harness records are not the server's memory."""
    peer.take()
    peer.session.raw.clear()


async def test_refused_connects_to_dynamic_namespaces_leave_nothing(sio: rtio.Server) -> None:
    """Issue 12 defect 6: 20,000 CONNECTs to fresh dynamic names, each refused by a
    middleware, leave no child namespace behind and the traced memory flat (on 0d24665:
    20,000 children, ~10 MB), with and without cleanup_empty_children."""
    kept = sio.of(re.compile(r"/room-\d+"))
    cleaned = sio.of(re.compile(r"/other-\d+"), cleanup_empty_children=True)

    def refuse(socket: rtio.Socket, auth: dict[str, object]) -> None:
        raise ConnectionRefused("no")

    kept.use(refuse)
    cleaned.use(refuse)
    peer = Peer(sio)
    peer.feed("0/other-1,")
    _connect_many(peer, range(1000))  # warm up (the caches of the first packets)
    await settle()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        _connect_many(peer, range(1000, 21_000))
        await settle()
        _forget_sent(peer)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept.children == {} and cleaned.children == {}
    assert set(sio.namespaces) == {"/"}
    assert grown < 200_000, grown  # 0d24665: ~10,000,000
    assert not peer.session.closed  # refusals are answers, not a reason to close


async def test_a_refused_connect_keeps_a_child_another_client_joins_meanwhile(
    sio: rtio.Server,
) -> None:
    """Defect 6's cleanup drops a child only when no CONNECT to it is in progress."""
    parent = sio.of(re.compile(r"/room-\d+"), cleanup_empty_children=True)
    gate = asyncio.Event()

    @parent.use
    async def slow_auth(socket: rtio.Socket, auth: dict[str, object]) -> bool:
        await gate.wait()
        return auth.get("ok") is True

    good, bad = Peer(sio), Peer(sio)
    good.feed('0/room-1,{"ok":true}')
    bad.feed("0/room-1,")
    await settle()
    gate.set()
    await settle()
    assert bad.take() == ['4/room-1,{"message":"Connection refused"}']
    assert "/room-1" in parent.children and len(parent.children["/room-1"].sockets) == 1
    good.feed("1/room-1,")
    await settle()
    assert parent.children == {}


async def test_child_namespaces_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 12 defect 6: without cleanup, children stay for ever (as in Node); a CONNECT
    that would make more than max_child_namespaces gets connect_error and one warning."""
    sio = rtio.Server(connect_timeout=None, max_child_namespaces=50)
    parent = sio.of(lambda name, auth: name.startswith("/room-"))
    peer = Peer(sio)
    with caplog.at_level(logging.INFO, logger="rtio.socketio"):
        for k in range(2000):
            peer.feed(f"0/room-{k},")
        await settle()
    replies = peer.take()
    assert len(parent.children) == 50 and len(sio.namespaces) == 51
    refused = [r for r in replies if isinstance(r, str) and r.startswith("4/")]
    assert len(refused) == 1950
    assert refused[0] == '4/room-50,{"message":"Too many namespaces"}'
    warnings = [r for r in caplog.records if "max_child_namespaces" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    with pytest.raises(ValueError):
        rtio.Server(max_child_namespaces=-1)
