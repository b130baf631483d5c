"""``server_side_emit`` between workers (rtio.workers.adapter) in one process: BusAdapters
of two "workers" joined by a loopback bus that serializes every message (ClusterMessage
bytes, as the real bus sends them) and delivers it on a later loop turn. The handlers are
the application's own (``sio.on_server_side``), as on the Redis adapter, or the bus's
(``WorkerBus.on``)."""

from __future__ import annotations

import asyncio
from typing import Any

import rtio
from rtio.cluster.messages import ClusterMessage
from rtio.workers.adapter import BusAdapter
from rtio.workers.frames import ALL


class LoopBus:
    """What a BusAdapter needs of a WorkerBus, over the event loop."""

    def __init__(self, index: int, net: list[LoopBus]) -> None:
        self.index = index
        self.uid = f"worker-{index}-test"
        self.net = net
        self.members: frozenset[int] = frozenset()
        self.adapters: dict[str, Any] = {}
        self.handlers: dict[str, Any] = {}  # WorkerBus.on's registry (namespace "/")

    def publish(self, message: ClusterMessage, to: int = ALL) -> bool:
        payload = message.serialize()
        loop = asyncio.get_running_loop()
        for bus in self.net:
            if bus is not self and bus.index in self.members and to in (ALL, bus.index):
                loop.call_soon(bus.deliver, self.index, payload)
        return True

    def deliver(self, source: int, payload: bytes) -> None:
        message = ClusterMessage.parse(payload)
        self.adapters[message.nsp].receive(source, message)

    def handler(self, namespace: str, event: str) -> Any:
        return self.handlers.get(event) if namespace == "/" else None


def servers(n: int) -> list[rtio.Server]:
    net: list[LoopBus] = []
    out = []
    for index in range(n):
        bus = LoopBus(index, net)
        net.append(bus)
        sio = rtio.Server(adapter=BusAdapter.factory(bus))  # type: ignore[arg-type]
        out.append(sio)
    for bus in net:
        bus.members = frozenset(range(n))
    return out


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_on_server_side_handlers_hear_the_other_workers() -> None:
    first, second = servers(2)
    heard: list[tuple[str, Any]] = []

    @second.on_server_side("posted")
    async def posted(message: dict[str, Any]) -> None:  # async: run as a task
        heard.append(("posted", message))

    second.on_server_side("room", lambda room: heard.append(("room", room)))
    first.on_server_side("room", lambda room: heard.append(("own", room)))  # not for its own

    first.server_side_emit("room", "design")
    first.server_side_emit("posted", {"room": "design", "image": b"\x89PNG\r\n"})
    first.server_side_emit("nobody-listens", 1)
    await settle()
    assert heard == [("room", "design"), ("posted", {"room": "design", "image": b"\x89PNG\r\n"})]


async def test_the_bus_registry_still_answers_when_the_namespace_has_no_handler() -> None:
    first, second = servers(2)
    adapter = second.main.adapter
    assert isinstance(adapter, BusAdapter)
    heard: list[int] = []
    adapter.bus.handlers["tick"] = heard.append  # type: ignore[attr-defined]
    second.on_server_side("tock", lambda n: heard.append(-n))
    first.server_side_emit("tick", 1)
    first.server_side_emit("tock", 2)
    await settle()
    assert heard == [1, -2]
