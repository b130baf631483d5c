"""rtio.socketio.core: the sans-I/O socket core, driven with plain values (no asyncio, no
clock, no randomness: the id and the connect time are given)."""

from __future__ import annotations

from typing import Any

import pytest

from rtio.socketio.core import (
    ACK_ID_WRAP,
    AckIds,
    InvalidState,
    Route,
    SocketCore,
    SocketState,
)
from rtio.socketio.errors import SocketIOError
from rtio.socketio.handlers import Handler


def core() -> SocketCore:
    return SocketCore("a" * 20, 1_700_000_000.5)


def test_identity_is_what_was_given() -> None:
    c = core()
    assert c.id == "a" * 20 and c.issued == 1_700_000_000.5
    assert c.state is SocketState.CONNECTING


def test_the_lifecycle_in_order() -> None:
    c = core()
    assert not c.connected and c.disconnected and not c.gone
    assert not c.begin_close()  # not connected: nothing to close
    c.open()
    assert c.state is SocketState.CONNECTED and c.connected and not c.disconnected
    assert not c.gone
    assert c.begin_close()
    assert c.state is SocketState.DISCONNECTING and not c.connected and c.gone
    assert not c.begin_close()  # once
    c.finish_close()
    assert c.state is SocketState.DISCONNECTED and c.gone and c.disconnected


def test_opening_twice_or_after_closing_is_a_bug() -> None:
    c = core()
    c.open()
    with pytest.raises(InvalidState, match="connected") as info:
        c.open()
    assert isinstance(info.value, SocketIOError) and isinstance(info.value, RuntimeError)
    c2 = core()
    c2.finish_close()  # refused while connecting
    with pytest.raises(InvalidState, match="disconnected"):
        c2.open()


def test_ack_ids_count_and_wrap_below_2_53() -> None:
    ids = AckIds()
    assert [ids(), ids(), ids()] == [0, 1, 2]
    late = AckIds(ACK_ID_WRAP - 1)
    assert [late(), late()] == [ACK_ID_WRAP - 1, 0]


def test_the_ack_table() -> None:
    c = core()
    assert c.forget_ack(1) is None and c.acks_pending == 0  # no table yet
    got: list[Any] = []
    c.expect_ack(1, got.append)
    c.expect_ack(2, got.append)
    assert c.acks_pending == 2
    on_ack = c.forget_ack(1)
    assert on_ack is not None and c.forget_ack(1) is None and c.acks_pending == 1
    on_ack(["x"])
    assert got == [["x"]]
    waiting = c.take_acks()
    assert waiting is not None and len(waiting) == 1
    assert c.acks_pending == 0 and c.take_acks() is None
    assert c.forget_ack(2) is None


def shared_handlers() -> dict[str, Handler]:
    def echo(socket: Any, *args: Any) -> Any:
        return args

    return {"echo": Handler(echo, 1)}


def test_one_lookup_own_listener_first() -> None:
    c = core()
    shared = shared_handlers()
    assert c.lookup("nope", shared) is None
    found = c.lookup("echo", shared)
    assert found is shared["echo"] and found.passes_socket
    c.set_listener("echo", lambda *args: None)
    own = c.lookup("echo", shared)
    assert own is not None and own is not shared["echo"] and not own.passes_socket
    assert c.lookup("other", shared) is None  # own table, event not in it: the shared one
    c.remove_listener("echo")
    assert c.lookup("echo", shared) is shared["echo"]
    core().remove_listener("echo")  # no table: nothing to do


def test_route_calls_now_only_on_the_straight_line() -> None:
    c = core()
    shared = shared_handlers()
    assert c.route("echo", shared, busy=False) is shared["echo"]
    assert c.route("nope", shared, busy=False) is Route.DROP
    assert c.route("echo", shared, busy=True) is Route.QUEUE
    assert c.route("nope", shared, busy=True) is Route.QUEUE  # looked up in its turn
    c.add_any(print)
    assert c.route("echo", shared, busy=False) is Route.QUEUE
    c.remove_any(None)
    assert c.route("echo", shared, busy=False) is shared["echo"]
    c.add_middleware(lambda packet: None)
    assert c.route("nope", shared, busy=False) is Route.QUEUE


def test_the_queue_bound() -> None:
    assert not SocketCore.queue_full(999, 1000)
    assert SocketCore.queue_full(1000, 1000)


def test_catch_all_listeners_in_and_out() -> None:
    c = core()
    assert c.incoming_listeners() == () and c.outgoing_listeners() == ()
    assert c.middlewares() == ()

    def a(*args: Any) -> None: ...
    def b(*args: Any) -> None: ...

    c.add_any(a)
    c.add_any(b)
    c.add_any(a, outgoing=True)
    assert c.incoming_listeners() == (a, b) and c.outgoing_listeners() == (a,)
    c.remove_any(a)
    assert c.incoming_listeners() == (b,)
    c.remove_any(a)  # not there any more
    assert c.incoming_listeners() == (b,)
    c.remove_any(b)
    assert c.incoming_listeners() == ()  # none left: back to no list
    c.remove_any(a, outgoing=True)
    assert c.outgoing_listeners() == ()
    c.remove_any(a, outgoing=True)  # no list: nothing to do

    def m(packet: list[Any]) -> None: ...

    c.add_middleware(m)
    c.add_middleware(m)
    assert c.middlewares() == (m, m)


def test_an_idle_core_holds_nothing_optional() -> None:
    c = core()
    assert c.acks_pending == 0
    assert c.incoming_listeners() == () and c.outgoing_listeners() == ()
    assert not hasattr(c, "__dict__")  # slots only
