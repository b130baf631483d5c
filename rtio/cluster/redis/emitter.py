"""rtio's emitter: reach the sockets of a cluster from a process that is not a server (a
worker, a cron job, a Django view), through Redis, on ``@socket.io/redis-emitter``'s wire.

Owns: the :class:`Emitter` API (``emit`` / ``to`` / ``except_`` / ``volatile`` /
``compress``, ``sockets_join``, ``sockets_leave``, ``disconnect_sockets``,
``server_side_emit``) and its Redis link (publish only). The bytes are
:mod:`rtio.cluster.emitter`'s. Heard by classic-adapter nodes, rtio's and Node's (Node's
sharded and streams nodes do not hear any emitter). No acks: an emitter is not a node.

::

    async with Emitter("redis://127.0.0.1:6379") as emitter:
        await emitter.to("room1").emit("news", {"id": 1})
        await emitter.of("/admin").sockets_join("vip", select=["room1"])

Each call returns the link's :class:`~.link.PublishResult`: ``SENT``, or ``BUFFERED``
while Redis is down (published on reconnect, bounded by ``LinkOptions.buffer_limit``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..emitter import EmitterWire
from ..wire import WireFlags
from .link import Delivery, LinkOptions, PublishResult, RedisLink
from .url import link_options_from_url, new_uid

__all__ = ["Emitter", "EmitterOperator"]


def _names(rooms: str | Iterable[str]) -> tuple[str, ...]:
    return (rooms,) if isinstance(rooms, str) else tuple(rooms)


def _ignore(_delivery: Delivery) -> None:
    """An emitter subscribes to nothing but its link's canary."""


class Emitter:
    """Publishes to a Redis cluster of Socket.IO servers; ``of(nsp)`` for another namespace
    (the same link)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        link: LinkOptions | RedisLink | None = None,
        nsp: str = "/",
        key: str = "socket.io",
    ) -> None:
        if isinstance(link, RedisLink):
            self.link = link
        else:
            if link is None:
                link = link_options_from_url(url) if url else LinkOptions()
            self.link = RedisLink(link, _ignore, name=f"rtio-emitter-{new_uid()}")
        if not nsp.startswith("/"):
            nsp = "/" + nsp
        self.wire = EmitterWire(nsp, key)

    async def start(self, timeout: float = 5.0) -> bool:
        """Connect (in the background, with backoff); True when connected within
        ``timeout`` seconds. Publishing before that is buffered."""
        self.link.start()
        return await self.link.wait_connected(timeout)

    async def close(self) -> None:
        await self.link.close()

    async def __aenter__(self) -> Emitter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def of(self, nsp: str) -> Emitter:
        """The same link, another namespace."""
        return Emitter(link=self.link, nsp=nsp, key=self.wire.key)

    # -- selecting ---------------------------------------------------------------------

    def _operator(self) -> EmitterOperator:
        return EmitterOperator(self)

    def to(self, rooms: str | Iterable[str]) -> EmitterOperator:
        return self._operator().to(rooms)

    in_ = to

    def except_(self, rooms: str | Iterable[str]) -> EmitterOperator:
        return self._operator().except_(rooms)

    @property
    def volatile(self) -> EmitterOperator:
        return self._operator().volatile

    def compress(self, compress: bool = True) -> EmitterOperator:
        return self._operator().compress(compress)

    # -- terminal calls on every socket --------------------------------------------------

    async def emit(self, event: str, *args: Any) -> PublishResult:
        return await self._operator().emit(event, *args)

    async def sockets_join(self, rooms: str | Iterable[str]) -> PublishResult:
        return await self._operator().sockets_join(rooms)

    async def sockets_leave(self, rooms: str | Iterable[str]) -> PublishResult:
        return await self._operator().sockets_leave(rooms)

    async def disconnect_sockets(self, close: bool = False) -> PublishResult:
        return await self._operator().disconnect_sockets(close)

    async def server_side_emit(self, event: str, *args: Any) -> PublishResult:
        """An event for the servers' ``server_side_emit`` handlers (no acks)."""
        channel, payload = self.wire.server_side_emit(event, args)
        return await self.link.publish(channel, payload)

    async def publish(self, message: tuple[str, bytes]) -> PublishResult:
        """Publish one (channel, payload) built by :attr:`wire`."""
        return await self.link.publish(*message)


@dataclass(frozen=True, slots=True)
class EmitterOperator:
    """A selection (rooms, exceptions) and flags; each step returns a new operator."""

    emitter: Emitter
    rooms: tuple[str, ...] = ()
    except_rooms: tuple[str, ...] = ()
    flags: dict[str, bool] = field(default_factory=dict)

    def _with(self, **changes: Any) -> EmitterOperator:
        values = {
            "rooms": self.rooms,
            "except_rooms": self.except_rooms,
            "flags": self.flags,
            **changes,
        }
        return EmitterOperator(self.emitter, **values)

    def to(self, rooms: str | Iterable[str]) -> EmitterOperator:
        added = tuple(r for r in _names(rooms) if r not in self.rooms)
        return self._with(rooms=self.rooms + added)

    in_ = to

    def except_(self, rooms: str | Iterable[str]) -> EmitterOperator:
        added = tuple(r for r in _names(rooms) if r not in self.except_rooms)
        return self._with(except_rooms=self.except_rooms + added)

    @property
    def volatile(self) -> EmitterOperator:
        return self._with(flags={**self.flags, "volatile": True})

    def compress(self, compress: bool = True) -> EmitterOperator:
        return self._with(flags={**self.flags, "compress": compress})

    async def emit(self, event: str, *args: Any) -> PublishResult:
        flags = WireFlags(**self.flags, order=tuple(self.flags))
        message = self.emitter.wire.emit(event, args, self.rooms, self.except_rooms, flags)
        return await self.emitter.publish(message)

    async def sockets_join(self, rooms: str | Iterable[str]) -> PublishResult:
        wire = self.emitter.wire
        return await self.emitter.publish(
            wire.sockets_join(_names(rooms), self.rooms, self.except_rooms)
        )

    async def sockets_leave(self, rooms: str | Iterable[str]) -> PublishResult:
        wire = self.emitter.wire
        return await self.emitter.publish(
            wire.sockets_leave(_names(rooms), self.rooms, self.except_rooms)
        )

    async def disconnect_sockets(self, close: bool = False) -> PublishResult:
        wire = self.emitter.wire
        return await self.emitter.publish(
            wire.disconnect_sockets(close, self.rooms, self.except_rooms)
        )
