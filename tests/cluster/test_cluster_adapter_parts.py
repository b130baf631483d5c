"""The pure parts of rtio.cluster.redis.adapter: options to and from the wire, the ack
gatherer that feeds rtio's emit_with_ack, coverage, URLs. No Redis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("redis", reason="redis-py is not installed (pip install rtio[redis])")

from rtio.cluster import WireFlags, WireOptions, WirePacket
from rtio.cluster.classic import BroadcastMessage
from rtio.cluster.convert import local_options, wire_options
from rtio.cluster.redis import link_options_from_url
from rtio.cluster.redis.requests import AckGather
from rtio.cluster.redis.results import Coverage
from rtio.cluster.redis.url import new_uid
from rtio.socketio import BroadcastOptions


def test_broadcast_options_to_the_wire_as_node_writes_them() -> None:
    opts = BroadcastOptions(
        rooms=frozenset({"b", "a"}), except_rooms=frozenset({"x"}), volatile=True,
        compress=False, timeout=1.5,
    )  # fmt: skip
    wire = wire_options(opts)
    assert wire.to_wire() == {
        "rooms": ["a", "b"],
        "except": ["x"],
        "flags": {"volatile": True, "compress": False, "timeout": 1500},
    }
    assert wire_options(BroadcastOptions()).to_wire() == {"rooms": [], "except": [], "flags": {}}
    assert wire_options(opts, flags=False).to_wire() == {"rooms": ["a", "b"], "except": ["x"]}


def test_wire_options_to_local_delivery() -> None:
    wire = WireOptions((123, "r"), ("x",), WireFlags(volatile=True, compress=False))
    local = local_options(wire)
    assert local.rooms == {"123", "r"} and local.except_rooms == {"x"}
    assert local.volatile and not local.compress and local.local
    assert local_options(WireOptions((), (), None)).compress


class Operator:
    """rtio's emit_with_ack bookkeeping (rtio/socketio/broadcast.py), as the adapter sees it:
    done when every expected ack is in, checked on each ack, on each count, and once after
    sending."""

    def __init__(self) -> None:
        self.expected = 0
        self.answered = 0
        self.sending = True
        self.done = False
        self.results: dict[str, Any] = {}

    def check(self) -> None:
        if not self.sending and self.answered >= self.expected:
            self.done = True

    def on_count(self, n: int) -> None:
        self.expected += n
        self.check()

    def on_ack(self, sid: str, args: list[Any] | None) -> None:
        self.answered += 1
        self.results[sid] = args
        self.check()

    def sent(self) -> None:
        self.sending = False
        self.check()


def test_the_gatherer_holds_the_operator_open_until_the_remote_counts_are_in() -> None:
    op = Operator()
    gather = AckGather(op.on_count, op.on_ack)
    gather.count(1)  # one local socket
    op.sent()
    assert not op.done
    gather.ack("local", ["a"])
    assert not op.done  # the other servers have not counted yet: the placeholder holds it
    gather.remote_count(2)  # one other server, two sockets
    gather.remote_ack("b")
    gather.remote_ack("c")
    assert not op.done and gather.counts == 1
    gather.finish()
    assert op.done and op.results == {"local": ["a"], "~1": ["b"], "~2": ["c"]}


def test_the_gatherer_closes_when_the_last_ack_came_before_the_counts() -> None:
    op = Operator()
    gather = AckGather(op.on_count, op.on_ack)
    gather.count(1)
    op.sent()
    gather.ack("local", [1])
    gather.finish()  # nobody else: the placeholder's removal closes it
    assert op.done and op.results == {"local": [1]}


def test_the_gatherer_after_the_counts_forwards_at_once() -> None:
    op = Operator()
    gather = AckGather(op.on_count, op.on_ack)
    gather.count(2)
    op.sent()
    gather.finish()
    assert not op.done
    gather.ack("x", [1])
    gather.remote_ack(2)
    assert op.done and op.answered == 2


def test_coverage() -> None:
    assert Coverage().complete and Coverage().missing == 0
    partial = Coverage(expected=3, answered=1, missing_nodes=frozenset({"abc"}))
    assert partial.missing == 2 and not partial.complete
    assert not Coverage(error="redis unreachable").complete


def test_urls_and_uids() -> None:
    opts = link_options_from_url("redis://user:p%40ss@h:1234/2", command_timeout=1.0)
    assert (opts.host, opts.port, opts.db, opts.username, opts.password) == (
        "h", 1234, 2, "user", "p@ss",
    )  # fmt: skip
    assert opts.command_timeout == 1.0
    assert link_options_from_url("redis://localhost").port == 6379
    with pytest.raises(ValueError):
        link_options_from_url("rediss://h")
    uid = new_uid()
    assert len(uid) == 6 and uid != new_uid()


def test_own_broadcasts_are_known_by_their_first_bytes() -> None:
    """A node drops its own broadcasts (back from Redis) before decoding them: Node's bytes
    (tests/cluster/vectors.json) and rtio's start 0x93 0xa6 <uid>."""
    vectors = json.loads((Path(__file__).parent / "vectors.json").read_text())
    uid_a = vectors["context"]["classic"]["uidA"]
    emits = [
        v for v in vectors["vectors"]
        if v["step"].startswith("classic.emit") and v["channel"].startswith("socket.io#/#")
    ]  # fmt: skip
    assert emits and all(
        bytes.fromhex(v["hex"]).startswith(b"\x93\xa6" + uid_a.encode()) for v in emits
    )
    uid = new_uid()
    message = BroadcastMessage(uid, WirePacket(["e", b"\x00"], nsp="/"), WireOptions())
    assert message.serialize().startswith(b"\x93\xa6" + uid.encode())


def test_the_gatherer_closes_at_once_when_nobody_was_reached() -> None:
    """No client anywhere: the placeholder's removal closes rtio's operator (it re-checks
    on a count), not its timeout."""
    op = Operator()
    gather = AckGather(op.on_count, op.on_ack)
    gather.count(0)
    op.sent()
    assert not op.done
    gather.finish()
    assert op.done and op.expected == 0 and op.results == {}
    gather.finish()  # once only
    assert op.expected == 0
