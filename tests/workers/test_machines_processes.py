"""Several machines behind a load balancer with no affinity (rtio.workers.forward): two
``rtio serve workers_app:make_app --workers 2`` servers with the Redis adapter and
forwarding on, a real redis-server, and a round-robin TCP proxy (rr_proxy.py) in front:
each new connection goes to the other server. Every request of a session reaches its
owner whichever server it lands on; no "Session ID unknown".

Skipped when redis-server is not installed (RTIO_REQUIRE_REDIS=1: failed instead).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from rr_proxy import RoundRobinProxy
from workers_server import WorkersServer, free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))
from redis_server import REDIS_SERVER, RedisServer

SECRET = "machines-test-secret-0123456789"


class Machines:
    def __init__(self, redis: RedisServer, servers: list[WorkersServer],
                 proxy: RoundRobinProxy) -> None:  # fmt: skip
        self.redis = redis
        self.servers = servers
        self.proxy = proxy
        self.url = f"http://127.0.0.1:{proxy.port}"

    @property
    def logs(self) -> str:
        return "".join(server.log for server in self.servers)


def start_machines(tmp: Path, workers: int = 2) -> Machines:
    if REDIS_SERVER is None:
        reason = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("RTIO_REQUIRE_REDIS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    redis = RedisServer(tmp)
    redis.start()
    servers: list[WorkersServer] = []
    try:
        for _ in range(2):
            port = free_port()
            env = {"RTIO_TEST_REDIS_URL": f"redis://127.0.0.1:{redis.port}",
                   "RTIO_TEST_FORWARD_ADDRESS": f"127.0.0.1:{port}",
                   "RTIO_TEST_FORWARD_SECRET": SECRET}  # fmt: skip
            servers.append(WorkersServer(workers, tmp, app="workers_app:make_app", port=port,
                                         env=env))  # fmt: skip
        proxy = RoundRobinProxy([("127.0.0.1", s.port) for s in servers]).start()
    except BaseException:
        for server in servers:
            server.stop()
        redis.stop()
        raise
    return Machines(redis, servers, proxy)


@pytest.fixture(scope="module")
def machines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machines]:
    running = start_machines(tmp_path_factory.mktemp("machines"))
    try:
        yield running
    finally:
        running.proxy.stop()
        for server in running.servers:
            server.stop()
        running.redis.stop()


async def _request(url: str, method: str = "GET", data: str | None = None,
                   headers: dict[str, str] | None = None) -> tuple[int, str]:  # fmt: skip
    connector = aiohttp.TCPConnector(force_close=True)  # a new connection each time
    async with aiohttp.ClientSession(connector=connector) as http, http.request(
        method, url, data=data, headers=headers
    ) as response:
        return response.status, await response.text()


async def _raw_session(base: str) -> tuple[str, int]:
    """Open a polling session, join "/", ask whoami: (sid, pid of its owner)."""
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


async def test_polling_requests_reach_their_session_whatever_the_machine(
    machines: Machines,
) -> None:
    """Every request on a new connection, each to the other server than the last: none is
    refused, each session's answers come from one process."""

    async def session() -> tuple[str, int]:
        sid, pid = await _raw_session(machines.url)
        url = f"{machines.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
        for i in range(4):
            assert await _request(url, "POST", f'42{i}["whoami"]') == (200, "ok")
            assert await _request(url) == (200, f"43{i}[{pid}]")
        assert await _request(url, "POST", "1") == (200, "ok")  # close
        return sid, pid

    found = await asyncio.gather(*(session() for _ in range(8)))
    assert all(len(sid) == 20 for sid, _pid in found)
    # the node id (characters 2 and 3) names the process: one per pid
    nodes = {pid: {sid[1:3] for sid, p in found if p == pid} for _sid, pid in found}
    assert all(len(ids) == 1 for ids in nodes.values()), nodes
    assert len({next(iter(ids)) for ids in nodes.values()}) == len(nodes)
    assert len(nodes) >= 2
    assert "Session ID unknown" not in machines.logs


async def test_a_forged_hop_header_is_refused_and_an_unknown_node_answered_at_once(
    machines: Machines,
) -> None:
    sid, _pid = await _raw_session(machines.url)
    direct = machines.servers[0].url
    url = f"{direct}/socket.io/?EIO=4&transport=polling&sid={sid}"
    status, body = await _request(url, headers={"X-Rtio-Forwarded": f"{int(time.time())}.00"})
    assert status == 403 and "X-Rtio-Forwarded" in body
    # a sid naming a node id nobody holds: "Session ID unknown", without waiting
    taken = {sid[1:3]}
    free = next(a + b for a in "QRSTUVWXYZ" for b in "QRSTUVWXYZ" if a + b not in taken)
    ghost = "A" + free + sid[3:]
    started = time.monotonic()
    status, body = await _request(
        f"{direct}/socket.io/?EIO=4&transport=polling&sid={ghost}")
    assert (status, json.loads(body)) == (400, {"code": 1, "message": "Session ID unknown"})
    assert time.monotonic() - started < 5


async def _client(url: str, transports: list[str] | None, heard: list[Any]) -> tuple[Any, int]:
    client = socketio.AsyncClient(reconnection=False)
    client.on("heard", lambda msg: heard.append(msg))
    await client.connect(url, transports=transports, wait_timeout=10)
    pid = await client.call("whoami", timeout=10)
    return client, pid


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], None],
                         ids=["polling", "websocket", "upgrade"])  # fmt: skip
async def test_python_socketio_clients_through_the_proxy(
    machines: Machines, transports: list[str] | None
) -> None:
    heard: dict[int, list[Any]] = {}
    clients: list[tuple[Any, int]] = []
    try:
        # connect until the sessions are on two processes at least (where a handshake
        # lands depends on how many connections each client opened before: give it room)
        while len(clients) < 6 or len({pid for _c, pid in clients}) < 2:
            assert len(clients) < 40, "every session landed on one process"
            heard[len(clients)] = []
            clients.append(await _client(machines.url, transports, heard[len(clients)]))
        first = clients[0][0]
        assert await first.call("count", timeout=10) >= len(clients)
        assert await clients[1][0].call("shout", (None, "to all"), timeout=10) is True
        for _ in range(200):
            if all(h == ["to all"] for h in heard.values()):
                break
            await asyncio.sleep(0.05)
        assert all(h == ["to all"] for h in heard.values()), heard
        for client, pid in clients:
            assert await client.call("whoami", timeout=10) == pid
            assert client.connected
    finally:
        for client, _pid in clients:
            await client.disconnect()
    assert "Session ID unknown" not in machines.logs


async def test_clients_of_a_killed_server_reconnect_to_the_other(tmp_path: Path) -> None:
    """One server killed (its workers stop with it): its clients reconnect, through the
    proxy, to the other; requests naming its sessions are answered at once."""
    running = start_machines(tmp_path)
    clients: list[Any] = []
    try:
        for _ in range(6):
            client = socketio.AsyncClient(reconnection_delay=0.2, reconnection_delay_max=0.5)
            await client.connect(running.url, transports=["polling"], wait_timeout=10)
            clients.append(client)
        assert running.servers[1].stop(signal.SIGKILL) != 0  # its workers stop when it is gone
        after = [await _call_until_answered(client, "whoami") for client in clients]
        # every client is served by a live process: the surviving server's workers
        for pid in after:
            os.kill(pid, 0)
        # (a client whose connection ran through the killed server reconnected: its old
        # session on the survivor lives until its ping timeout, 4 s)
        for _ in range(100):
            if await _call_until_answered(clients[0], "count") == len(clients):
                break
            await asyncio.sleep(0.2)
        assert await _call_until_answered(clients[0], "count") == len(clients)
    finally:
        for client in clients:
            await client.disconnect()
        running.proxy.stop()
        for server in running.servers:
            server.stop()
        running.redis.stop()


async def _call_until_answered(client: Any, event: str) -> Any:
    """``client.call(event)``, again while the client reconnects (up to 30 s)."""
    for _ in range(150):
        try:
            return await client.call(event, timeout=2)
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
            await asyncio.sleep(0.2)
    raise AssertionError(f"{event}: no answer in 30 s")
