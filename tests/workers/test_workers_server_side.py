"""``server_side_emit`` between workers (rtio.workers.adapter) in one process: BusAdapters
of two "workers" joined by a loopback bus that serializes every message (ClusterMessage
bytes, as the real bus sends them) and delivers it on a later loop turn. The handlers are
the application's own (``sio.on_server_side``), as on the Redis adapter, or the bus's
(``WorkerBus.on``)."""

from __future__ import annotations

import asyncio
from typing import Any

from loop_bus import LoopBus, join

import rtio
from rtio.workers.adapter import BusAdapter


def servers(n: int) -> list[rtio.Server]:
    net: list[LoopBus] = []
    out = []
    for index in range(n):
        bus = LoopBus(index, net)
        sio = rtio.Server(adapter=BusAdapter.factory(bus))  # type: ignore[arg-type]
        out.append(sio)
    join(net)
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
