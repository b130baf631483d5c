"""A loopback stand-in for rtio.workers' WorkerBus, for tests of the bus adapters in one
process: every message is serialized (ClusterMessage bytes, or a plain broadcast's short
form, as the real bus sends them)
and delivered to the other members on a later loop turn, each pair's messages in order."""

from __future__ import annotations

import asyncio
from typing import Any

from rtio.cluster.messages import ClusterMessage
from rtio.workers import plain_broadcast
from rtio.workers.frames import ALL


class LoopBus:
    """What BusAdapter and RecoveringBusAdapter need of a WorkerBus, over the event loop.

    ``net`` is the list of every member's bus (each appends itself); ``members`` the
    indexes this one publishes to; ``handlers`` plays WorkerBus.on's registry (namespace
    "/"); a ``deaf`` bus drops what reaches it (a worker that does not answer)."""

    def __init__(self, index: int, net: list[LoopBus]) -> None:
        self.index = index
        self.uid = f"worker-{index}-test"
        self.net = net
        net.append(self)
        self.members: frozenset[int] = frozenset()
        self.adapters: dict[str, Any] = {}
        self.handlers: dict[str, Any] = {}
        self.deaf = False

    def publish(self, message: ClusterMessage | bytes, to: int = ALL) -> bool:
        payload = message.serialize() if isinstance(message, ClusterMessage) else message
        loop = asyncio.get_running_loop()
        for bus in self.net:
            if bus is not self and bus.index in self.members and to in (ALL, bus.index):
                loop.call_soon(bus.deliver, self.index, payload)
        return True

    def deliver(self, source: int, payload: bytes) -> None:
        if self.deaf:
            return
        if payload[:1] == plain_broadcast.MARK:  # as WorkerBus._deliver
            nsp, data, opts = plain_broadcast.decode(payload)
            self.adapters[nsp].receive_broadcast(source, data, opts)
            return
        message = ClusterMessage.parse(payload)
        self.adapters[message.nsp].receive(source, message)

    def handler(self, namespace: str, event: str) -> Any:
        return self.handlers.get(event) if namespace == "/" else None


def join(net: list[LoopBus]) -> None:
    """Make every bus of ``net`` a member of all the others'."""
    for bus in net:
        bus.members = frozenset(range(len(net)))
