"""``rtio serve --workers N`` as real processes on a loopback port, with real clients:
raw Engine.IO requests each on a new TCP connection (so the kernel spreads them over the
workers), python-socketio's AsyncClient (polling only, WebSocket, and the upgrade), and
the supervisor's restart and graceful stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from workers_server import WorkersServer


@pytest.fixture(scope="module")
def server2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkersServer]:
    server = WorkersServer(2, tmp_path_factory.mktemp("workers2"))
    try:
        yield server
    finally:
        server.stop()


# -- raw Engine.IO, one TCP connection per request ------------------------------------------


async def _request(url: str, method: str = "GET", data: str | None = None) -> tuple[int, str]:
    # a new connection each time: the kernel gives it to any worker
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http, http.request(
        method, url, data=data
    ) as response:
        return response.status, await response.text()


async def _raw_session(base: str) -> tuple[str, int]:
    """Open a polling session, join "/", ask whoami; returns (sid, pid of its owner)."""
    status, body = await _request(f"{base}/socket.io/?EIO=4&transport=polling")
    assert status == 200 and body.startswith("0"), body
    sid = json.loads(body[1:])["sid"]
    url = f"{base}/socket.io/?EIO=4&transport=polling&sid={sid}"
    assert await _request(url, "POST", "40") == (200, "ok")
    status, body = await _request(url)
    assert status == 200 and body.startswith("40"), body
    assert await _request(url, "POST", '421["whoami"]') == (200, "ok")
    status, body = await _request(url)
    assert status == 200 and body.startswith("431["), body
    return sid, json.loads(body[3:])[0]


async def test_polling_requests_reach_their_session_whatever_the_connection(
    server2: WorkersServer,
) -> None:
    """Every request on a new connection: none is refused ("Session ID unknown" is a 400),
    and each session's answers come from one worker (its owner)."""

    async def session(n: int) -> int:
        sid, pid = await _raw_session(server2.url)
        url = f"{server2.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
        for i in range(4):
            assert await _request(url, "POST", f'42{i}["whoami"]') == (200, "ok")
            status, body = await _request(url)
            assert (status, body) == (200, f"43{i}[{pid}]")
        assert await _request(url, "POST", "1") == (200, "ok")  # close
        return pid

    pids = await asyncio.gather(*(session(n) for n in range(12)))
    assert len(set(pids)) == 2, "both workers own sessions"
    assert "Session ID unknown" not in server2.log


async def test_the_upgrade_of_a_polling_session_reaches_its_owner(server2: WorkersServer) -> None:
    """The WebSocket of a polling session opens on a new connection, whichever worker
    accepts it: it is passed to the owner, which upgrades the session."""
    ws_url = server2.url.replace("http", "ws")
    for _ in range(6):
        sid, pid = await _raw_session(server2.url)
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True)
        ) as http, http.ws_connect(
            f"{ws_url}/socket.io/?EIO=4&transport=websocket&sid={sid}"
        ) as ws:
            await ws.send_str("2probe")
            assert await ws.receive_str(timeout=5) == "3probe"
            # the pending poll is answered with a noop before the switch
            status, body = await _request(
                f"{server2.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
            )
            assert status == 200, body
            await ws.send_str("5")
            await ws.send_str('427["whoami"]')
            assert await ws.receive_str(timeout=5) == f"437[{pid}]"


async def test_a_connection_aiohttp_answers_closes_after_the_response(
    server2: WorkersServer,
) -> None:
    """A browser loads the page and its scripts (the app's aiohttp routes) on keep-alive
    connections, then polls on them. aiohttp, which keeps such a connection, cannot pass a
    request to the session's owner, so each of its responses closes the connection: the
    next request comes on a new one, through the front, which can (stage 72 found it)."""
    for _ in range(4):  # whichever worker accepts it
        reader, writer = await asyncio.open_connection("127.0.0.1", server2.port)
        writer.write(b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        response = await asyncio.wait_for(reader.read(), 5)  # to EOF: the server closed
        writer.close()
        assert response.startswith(b"HTTP/1.1 404 "), response


# -- python-socketio's client ------------------------------------------------------------------


async def _client(url: str, transports: list[str] | None, heard: list[Any]) -> tuple[Any, int]:
    client = socketio.AsyncClient(reconnection=False)
    client.on("heard", lambda msg: heard.append(msg))
    client.on("question", lambda: f"answer of {client.get_sid()}")
    await client.connect(url, transports=transports, wait_timeout=10)
    pid = await client.call("whoami", timeout=10)
    return client, pid


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], None],
                         ids=["polling", "websocket", "upgrade"])  # fmt: skip
async def test_rooms_broadcasts_and_fetch_sockets_span_the_workers(
    server2: WorkersServer, transports: list[str] | None
) -> None:
    heard: dict[int, list[Any]] = {}
    clients: list[tuple[Any, int]] = []
    try:
        # connect until both workers have clients (the kernel picks; give it room)
        while len(clients) < 6 or len({pid for _c, pid in clients}) < 2:
            assert len(clients) < 40, "every connection landed on one worker"
            heard[len(clients)] = []
            clients.append(await _client(server2.url, transports, heard[len(clients)]))
        first, _ = clients[0]
        for n, (client, _pid) in enumerate(clients):
            if n % 2 == 0:
                assert await client.call("join", "even", timeout=10) is True
        assert await first.call("count", timeout=10) == len(clients)
        evens = (len(clients) + 1) // 2
        assert await first.call("count", "even", timeout=10) == evens
        assert await first.call("shout", ("even", "to evens"), timeout=10) is True
        assert await first.call("shout", (None, "to all"), timeout=10) is True
        for _ in range(100):
            if all(len(h) == (2 if n % 2 == 0 else 1) for n, h in heard.items()):
                break
            await asyncio.sleep(0.05)
        assert {n: h for n, h in heard.items()} == {
            n: (["to evens", "to all"] if n % 2 == 0 else ["to all"]) for n in heard
        }
        # sessions stayed with their owners all along
        for client, pid in clients:
            assert await client.call("whoami", timeout=10) == pid
            assert client.connected
        # a broadcast with acks gathers the answers of the clients of every worker
        polled = await first.call("poll", "even", timeout=10)
        evens_sids = sorted(c.get_sid() for n, (c, _pid) in enumerate(clients) if n % 2 == 0)
        assert sorted(polled["answers"]) == evens_sids and polled["timed_out"] == []
        assert all(answer == f"answer of {sid}" for sid, answer in polled["answers"].items())
        polled = await first.call("poll", timeout=10)
        assert len(polled["answers"]) == len(clients)
        # a disconnect of a room reaches its sockets on every worker
        assert await clients[1][0].call("kick_room", "even", timeout=10) is True
        for _ in range(100):
            if [c.connected for c, _pid in clients] == [n % 2 == 1 for n in range(len(clients))]:
                break
            await asyncio.sleep(0.05)
        assert [c.connected for c, _pid in clients] == [n % 2 == 1 for n in range(len(clients))]
    finally:
        for client, _pid in clients:
            await client.disconnect()
    assert "Session ID unknown" not in server2.log


async def test_many_polling_clients_with_three_workers(tmp_path: Path) -> None:
    server = WorkersServer(3, tmp_path)
    try:
        clients = [await _client(server.url, ["polling"], []) for _ in range(15)]
        for _ in range(3):
            for client, pid in clients:
                assert await client.call("whoami", timeout=10) == pid
        assert len({pid for _c, pid in clients}) >= 2
        assert await clients[0][0].call("count", timeout=10) == 15
        for client, _pid in clients:
            await client.disconnect()
    finally:
        assert server.stop() == 0
    assert "Session ID unknown" not in server.log


async def test_the_workers_on_uvloop(tmp_path: Path) -> None:
    """An app that sets uvloop's policy on import: the bus, the peers' datagrams and the
    hand-off of polling requests work on uvloop's transports as on asyncio's."""
    server = WorkersServer(2, tmp_path, env={"RTIO_TEST_UVLOOP": "1"})
    try:
        owners = await asyncio.gather(*(_raw_session(server.url) for _ in range(8)))
        assert len({pid for _sid, pid in owners}) == 2, "both workers own sessions"
        for sid, _pid in owners:  # closed, by requests the kernel spreads over the workers
            url = f"{server.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
            assert await _request(url, "POST", "1") == (200, "ok")
        heard: dict[int, list[Any]] = {}
        clients: list[tuple[Any, int]] = []
        while len(clients) < 4 or len({pid for _c, pid in clients}) < 2:
            assert len(clients) < 40, "every connection landed on one worker"
            heard[len(clients)] = []
            clients.append(await _client(server.url, ["polling"], heard[len(clients)]))
        assert await clients[0][0].call("count", timeout=10) == len(clients)
        assert await clients[0][0].call("shout", (None, "to all"), timeout=10) is True
        for _ in range(100):
            if all(h == ["to all"] for h in heard.values()):
                break
            await asyncio.sleep(0.05)
        assert all(h == ["to all"] for h in heard.values()), heard
        for client, _pid in clients:
            await client.disconnect()
    finally:
        assert server.stop() == 0
    assert "Traceback" not in server.log and "Session ID unknown" not in server.log


# -- the supervisor ----------------------------------------------------------------------------


async def test_a_killed_worker_is_restarted_and_sigterm_stops_all_gracefully(
    tmp_path: Path,
) -> None:
    server = WorkersServer(2, tmp_path)
    try:
        heard: list[Any] = []
        victim, victim_pid = await _client(server.url, ["websocket"], heard)
        os.kill(victim_pid, signal.SIGKILL)
        server.wait_log("killed by SIGKILL")
        server.wait_log("started (pid", 3)
        for _ in range(100):
            if not victim.connected:
                break
            await asyncio.sleep(0.05)
        assert not victim.connected  # its connection died with its worker
        # the others keep serving, and the new worker serves too
        pids = set()
        clients = []
        while len(pids) < 2:
            assert len(clients) < 40
            client, pid = await _client(server.url, ["polling"], [])
            clients.append(client)
            pids.add(pid)
        assert victim_pid not in pids
        reasons: list[str] = []
        for client in clients:
            client.on("disconnect", lambda *args: reasons.append(args[0] if args else ""))
        code = server.stop(signal.SIGTERM)
        assert code == 0, server.log
        for _ in range(100):
            if len(reasons) == len(clients):
                break
            await asyncio.sleep(0.05)
        assert reasons == ["server disconnect"] * len(clients)
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        assert "worker 0 (pid" in server.log and "stopped" in server.log
    finally:
        server.stop(signal.SIGKILL)


# -- with a Redis adapter ------------------------------------------------------------------------


async def test_with_a_redis_adapter_the_workers_meet_through_redis(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))
    from redis_server import REDIS_SERVER, RedisServer

    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    redis = RedisServer(tmp_path)
    redis.start()
    os.environ["RTIO_TEST_REDIS_URL"] = f"redis://127.0.0.1:{redis.port}"
    try:
        server = WorkersServer(2, tmp_path, app="workers_app:make_app")
    finally:
        del os.environ["RTIO_TEST_REDIS_URL"]
    clients: list[tuple[Any, int]] = []
    try:
        heard: list[Any] = []
        while len({pid for _c, pid in clients}) < 2:
            assert len(clients) < 40
            clients.append(await _client(server.url, ["polling"], heard))
        first = clients[0][0]
        assert await first.call("count", timeout=10) == len(clients)
        assert await first.call("shout", (None, "via redis"), timeout=10) is True
        for _ in range(100):
            if len(heard) == len(clients):
                break
            await asyncio.sleep(0.05)
        assert heard == ["via redis"] * len(clients)
    finally:
        for client, _pid in clients:
            await client.disconnect()
        assert server.stop() == 0
        redis.stop()


async def test_workers_stop_by_themselves_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    server = WorkersServer(2, tmp_path)
    pids: set[int] = set()
    clients = []
    try:
        while len(pids) < 2:
            assert len(clients) < 40
            client, pid = await _client(server.url, ["websocket"], [])
            clients.append(client)
            pids.add(pid)
        reasons: list[str] = []
        for client in clients:
            client.on("disconnect", lambda *args: reasons.append(args[0] if args else ""))
        server.stop(signal.SIGKILL)
        for _ in range(200):  # each worker sees its bus close and shuts down gracefully
            if all(not _alive(pid) for pid in pids) and len(reasons) == len(clients):
                break
            await asyncio.sleep(0.05)
        assert [pid for pid in pids if _alive(pid)] == []
        assert reasons == ["server disconnect"] * len(clients)
        assert "lost the bus to the other workers: stopping" in server.log
    finally:
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # (an orphan that exited may linger as a zombie until init reaps it)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
