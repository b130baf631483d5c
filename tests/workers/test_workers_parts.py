"""rtio.workers' parts without processes: ownership by id, the bus frames, the relay over
socket pairs, and the hand-off of a connection between two fronts in one loop."""

from __future__ import annotations

import asyncio
import selectors
import socket

import pytest

from rtio.engine import HttpResponse
from rtio.http import Front, FrontRequest, Route
from rtio.workers import Handoff, owner_of, prefix_of, resolve_workers
from rtio.workers.bus import WorkerBus
from rtio.workers.frames import ALL, FrameError, FrameKind, FrameReader, encode_frame
from rtio.workers.ownership import WorkerCountError
from rtio.workers.relay import Relay

# -- ownership ---------------------------------------------------------------------------------


def test_the_first_character_of_a_sid_names_its_worker() -> None:
    assert [prefix_of(i) for i in (0, 1, 25, 26, 63)] == ["A", "B", "Z", "a", "_"]
    target = "/socket.io/?EIO=4&transport=polling&sid=Bxxxxxxxxxxxxxxxxxxx"
    assert owner_of(target, 2) == 1
    assert owner_of(target, 1) is None  # no such worker: answered where it is
    assert owner_of("/socket.io/?sid=A123&EIO=4", 4) == 0
    assert owner_of("/socket.io/?EIO=4&transport=polling", 4) is None
    assert owner_of("/socket.io/?EIO=4&xsid=Bz", 4) is None
    assert owner_of("/socket.io/?EIO=4&xsid=Bz&sid=Cq", 4) == 2
    assert owner_of("/socket.io/?EIO=4&sid=", 4) is None
    assert owner_of("/socket.io/?EIO=4&sid=%41", 4) is None


@pytest.mark.parametrize(("value", "count"), [(1, 1), ("3", 3), (64, 64), (None, 1)])
def test_worker_counts(value: int | str | None, count: int) -> None:
    assert resolve_workers(value) == count


def test_auto_is_the_cpus_and_bad_counts_are_refused() -> None:
    assert 1 <= resolve_workers("auto") <= 64
    for bad in (0, 65, -1, "x", "2.5", True, 2.0):
        with pytest.raises(WorkerCountError):
            resolve_workers(bad)  # type: ignore[arg-type]


# -- frames ------------------------------------------------------------------------------------


def test_frames_round_trip_in_any_pieces() -> None:
    wire = encode_frame(FrameKind.PUBLISH, ALL, b"hello") + encode_frame(
        FrameKind.DELIVER, 3, b""
    )
    assert wire[:7] == b"\x00\x00\x00\x08\x01\xff\xff"
    reader = FrameReader(1024)
    frames = []
    for i in range(len(wire)):
        frames += reader.feed(wire[i : i + 1])
    assert frames == [(FrameKind.PUBLISH, -1, b"hello"), (FrameKind.DELIVER, 3, b"")]
    assert reader.buffered == 0


def test_a_frame_too_large_or_of_an_unknown_kind_is_an_error() -> None:
    with pytest.raises(FrameError, match="at most 16"):
        FrameReader(16).feed(encode_frame(FrameKind.PUBLISH, 0, b"x" * 20))
    with pytest.raises(FrameError, match="kind 9"):
        FrameReader(16).feed(b"\x00\x00\x00\x03\x09\x00\x00")
    with pytest.raises(FrameError):
        FrameReader(16).feed(b"\x00\x00\x00\x01\x01\x00\x00")


# -- the relay ---------------------------------------------------------------------------------


def _pump(selector: selectors.BaseSelector, relay: Relay) -> None:
    for _ in range(10):
        events = selector.select(0.01)
        if not events:
            return
        for key, mask in events:
            relay.handle(key.data, mask)


def _frames(sock: socket.socket, reader: FrameReader) -> list[tuple[FrameKind, int, bytes]]:
    sock.setblocking(False)
    out = []
    try:
        while data := sock.recv(65536):
            out += reader.feed(data)
    except BlockingIOError:
        pass
    return out


def test_the_relay_delivers_to_all_others_or_one_and_announces_members() -> None:
    selector = selectors.DefaultSelector()
    relay = Relay(selector, max_frame=1024)
    pairs = [socket.socketpair() for _ in range(3)]
    readers = [FrameReader(1024) for _ in range(3)]
    for i, (parent, _child) in enumerate(pairs):
        relay.add(i, parent)
    assert relay.members == [0, 1, 2]
    assert _frames(pairs[2][1], readers[2])[-1] == (FrameKind.MEMBERS, -1, b"\x00\x01\x02")
    for i in (0, 1):
        _frames(pairs[i][1], readers[i])
    pairs[0][1].sendall(encode_frame(FrameKind.PUBLISH, ALL, b"to all"))
    pairs[1][1].sendall(encode_frame(FrameKind.PUBLISH, 2, b"to 2"))
    _pump(selector, relay)
    assert _frames(pairs[0][1], readers[0]) == []
    assert _frames(pairs[1][1], readers[1]) == [(FrameKind.DELIVER, 0, b"to all")]
    assert _frames(pairs[2][1], readers[2]) == [
        (FrameKind.DELIVER, 0, b"to all"), (FrameKind.DELIVER, 1, b"to 2"),
    ]  # fmt: skip
    # a worker sending a frame too large loses its bus; the others hear who is left
    pairs[1][1].sendall(b"\x00\x10\x00\x00\x01\x00\x00")
    _pump(selector, relay)
    assert relay.members == [0, 2]
    assert _frames(pairs[0][1], readers[0]) == [(FrameKind.MEMBERS, -1, b"\x00\x02")]
    relay.close()
    selector.close()


def _three_workers() -> tuple[
    selectors.BaseSelector, Relay, list[tuple[socket.socket, socket.socket]], list[FrameReader]
]:
    """A relay with workers 0, 1 and 2 joined, their MEMBERS frames read."""
    selector = selectors.DefaultSelector()
    relay = Relay(selector, max_frame=1024)
    pairs = [socket.socketpair() for _ in range(3)]
    readers = [FrameReader(1024) for _ in range(3)]
    for i, (parent, _child) in enumerate(pairs):
        relay.add(i, parent)
    for i in range(3):
        _frames(pairs[i][1], readers[i])
    return selector, relay, pairs, readers


def test_the_relay_sends_the_frames_of_one_read_in_order_in_one_batch() -> None:
    selector, relay, pairs, readers = _three_workers()
    burst = [encode_frame(FrameKind.PUBLISH, ALL if n % 3 else 2, b"m%d" % n) for n in range(9)]
    pairs[0][1].sendall(b"".join(burst))  # one write: one read in the relay
    _pump(selector, relay)
    assert _frames(pairs[1][1], readers[1]) == [
        (FrameKind.DELIVER, 0, b"m%d" % n) for n in range(9) if n % 3]
    assert _frames(pairs[2][1], readers[2]) == [
        (FrameKind.DELIVER, 0, b"m%d" % n) for n in range(9)]
    assert relay.relayed == (1 + 2 + 3) + 6 + 9  # the MEMBERS frames, then the burst
    relay.close()
    selector.close()


def test_stopping_together_the_relay_releases_the_workers_once_all_have_drained() -> None:
    selector, relay, pairs, readers = _three_workers()
    released = (FrameKind.RELEASED, ALL, b"")
    drained = encode_frame(FrameKind.DRAINED, ALL, b"")
    # stopped alone (the supervisor runs on): released at once
    pairs[0][1].sendall(drained)
    _pump(selector, relay)
    assert _frames(pairs[0][1], readers[0]) == [released]
    # stopped together: the first to drain listens on until the last has drained...
    relay.stop_together()
    pairs[0][1].sendall(drained)
    pairs[1][1].sendall(drained)
    _pump(selector, relay)
    assert _frames(pairs[0][1], readers[0]) == [] and _frames(pairs[1][1], readers[1]) == []
    pairs[2][1].sendall(drained)
    _pump(selector, relay)
    for i in range(3):
        assert _frames(pairs[i][1], readers[i]) == [released]
    # ...or has exited (its bus gone)
    pairs[0][1].sendall(drained)
    _pump(selector, relay)
    assert _frames(pairs[0][1], readers[0]) == []
    pairs[1][1].close()
    pairs[2][1].close()
    _pump(selector, relay)
    assert relay.members == [0]
    assert _frames(pairs[0][1], readers[0])[-1] == released
    relay.close()
    selector.close()


async def test_a_draining_worker_waits_for_its_release_or_the_timeout_or_the_bus() -> None:
    parent, child = socket.socketpair()
    bus = WorkerBus(0, stop_on_loss=False)
    await bus.connect(child)
    bus.data_received(encode_frame(FrameKind.MEMBERS, ALL, b"\x00\x01"))
    waiting = asyncio.ensure_future(bus.drained(5.0))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    assert parent.recv(64) == encode_frame(FrameKind.DRAINED, ALL, b"")
    bus.data_received(encode_frame(FrameKind.RELEASED, ALL, b""))
    await asyncio.wait_for(waiting, 1.0)
    started = asyncio.get_running_loop().time()
    await bus.drained(0.1)  # nobody answers: it stops waiting
    assert 0.09 < asyncio.get_running_loop().time() - started < 1.0
    waiting = asyncio.ensure_future(bus.drained(5.0))
    await asyncio.sleep(0.05)
    parent.close()  # the supervisor is gone
    await asyncio.wait_for(waiting, 1.0)
    bus.close()


def test_the_relay_drops_for_a_worker_that_does_not_read() -> None:
    selector = selectors.DefaultSelector()
    relay = Relay(selector, max_frame=1 << 20, max_backlog=64 * 1024)
    pairs = [socket.socketpair() for _ in range(2)]
    for i, (parent, _child) in enumerate(pairs):
        relay.add(i, parent)
    pairs[0][1].setblocking(False)
    big = encode_frame(FrameKind.PUBLISH, ALL, b"x" * 60_000)
    for _ in range(40):  # worker 1 never reads
        pairs[0][1].sendall(big)
        _pump(selector, relay)
    assert relay.dropped > 0 and relay.members == [0, 1]
    relay.close()
    selector.close()


# -- the hand-off ------------------------------------------------------------------------------


def _answering(name: bytes) -> Route:
    async def handle(request: FrontRequest) -> HttpResponse:
        return HttpResponse(200, {}, name + b" " + request.head.target.encode())

    return Route(handle)


async def test_a_connection_goes_to_the_worker_owning_its_sid_with_the_bytes_read() -> None:
    loop = asyncio.get_running_loop()
    boxes = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(2)]
    outboxes = [send for _receive, send in boxes]
    handoffs = [Handoff(i, 2, outboxes, boxes[i][0]) for i in range(2)]
    fronts = [Front({"/socket.io/": _answering(b"w%d" % i)}) for i in range(2)]
    for front, handoff in zip(fronts, handoffs, strict=True):
        front.redirect = handoff.redirect
    for handoff, front in zip(handoffs, fronts, strict=True):
        handoff.start(front)
    server = await loop.create_server(fronts[0], "127.0.0.1", 0)  # worker 0 accepts all
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # two pipelined requests: the first is worker 0's, the second worker 1's
        writer.write(b"GET /socket.io/?sid=Aone HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /socket.io/?sid=Btwo HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /socket.io/?sid=Bthree HTTP/1.1\r\nHost: x\r\n\r\n")  # fmt: skip
        bodies = []
        for _ in range(3):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            bodies.append(await reader.readexactly(length))
        assert bodies == [b"w0 /socket.io/?sid=Aone", b"w1 /socket.io/?sid=Btwo",
                          b"w1 /socket.io/?sid=Bthree"]  # fmt: skip
        assert (handoffs[0].passed, handoffs[1].adopted) == (1, 1)
        writer.close()
    finally:
        server.close()
        for handoff in handoffs:
            handoff.close()
        for receive, send in boxes:
            receive.close()
            send.close()


async def test_a_connection_that_cannot_be_passed_is_answered_where_it_is() -> None:
    boxes = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(2)]
    outboxes = [send for _receive, send in boxes]
    handoff = Handoff(0, 2, outboxes, boxes[0][0])
    boxes[1][0].close()  # worker 1's inbox is gone
    front = Front({"/socket.io/": _answering(b"w0")})
    front.redirect = handoff.redirect
    handoff.start(front)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(front, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /socket.io/?sid=Bx HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200")
        assert handoff.failed == 1
        writer.close()
    finally:
        server.close()
        handoff.close()
        for _receive, send in boxes:
            send.close()
        boxes[0][0].close()


# -- the supervisor, in this process -----------------------------------------------------------


def test_a_worker_that_keeps_dying_at_start_makes_the_supervisor_give_up() -> None:
    from rtio.workers import WorkersFailing, listen, supervise

    socks = listen("127.0.0.1", 0, 2)
    try:

        def serve(worker: object) -> None:  # in the forked child: fails at once
            raise SystemExit(3)

        with pytest.raises(WorkersFailing, match="died 3 times within 1 s"):
            supervise(2, serve, socks, max_fast_failures=3)
    finally:
        for sock in set(socks):
            sock.close()


def test_a_worker_that_cannot_serve_the_app_stops_the_supervisor_at_once() -> None:
    import time

    from rtio.workers import WorkersFailing, WorkersUnsupported, listen, supervise

    socks = listen("127.0.0.1", 0, 2)
    try:

        def serve(worker: object) -> None:  # in the forked child (the app made there)
            raise WorkersUnsupported("not servable by several workers")

        start = time.monotonic()
        with pytest.raises(WorkersFailing, match="cannot serve this app"):
            supervise(2, serve, socks, max_fast_failures=100)
        assert time.monotonic() - start < 30  # (not restarted 100 times)
    finally:
        for sock in set(socks):
            sock.close()


def test_an_engine_in_a_sub_application_is_refused_with_workers() -> None:
    from aiohttp import web

    import rtio
    from rtio.workers import WorkersUnsupported, check_app

    top = web.Application()
    rtio.Server().attach(top)
    check_app(top)  # attached to the top application: rtio's front answers it
    sub = web.Application()
    rtio.Server().attach(sub)
    top.add_subapp("/chat", sub)
    with pytest.raises(WorkersUnsupported, match=r"/chat/socket\.io/ is attached to a sub-app"):
        check_app(top)


def test_listening_sockets_say_tcp_so_that_asyncio_sets_nodelay() -> None:
    """(With proto 0, as socket.create_server makes them, asyncio leaves Nagle on for the
    accepted connections: an ack written after a broadcast waited 40 ms for a delayed ACK.)"""
    from rtio.workers import listen

    socks = listen("127.0.0.1", 0, 3)
    try:
        assert len(set(socks)) == 3  # Linux: one SO_REUSEPORT socket per worker
        assert {s.getsockname() for s in socks} == {socks[0].getsockname()}
        assert all(s.proto == socket.IPPROTO_TCP for s in socks)
        with socket.create_connection(socks[0].getsockname()) as client:
            with selectors.DefaultSelector() as selector:
                for sock in socks:
                    selector.register(sock, selectors.EVENT_READ)
                ready = [key.fileobj for key, _mask in selector.select(2.0)]
            assert len(ready) == 1 and isinstance(ready[0], socket.socket)
            accepted, _ = ready[0].accept()
            with accepted:
                assert accepted.proto == socket.IPPROTO_TCP
                assert client
    finally:
        for sock in set(socks):
            sock.close()

