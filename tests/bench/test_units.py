"""rtio.bench's small parts: the target URL, failure causes, parameters, /proc readings."""

from __future__ import annotations

import asyncio
import errno
import os
import socket

import pytest

from rtio.bench.load import ClientFailure, Target, failure_cause
from rtio.bench.probe import ProcessProbe, find_listener_pid, parse_reading
from rtio.bench.runner import Params, make_payload
from rtio.client import TransportError
from rtio.socketio.parsers import ParseError
from rtio.ws import InvalidHandshakeResponse


def test_target_url_is_socket_io_clients() -> None:
    target = Target("http://127.0.0.1:5000")
    assert target.namespace == "/" and target.port == 5000 and target.host == "127.0.0.1"
    assert target.websocket_url() == "ws://127.0.0.1:5000/socket.io/?EIO=4&transport=websocket"
    admin = Target("https://localhost/admin", path="/io")
    assert admin.namespace == "/admin" and admin.port == 443 and admin.secure
    assert admin.websocket_url() == "wss://localhost/io/?EIO=4&transport=websocket"
    assert admin.origin == "https://localhost"


@pytest.mark.parametrize(("url", "path", "error"), [
    ("ftp://host", "/socket.io/", "not an http"),
    ("http://", "/socket.io/", "no host"),
    ("http://h:1/?x=1", "/socket.io/", "without query"),
    ("http://h:1", "socket.io", "must start"),
])
def test_target_refuses_bad_input(url: str, path: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Target(url, path)


@pytest.mark.parametrize(("exc", "cause"), [
    (ClientFailure("connect_error", "nope"), "connect_error"),
    (asyncio.TimeoutError(), "timeout"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "refused"),
    (InvalidHandshakeResponse("the server answered 503, not 101"), "http 503"),
    (InvalidHandshakeResponse("wrong Sec-WebSocket-Accept"), "websocket handshake"),
    (InvalidHandshakeResponse("the connection closed during the handshake"),
     "closed in handshake"),
    (TransportError("handshake refused (400)", 400), "http 400"),
    (ParseError("bad"), "protocol"),
    (ConnectionResetError(), "reset"),
    (OSError(errno.EMFILE, "too many"), "os EMFILE"),
    (RuntimeError("?"), "RuntimeError"),
])
def test_failure_causes(exc: BaseException, cause: str) -> None:
    assert failure_cause(exc) == cause


def test_a_transport_error_takes_the_cause_below_it() -> None:
    try:
        try:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "refused")
        except OSError as inner:
            raise TransportError("GET failed") from inner
    except TransportError as exc:
        assert failure_cause(exc) == "refused"


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"clients": 0}, "--clients"),
    ({"duration_s": 0}, "--duration"),
    ({"rate": -1.0}, "--rate"),
    ({"concurrency": 0}, "--concurrency"),
    ({"burst": 0}, "--burst"),
])
def test_params_refuse_bad_values(kwargs: dict[str, float], error: str) -> None:
    base = {"scenario": "echo", "clients": 1, "transport": "websocket", "duration_s": 1.0}
    with pytest.raises(ValueError, match=error):
        Params(**{**base, **kwargs})  # type: ignore[arg-type]


def test_payload_size() -> None:
    import json

    for size in (30, 100, 1000):
        text = json.dumps(make_payload(size, seq=12), separators=(",", ":"))
        assert len(text) == size


STAT = ("1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 "
        "250 150 0 0 20 0 3 0 100 1000000 2000 18446744073709551615")
STATUS = "Name:\tpython\nVmPeak:\t  30000 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n"


def test_parse_reading() -> None:
    reading = parse_reading(STAT, STATUS)
    assert reading is not None
    assert reading.rss_bytes == 12345 * 1024
    assert reading.cpu_s == pytest.approx(400 / os.sysconf("SC_CLK_TCK"))
    assert parse_reading("1 (x) S", STATUS) is None
    assert parse_reading(STAT, "Name:\tx\n") is None


def test_probe_reads_a_live_process_and_not_a_dead_one() -> None:
    reading = ProcessProbe(os.getpid()).read()
    assert reading is not None and reading.rss_bytes > 1_000_000
    assert ProcessProbe(2**22 + 12345).read() is None  # above pid_max: no such process
    with pytest.raises(ValueError):
        ProcessProbe(0)


def test_find_the_listener_of_a_port() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert find_listener_pid(port) == os.getpid()
    assert find_listener_pid(port) is None


@pytest.mark.parametrize("namespace", ["/", "/admin"])
@pytest.mark.parametrize("ack_id", [0, 7, 123456])
def test_a_prepared_emit_is_what_the_parser_encodes(namespace: str, ack_id: int) -> None:
    from rtio.bench.load import PreparedEmit
    from rtio.socketio import Packet, PacketType
    from rtio.socketio.parsers import JsonParser

    parser = JsonParser()
    args = [make_payload(100, seq=3), "é", [1, None]]
    prepared = PreparedEmit.of(parser, namespace, "echo", args)
    assert prepared.text is not None
    expected = parser.encode(Packet(PacketType.EVENT, namespace, ["echo", *args], ack_id))
    assert [f"{prepared.head}{ack_id}{prepared.text}"] == expected


def test_binary_args_are_not_prepared() -> None:
    from rtio.bench.load import PreparedEmit
    from rtio.socketio.parsers import JsonParser

    assert PreparedEmit.of(JsonParser(), "/", "echo", [b"\x00"]).text is None
