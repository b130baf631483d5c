"""Connection state recovery (rtio/socketio/recovery.py and its hooks in the socket and the
namespace): the packet log alone, then a real server on a port with rtio's client, whose
connection is cut (the network drops it) and which reconnects with its pid and offset."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

import rtio
from rtio.client import Client
from rtio.socketio.recovery import (
    ConnectionStateRecovery,
    PacketLog,
    Session,
    should_replay,
)

# -- the options ------------------------------------------------------------------------


def test_options_from_dict_and_node_names() -> None:
    assert ConnectionStateRecovery.of(None) is None
    assert ConnectionStateRecovery.of(False) is None
    assert ConnectionStateRecovery.of(True) == ConnectionStateRecovery()
    opts = ConnectionStateRecovery.of(
        {"maxDisconnectionDuration": 30_000, "skipMiddlewares": False}
    )
    assert opts == ConnectionStateRecovery(30.0, False)
    opts = ConnectionStateRecovery.of({"max_disconnection_duration": 5, "max_packets": 3})
    assert opts.max_disconnection_duration == 5 and opts.max_packets == 3


@pytest.mark.parametrize(
    "bad",
    [{"nope": 1}, {"max_disconnection_duration": 0}, {"max_packets": 0}, {"max_sessions": 0}, 3],
)
def test_bad_options(bad: Any) -> None:
    with pytest.raises(ValueError):
        ConnectionStateRecovery.of(bad)
    with pytest.raises(ValueError):
        rtio.Server(connection_state_recovery=bad)


# -- the packet log (sans-I/O: a fake clock) ----------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _log(clock: Callable[[], float], **options: Any) -> PacketLog:
    return PacketLog(ConnectionStateRecovery(**options), clock=clock, epoch="e")


def _opts(
    rooms: tuple[str, ...] = (), except_: tuple[str, ...] = ()
) -> tuple[frozenset[str], frozenset[str]]:
    return frozenset(rooms), frozenset(except_)


def test_should_replay_is_nodes_rule() -> None:
    assert should_replay(["s", "a"], [], [])
    assert should_replay(["s", "a"], ["a", "b"], [])
    assert not should_replay(["s", "a"], ["b"], [])
    assert not should_replay(["s", "a"], [], ["a"])
    assert not should_replay(["s", "a"], ["a"], ["s"])  # its own id excluded
    assert should_replay(["s"], ["s"], ["x"])


def test_offsets_and_missed_in_order() -> None:
    clock = Clock()
    log = _log(clock)
    first = ["ev", 0]
    assert log.append(first, *_opts()) == "e-0" and first == ["ev", 0, "e-0"]
    log.append(["ev", 1], *_opts(("a",)))
    log.append(["ev", 2], *_opts(("b",)))
    log.append(["ev", 3], *_opts((), ("a",)))
    log.append(["ev", 4], *_opts(("s",)))
    assert log.missed(["s", "a"], "e-0") == [["ev", 1, "e-1"], ["ev", 4, "e-4"]]
    assert log.missed(["s", "a"], "e-4") == []
    for bad in ("e-5", "x-1", "e-x", "", "1", "e--1", "e-" + "9" * 30):
        assert log.missed(["s"], bad) is None


def test_session_restored_once() -> None:
    clock = Clock()
    log = _log(clock)
    offset = log.append(["ev"], *_opts())
    log.persist(Session("sid", "pid", ["sid", "a"], {"k": 1}))
    log.append(["ev", 1], *_opts(("a",)))
    restored = log.restore("pid", offset)
    assert restored is not None
    assert (restored.sid, restored.rooms, restored.data) == ("sid", ["sid", "a"], {"k": 1})
    assert restored.missed == [["ev", 1, "e-1"]]
    assert log.restore("pid", offset) is None  # taken once
    assert log.restore("unknown", offset) is None


def test_since_reads_from_an_event_number_even_in_an_empty_log() -> None:
    clock = Clock()
    log = _log(clock, max_packets=2)
    start = log.next_seq  # nothing stored yet
    assert log.since(["s"], start) == []
    log.append(["ev", 0], *_opts())
    log.append(["ev", 1], *_opts(("other",)))
    assert log.since(["s"], start) == [["ev", 0, "e-0"]]
    log.persist(Session("sid", "pid", ["s"], {}))
    log.append(["ev", 2], *_opts(("s",)))  # the cap pushes event 0 out
    assert log.since(["s"], start) is None and log.since(["s"], 1) == [["ev", 2, "e-2"]]
    assert log.since(["s"], 4) is None  # not yet given
    restored = log.restore("pid", "foreign-7", since=1)
    assert restored is not None and restored.missed == [["ev", 2, "e-2"]]
    log.append(["ev", 3], *_opts())
    assert restored.more is not None and restored.more() == [["ev", 3, "e-3"]]


def test_bad_offset_drops_the_session() -> None:
    clock = Clock()
    log = _log(clock)
    log.append(["ev"], *_opts())
    log.persist(Session("sid", "pid", ["sid"], {}))
    assert log.restore("pid", "e-99") is None
    assert log.session_count == 0 and log.sessions_dropped == 1


def test_expiry_in_time() -> None:
    clock = Clock()
    log = _log(clock, max_disconnection_duration=10)
    expired: list[str] = []
    log.on_session_expired = lambda s: expired.append(s.pid)
    offset = log.append(["ev"], *_opts())
    log.persist(Session("sid", "pid", ["sid"], {}))
    clock.now += 9
    log.persist(Session("sid2", "pid2", ["sid2"], {}))
    assert log.restore("pid2", offset) is not None  # the packet outlives its 10 s: a session waits
    clock.now += 2
    assert log.restore("pid", offset) is None
    assert expired == ["pid"]
    clock.now += 100
    log.expire()
    assert len(log) == 0


def test_caps_drop_the_oldest() -> None:
    clock = Clock()
    log = _log(clock, max_packets=3, max_sessions=2)
    first = log.append(["ev", 0], *_opts())
    for i in range(1, 4):
        log.append(["ev", i], *_opts())
    assert len(log) == 3 and log.missed(["s"], first) is None  # pushed out
    for i in range(3):
        log.persist(Session(f"s{i}", f"p{i}", [f"s{i}"], {}))
    assert log.session_count == 2 and log.sessions_dropped == 1
    assert log.restore("p0", "e-1") is None
    assert log.restore("p2", "e-1") is not None


# -- end to end: a real server on a port, rtio's client ---------------------------------


class Live:
    def __init__(self, sio: rtio.Server) -> None:
        self.sio = sio
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        self.runner = web.AppRunner(self.sio.make_app(), handle_signals=False, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def make_server(ping: float = 25.0, **recovery: Any) -> rtio.Server:
    sio = rtio.Server(
        connect_timeout=None,
        ping_interval=ping,
        ping_timeout=ping,
        connection_state_recovery=recovery or True,
    )
    sio.state = {"connects": [], "disconnects": []}  # type: ignore[attr-defined]

    @sio.on("connect")
    def connect(socket: rtio.Socket, auth: Any) -> None:
        sio.state["connects"].append((socket.id, socket.recovered))  # type: ignore[attr-defined]
        if not socket.recovered:
            socket.data["n"] = len(sio.state["connects"])  # type: ignore[attr-defined]
            socket.emit("welcome", socket.id)

    @sio.on("disconnect")
    def disconnect(socket: rtio.Socket, reason: Any) -> None:
        sio.state["disconnects"].append(str(reason))  # type: ignore[attr-defined]

    @sio.on("join")
    def join(socket: rtio.Socket, room: str) -> bool:
        socket.join(room)
        return True

    @sio.on("whoami")
    def whoami(socket: rtio.Socket) -> dict[str, Any]:
        return {
            "id": socket.id,
            "rooms": sorted(socket.rooms),
            "data": socket.data,
            "recovered": socket.recovered,
        }

    return sio


@pytest.fixture
async def live(request: pytest.FixtureRequest) -> AsyncIterator[Live]:
    # over polling the server sees a dropped client only when its heartbeat fails
    ping = 0.5 if "polling" in request.node.name else 25.0
    server = Live(make_server(ping))
    await server.start()
    yield server
    await server.stop()


def cut(client: Client) -> None:
    """The network drops the connection (the client sees a transport close)."""
    engine = client.manager.engine
    assert engine is not None
    engine.abort("transport close")


@pytest.mark.parametrize("transports", [("websocket",), ("polling",)], ids=["websocket", "polling"])
async def test_recovers_id_rooms_data_and_missed_events(
    live: Live, transports: tuple[str, ...]
) -> None:
    sio = live.sio
    # over polling the server must see the old session gone (its heartbeat) before the
    # client is back, or there is nothing to recover yet
    delay = 0.3 if transports == ("websocket",) else 2.0
    a = Client(live.url, transports=transports, reconnection_delay=delay, randomization_factor=0)
    got: list[tuple[Any, ...]] = []
    a.on("news", lambda *args: got.append(args))
    a.on("welcome", lambda *args: got.append(("welcome", *args)))
    order: list[str] = []
    a.on("connect", lambda: order.append(f"connect {len(got)}"))
    try:
        await a.connect(timeout=5)
        await wait_for(lambda: len(got) == 1)
        assert got[0][0] == "welcome" and isinstance(got[0][-1], str)  # the offset, last
        assert a._pid is not None and not a.recovered
        assert await a.call("join", "r", timeout=5) is True
        old_id = a.id
        cut(a)
        await wait_for(lambda: len(sio.state["disconnects"]) == 1)  # type: ignore[attr-defined]
        assert sio.state["disconnects"][0] in ("transport close", "transport error", "ping timeout")  # type: ignore[attr-defined]
        sio.emit("news", 1)  # to all
        sio.to("r").emit("news", 2)  # to its room
        sio.to("other").emit("news", 3)  # not for it
        sio.except_("r").emit("news", 4)  # not for it
        sio.to(old_id).emit("news", 5)  # to it by id
        sio.volatile.emit("news", 6)  # volatile: not stored
        await wait_for(lambda: a.connected, timeout=10)
        assert a.recovered and a.id == old_id
        await wait_for(lambda: len(got) == 4)
        assert [g[0] for g in got[1:]] == [1, 2, 5]
        assert all(isinstance(g[-1], str) for g in got)
        assert order[-1] == "connect 4"  # the missed events came before connect
        me = await a.call("whoami", timeout=5)
        assert me == {
            "id": old_id,
            "rooms": sorted([old_id, "r"]),
            "data": {"n": 1},
            "recovered": True,
        }
        assert sio.state["connects"] == [(old_id, False), (old_id, True)]  # type: ignore[attr-defined]
        # and on: a new event reaches it with an offset, a second cut recovers again
        cut(a)
        await wait_for(lambda: len(sio.state["disconnects"]) == 2)  # type: ignore[attr-defined]
        sio.to("r").emit("news", 7)
        await wait_for(lambda: a.connected and len(got) == 5, timeout=10)
        assert a.recovered and got[-1][0] == 7
    finally:
        await a.close()


async def test_client_namespace_disconnect_is_not_recovered(live: Live) -> None:
    sio = live.sio
    a = Client(live.url, transports=("websocket",))
    try:
        await a.connect(timeout=5)
        await wait_for(lambda: a._last_offset is not None)
        old_id = a.id
        await a.disconnect()
        await wait_for(lambda: sio.state["disconnects"] == ["client namespace disconnect"])  # type: ignore[attr-defined]
        await a.connect(timeout=5)
        assert not a.recovered and a.id != old_id
    finally:
        await a.close()


async def test_unknown_pid_and_bad_offset(live: Live) -> None:
    for auth in ({"pid": "nope", "offset": "x-1"}, {"pid": 1, "offset": 2}, {"offset": "e-0"}):
        c = Client(live.url, transports=("websocket",), auth=auth)
        try:
            await c.connect(timeout=5)
            assert not c.recovered
            me = await c.call("whoami", timeout=5)
            assert me["recovered"] is False and me["data"] == {"n": len(live.sio.state["connects"])}  # type: ignore[attr-defined]
        finally:
            await c.close()


async def test_expired_session_is_not_recovered() -> None:
    server = Live(make_server(max_disconnection_duration=0.3))
    await server.start()
    a = Client(
        server.url, transports=("websocket",), reconnection_delay=1.5, randomization_factor=0
    )
    try:
        await a.connect(timeout=5)
        await wait_for(lambda: a._last_offset is not None)
        old_id = a.id
        cut(a)
        await wait_for(lambda: a.connected, timeout=10)
        assert not a.recovered and a.id != old_id
    finally:
        await a.close()
        await server.stop()


@pytest.mark.parametrize("skip", [True, False])
async def test_middlewares_skipped_or_run(skip: bool) -> None:
    sio = make_server(skip_middlewares=skip)
    ran: list[bool] = []

    @sio.use
    def middleware(socket: rtio.Socket, auth: Any) -> None:
        ran.append(socket.recovered)

    server = Live(sio)
    await server.start()
    a = Client(
        server.url, transports=("websocket",), reconnection_delay=0.2, randomization_factor=0
    )
    try:
        await a.connect(timeout=5)
        await wait_for(lambda: a._last_offset is not None)
        cut(a)
        await wait_for(lambda: a.connected and a.recovered, timeout=10)
        assert ran == ([False] if skip else [False, True])
    finally:
        await a.close()
        await server.stop()


async def test_acked_emit_is_not_stored_nor_offset(live: Live) -> None:
    sio = live.sio
    got: list[tuple[Any, ...]] = []
    a = Client(live.url, transports=("websocket",))

    @a.on("ask")
    def ask(*args: Any) -> str:
        got.append(args)
        return "yes"

    try:
        await a.connect(timeout=5)
        socket = sio.main.sockets[a.id]  # type: ignore[index]
        assert await socket.emit_with_ack("ask", 1, timeout=5) == "yes"
        assert got == [(1,)]  # no offset appended to an acked emit
        adapter = sio.main.adapter
        assert len(adapter.log) == 1  # type: ignore[attr-defined]  # the welcome only
    finally:
        await a.close()


async def test_off_by_default_no_pid() -> None:
    sio = rtio.Server(connect_timeout=None)
    server = Live(sio)
    await server.start()
    got: list[tuple[Any, ...]] = []
    a = Client(server.url, transports=("websocket",))
    a.on("news", lambda *args: got.append(args))
    try:
        await a.connect(timeout=5)
        assert a._pid is None
        sio.emit("news", 1)
        await wait_for(lambda: got == [(1,)])
    finally:
        await a.close()
        await server.stop()


async def test_reconnect_before_the_server_saw_the_drop_takes_over(live: Live) -> None:
    """Over polling with 25 s heartbeats the server has not seen the old connection drop
    when the client is back: the old one is closed then, its session saved and taken."""
    sio = live.sio
    a = Client(live.url, transports=("polling",), reconnection_delay=0.2, randomization_factor=0)
    got: list[tuple[Any, ...]] = []
    a.on("news", lambda *args: got.append(args))
    try:
        await a.connect(timeout=5)
        await wait_for(lambda: a._last_offset is not None)
        old_id = a.id
        cut(a)
        sio.emit("news", 1)  # the old socket is still "connected": it goes to its queue
        await wait_for(lambda: a.connected and a.id == old_id, timeout=10)
        assert a.recovered
        assert sio.state["disconnects"] == ["transport close"]  # type: ignore[attr-defined]
        await wait_for(lambda: [g[0] for g in got] == [1])
    finally:
        await a.close()


async def test_expiry_hook_is_called_on_time() -> None:
    expired: list[tuple[str, str]] = []
    sio = make_server(
        max_disconnection_duration=0.3,
        on_session_expired=lambda nsp, session: expired.append((nsp, session.sid)),
    )
    server = Live(sio)
    await server.start()
    a = Client(server.url, transports=("websocket",), reconnection=False)
    try:
        await a.connect(timeout=5)
        await wait_for(lambda: a._last_offset is not None)
        old_id = a.id
        cut(a)
        await wait_for(lambda: expired == [("/", old_id)], timeout=5)
    finally:
        await a.close()
        await server.stop()


async def test_events_sent_while_the_middlewares_run_are_replayed() -> None:
    """skip_middlewares=False: a broadcast while a recovered socket's middleware runs (here,
    by the middleware itself, after an await) reaches it, after its missed events."""
    sio = make_server(skip_middlewares=False)

    @sio.use
    async def middleware(socket: rtio.Socket, auth: Any) -> None:
        if socket.recovered:
            await asyncio.sleep(0.05)
            sio.emit("news", "during")

    server = Live(sio)
    await server.start()
    a = Client(
        server.url, transports=("websocket",), reconnection_delay=0.2, randomization_factor=0
    )
    got: list[Any] = []
    a.on("news", lambda *args: got.append(args[0]))
    try:
        await a.connect(timeout=5)
        await wait_for(lambda: a._last_offset is not None)
        cut(a)
        await wait_for(lambda: len(sio.state["disconnects"]) == 1)  # type: ignore[attr-defined]
        sio.emit("news", "away")
        await wait_for(lambda: a.connected and a.recovered, timeout=10)
        await wait_for(lambda: got == ["away", "during"])
    finally:
        await a.close()
        await server.stop()
