"""Issue 12 (hardening) defects of the Socket.IO layer: 6 (dynamic namespaces left behind by
refused CONNECTs, and without bound), 10 (an ack the encoder cannot carry), 11 (a handler
that never returns). Figures are asserted as bounds (counts, traced bytes), not timings."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import tracemalloc
from collections.abc import Callable

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


async def test_rooms_a_refusing_middleware_joined_are_left(sio: rtio.Server) -> None:
    """Defect 6's kin: a middleware that joins rooms and then refuses leaves nothing."""

    @sio.use
    def join_then_refuse(socket: rtio.Socket, auth: dict[str, object]) -> bool:
        socket.join(["vip", f"user-{auth.get('user')}"])
        return auth.get("ok") is True

    peer = Peer(sio)
    for k in range(100):
        peer.feed(f'0{{"user":{k}}}')
    await settle()
    assert sio.main.rooms() == set()
    sid = await peer.connect(auth='{"user":1,"ok":true}')
    assert sio.main.rooms() == {sid, "vip", "user-1"}


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


# -- defect 10: acks the encoder cannot carry ---------------------------------------------


def _echo_server(parser: object | None = None) -> rtio.Server:
    sio = rtio.Server(connect_timeout=None, parser=parser)  # type: ignore[arg-type]

    @sio.on("echo")
    def echo(socket: rtio.Socket, *args: object) -> object:
        return args  # a tuple: each argument back

    @sio.on("aecho")
    async def aecho(socket: rtio.Socket, *args: object) -> object:
        await asyncio.sleep(0)
        return args

    @sio.on("obj")
    def obj(socket: rtio.Socket) -> object:
        return object()

    @sio.on("callback")
    async def callback(socket: rtio.Socket, *, ack: Callable[..., None]) -> None:
        await asyncio.sleep(0)
        ack({"x": object()})

    return sio


async def test_an_echoed_1e400_is_answered_with_null() -> None:
    """Issue 12 defect 10: ``1e400`` decodes to inf, which JSON cannot carry; Node answers
    null (JSON.stringify). On 0d24665 the ack was dropped: the client waited for ever."""
    peer = Peer(_echo_server())
    await peer.connect()
    peer.feed(
        '21["echo",1e400]',
        '22["aecho",[-1e400,{"a":1e999}],"kept",1.5]',
        '23["echo",{"deep":[[[[1e400]]]]}]',
    )
    await settle()
    assert peer.take() == [
        "31[null]",
        '32[[null,{"a":null}],"kept",1.5]',
        '33[{"deep":[[[[null]]]]}]',
    ]


def test_the_json_encoder_writes_null_for_infinity_and_nan() -> None:
    """Issue 12 defect 10, at the codec: as JSON.stringify (a key as String(key))."""
    from rtio.socketio.packet import Packet, PacketType
    from rtio.socketio.parsers.json_parser import JsonParser

    inf, nan = float("inf"), float("nan")
    encode = JsonParser().encode
    assert encode(Packet(PacketType.EVENT, "/", ["x", nan, {"a": [inf]}, {-inf: 1}])) == [
        '2["x",null,{"a":[null]},{"-Infinity":1}]'
    ]
    assert encode(Packet(PacketType.EVENT, "/", ["x", b"\x01", (inf,)])) == [
        '51-["x",{"_placeholder":true,"num":0},[null]]',
        b"\x01",
    ]
    assert JsonParser().encode_ack("/", 7, [inf]) == ["37[null]"]
    with pytest.raises(TypeError):
        encode(Packet(PacketType.EVENT, "/", ["x", object()]))


@pytest.mark.parametrize("parser", ["json", "msgpack"])
async def test_an_ack_the_parser_cannot_carry_still_answers(
    parser: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12 defect 10: a return value (or an ``ack()`` argument) the parser cannot
    encode answers the client with an ack without arguments, and logs an error naming the
    event; on 0d24665 the ack was dropped and the client waited for ever."""
    from rtio.socketio.parsers.msgpack_parser import MsgpackParser

    sio = _echo_server(MsgpackParser() if parser == "msgpack" else None)
    peer = Peer(sio)
    if parser == "json":
        await peer.connect()
        peer.feed('21["obj"]', '22["callback"]')
    else:
        import msgpack  # type: ignore[import-untyped]

        peer.feed(msgpack.packb({"type": 0, "nsp": "/"}))
        await settle()
        peer.take()
        for k, event in ((1, "obj"), (2, "callback")):
            peer.feed(msgpack.packb({"type": 2, "nsp": "/", "data": [event], "id": k}))
    with caplog.at_level(logging.ERROR, logger="rtio.socketio"):
        await settle()
    replies = peer.take()
    if parser == "json":
        assert replies == ["31[]", "32[]"]
    else:
        import msgpack

        assert [msgpack.unpackb(r) for r in replies] == [
            {"type": 3, "nsp": "/", "data": [], "id": 1},
            {"type": 3, "nsp": "/", "data": [], "id": 2},
        ]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("event 'obj'" in m and "cannot be encoded" in m for m in errors), errors
    assert any("event 'callback'" in m for m in errors), errors


async def test_msgpack_answers_every_value_it_decodes() -> None:
    """Issue 12 defect 10, the msgpack parser: whatever it decodes it can encode back
    (infinities and NaN travel as float64; big ints, dates, ext types, bin, odd map keys,
    deep nesting), so an echo always answers."""
    import msgpack

    from rtio.socketio.parsers.msgpack_parser import MsgpackParser

    nested: list[object] = []
    for _ in range(1000):
        nested = [nested]
    values = [
        float("inf"),
        float("-inf"),
        float("nan"),
        2**64 - 1,
        -(2**63),
        b"\x00\xff",
        {1: "int key", b"k": "bin key", None: "nil key"},
        msgpack.ExtType(5, b"ext"),
        msgpack.Timestamp(1, 2),
        nested,
    ]
    peer = Peer(_echo_server(MsgpackParser()))
    peer.feed(msgpack.packb({"type": 0, "nsp": "/"}))
    await settle()
    peer.take()
    for k, value in enumerate(values):
        data = ["echo", value]
        peer.feed(msgpack.packb({"type": 2, "nsp": "/", "data": data, "id": k}))
    date = b"\xd7\x00" + bytes(8)  # notepack's Date (the epoch), which msgpack cannot name
    peer.feed(b"\x84\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa4echo" + date + b"\xa2id\x63")
    await settle()
    answered = [msgpack.unpackb(r, strict_map_key=False)["id"] for r in peer.take()]
    assert answered == [*range(len(values)), 99]
    assert not peer.session.closed


async def test_an_emit_the_parser_cannot_carry_raises_and_names_the_event(
    sio: rtio.Server, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12 defect 10, emits: nothing waits on the client side, so the caller gets the
    exception, and an error names the event."""
    peer = Peer(sio)
    sid = await peer.connect()
    socket = sio.sockets[sid]
    with caplog.at_level(logging.ERROR, logger="rtio.socketio"):
        with pytest.raises(TypeError):
            socket.emit("news", object())
        with pytest.raises(TypeError):
            sio.emit("bulletin", object())
    messages = [r.getMessage() for r in caplog.records]
    assert any("event 'news'" in m for m in messages)
    assert any("event 'bulletin'" in m for m in messages)
    assert peer.take() == []


# -- defect 11: a handler that never returns ----------------------------------------------


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait for ``condition`` (a bound on a loaded machine, not a timing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def _stuck_server(**options: object) -> tuple[rtio.Server, asyncio.Event, list[str]]:
    sio = rtio.Server(connect_timeout=None, **options)  # type: ignore[arg-type]
    release = asyncio.Event()
    done: list[str] = []

    @sio.on("stuck")
    async def stuck(socket: rtio.Socket) -> str:
        await release.wait()
        socket.join("late")  # after a disconnect: nothing
        socket.emit("late")  # after a disconnect: dropped
        done.append(f"stuck connected={socket.connected}")
        return "finally"

    @sio.on("next")
    def next_(socket: rtio.Socket) -> str:
        done.append("next")
        return "next"

    return sio, release, done


async def test_a_stuck_handler_is_logged_once_while_it_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 12 defect 11: a handler still running past slow_handler_warning is logged, once,
    while it runs, naming the event, the namespace and the socket (0d24665: nothing)."""
    sio, release, done = _stuck_server(slow_handler_warning=0.05)
    peer = Peer(sio)
    sid = await peer.connect()
    with caplog.at_level(logging.INFO, logger="rtio.socketio"):
        peer.feed('21["stuck"]', '22["next"]')

        def slow_warnings() -> list[str]:
            return [
                r.getMessage()
                for r in caplog.records
                if r.levelno == logging.WARNING and "slow_handler_warning" in r.getMessage()
            ]

        await _until(lambda: len(slow_warnings()) >= 1)
        await asyncio.sleep(0.2)  # four thresholds more: still one warning
        (warning,) = slow_warnings()
        assert "'stuck'" in warning and sid in warning and "namespace /" in warning
        assert "1 waiting" in warning
        assert done == [] and peer.take() == []  # "next" waits its turn: order is kept
        release.set()
        await settle()
    assert done == ["stuck connected=True", "next"]
    assert peer.take() == ['2["late"]', '31["finally"]', '32["next"]']
    with pytest.raises(ValueError):
        rtio.Server(slow_handler_warning=0)


async def test_slow_handler_warning_off_and_default(caplog: pytest.LogCaptureFixture) -> None:
    assert rtio.Server().slow_handler_warning == 5.0
    sio, release, done = _stuck_server(slow_handler_warning=None)
    peer = Peer(sio)
    await peer.connect()
    with caplog.at_level(logging.WARNING, logger="rtio.socketio"):
        peer.feed('21["stuck"]')
        await asyncio.sleep(0.05)
        release.set()
        await settle()
    assert done == ["stuck connected=True"] and not caplog.records


async def test_acks_reach_a_socket_whose_handler_is_stuck() -> None:
    """Issue 12 defect 11: the client's ACKs (answers to the server's emits) are handled
    while a handler of the socket is still running, including one that awaits an ack from
    its own client (already so on 0d24665, where ACKs skip the handler queue)."""
    sio, release, _ = _stuck_server()

    @sio.on("ask")
    async def ask(socket: rtio.Socket) -> object:
        return await socket.emit_with_ack("question", timeout=30)

    peer = Peer(sio)
    sid = await peer.connect()
    peer.feed('21["stuck"]')
    await settle()
    pending = asyncio.ensure_future(sio.sockets[sid].emit_with_ack("q", timeout=30))
    await settle()
    assert peer.take() == ['20["q"]']
    peer.feed('30["answer"]')
    assert await asyncio.wait_for(pending, 5) == "answer"
    release.set()
    await settle()
    peer.take()
    # a handler that awaits its own client's ack gets it at once
    peer.feed('22["ask"]')
    await settle()
    assert peer.take() == ['21["question"]']
    peer.feed('31["yes"]')
    await settle()
    assert peer.take() == ['32["yes"]']


@pytest.mark.parametrize("how", ["client DISCONNECT", "transport close"])
async def test_a_disconnect_is_handled_while_a_handler_is_stuck(how: str) -> None:
    """Issue 12 defect 11: a DISCONNECT (or the connection's end) is handled at once while
    a handler of the socket never returns: the disconnect handlers run and the socket leaves
    its rooms (0d24665: both waited behind the stuck handler, for ever: rooms and handler
    state held). The stuck handler is left running, not cancelled; when it ends its join
    does nothing and its emit and ack are dropped."""
    sio, release, done = _stuck_server()
    reasons: list[str] = []
    sio.on("disconnecting", lambda socket, reason: reasons.append(f"ing {sorted(socket.rooms)}"))
    sio.on("disconnect", lambda socket, reason: reasons.append(str(reason)))
    peer = Peer(sio)
    sid = await peer.connect()
    sio.sockets[sid].join("lobby")
    peer.feed('21["stuck"]', '22["next"]')
    await settle()
    if how == "client DISCONNECT":
        peer.feed("1")
    else:
        from rtio.engine import CloseReason

        peer.session.end(CloseReason.TRANSPORT_CLOSE)
    await settle()
    assert reasons[0] == f"ing {sorted([sid, 'lobby'])}"
    assert reasons[1:] == [
        "client namespace disconnect" if how == "client DISCONNECT" else "transport close"
    ]
    assert sio.main.rooms() == set() and sio.sockets == {}
    assert done == []  # still running: not cancelled
    release.set()
    await settle()
    assert done == ["stuck connected=False", "next"]  # queued events still ran, in order
    assert sio.main.rooms() == set()  # the late join did nothing
    assert peer.take() == []


async def test_a_slow_connect_handler_is_watched_too(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 12 defect 11: ``connect`` runs in the socket's turn as events do: watched."""
    sio = rtio.Server(connect_timeout=None, slow_handler_warning=0.02)
    release = asyncio.Event()

    @sio.on("connect")
    async def connect(socket: rtio.Socket, auth: object) -> None:
        await release.wait()
        raise RuntimeError("after a while")

    peer = Peer(sio)
    with caplog.at_level(logging.INFO, logger="rtio.socketio"):
        await peer.connect()
        await _until(lambda: any("'connect' handler" in r.getMessage() for r in caplog.records))
        release.set()
        await settle()
    text = caplog.text
    assert "still running" in text and "after a while" in text
