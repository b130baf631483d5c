"""BroadcastOperator: emitting to many sockets, and server-wide operations on them.

``sio.to("a").to("b").except_("c").volatile.emit(...)``: each step returns a new,
immutable operator; nothing happens until a terminal call (``emit``, ``emit_with_ack``,
``fetch_sockets``, ``sockets_join``, ``sockets_leave``, ``disconnect_sockets``). The work is
the adapter's; this module only gathers the options and the acknowledgements.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from .adapter import Adapter, BroadcastOptions
from .handlers import SENT, Sent, ack_value
from .packet import Packet, PacketType
from .parsers.json_parser import RESERVED_EVENTS

__all__ = ["AckResults", "BroadcastOperator", "HasId", "Rooms", "Selection", "Target"]


class _AckHolder(Protocol):
    def forget_ack(self, ack_id: int) -> Callable[[list[Any] | None], None] | None: ...


class Target(Protocol):
    """One namespace a broadcast reaches (rtio.Namespace)."""

    @property
    def name(self) -> str: ...
    @property
    def adapter(self) -> Adapter: ...
    @property
    def sockets(self) -> Mapping[str, _AckHolder]: ...
    def next_ack_id(self) -> int: ...


class Selection(Protocol):
    """What an operator selects in: a namespace, or a parent namespace (its children)."""

    @property
    def name(self) -> str: ...
    def targets(self) -> Sequence[Target]: ...


class HasId(Protocol):
    """A socket, as a target: its own room is its id."""

    @property
    def id(self) -> str: ...


#: what ``to``, ``in_`` and ``except_`` take: a room, a socket (or its id), or several
Rooms = str | HasId | Iterable[str | HasId]


def _rooms(room: Rooms) -> frozenset[str]:
    if isinstance(room, str):
        return frozenset((room,))
    sid = getattr(room, "id", None)
    if isinstance(sid, str):  # a socket: python-socketio's habit, to=the handler's sid
        return frozenset((sid,))
    return frozenset(r if isinstance(r, str) else r.id for r in room)  # type: ignore[union-attr]


class AckResults(dict[str, Any]):
    """The answers to a broadcast with acks: socket id -> ack value (one argument: it;
    none: None; several: a tuple), plus the ids of the sockets that did not answer in time
    (or disconnected first) in :attr:`timed_out`."""

    def __init__(self) -> None:
        super().__init__()
        self.timed_out: set[str] = set()

    @property
    def complete(self) -> bool:
        """Every socket reached answered."""
        return not self.timed_out


class BroadcastOperator:
    """A selection of sockets in a namespace (rooms, exceptions) and emit flags."""

    __slots__ = ("_nsp", "_opts")

    def __init__(
        self,
        nsp: Selection,
        *,
        rooms: frozenset[str] = frozenset(),
        except_rooms: frozenset[str] = frozenset(),
        opts: BroadcastOptions | None = None,
    ) -> None:
        self._nsp = nsp
        if opts is None:
            opts = BroadcastOptions(rooms=rooms, except_rooms=except_rooms)
        self._opts = opts

    def __repr__(self) -> str:
        return f"<rtio.BroadcastOperator {self._nsp.name!r} {self._opts}>"

    def _with(self, **changes: Any) -> BroadcastOperator:
        return BroadcastOperator(self._nsp, opts=replace(self._opts, **changes))

    # -- selection and flags ------------------------------------------------------------

    def to(self, room: Rooms) -> BroadcastOperator:
        """Also target a room (or rooms, or sockets): the union of all given."""
        return self._with(rooms=self._opts.rooms | _rooms(room))

    in_ = to

    def except_(self, room: Rooms) -> BroadcastOperator:
        """Leave out the sockets in a room (or rooms); a socket (or its id) is a room."""
        return self._with(except_rooms=self._opts.except_rooms | _rooms(room))

    @property
    def volatile(self) -> BroadcastOperator:
        """Drop the packet for clients not ready to receive it."""
        return self._with(volatile=True)

    def compress(self, compress: bool = True) -> BroadcastOperator:
        """Per-message compression on or off."""
        return self._with(compress=compress)

    @property
    def local(self) -> BroadcastOperator:
        """This server only (with a multi-server adapter)."""
        return self._with(local=True)

    def timeout(self, seconds: float) -> BroadcastOperator:
        """How long :meth:`emit_with_ack` waits for the answers."""
        return self._with(timeout=seconds)

    # -- terminal calls -------------------------------------------------------------------

    def emit(self, event: str, *args: Any) -> Sent:
        """Send an event to every selected socket, encoded once. Returns at once."""
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name')
        data = [event, *args]
        for nsp in self._nsp.targets():
            nsp.adapter.broadcast(Packet(PacketType.EVENT, nsp.name, data), self._opts)
        return SENT

    def send(self, *args: Any) -> Sent:
        """Emit a ``"message"`` event."""
        return self.emit("message", *args)

    async def emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> AckResults:
        """Send an event to every selected socket asking each for an ack; return when all
        answered or ``timeout`` (default: the operator's :meth:`timeout`) passed.

        The result maps socket ids to ack values; the sockets that did not answer are in
        its ``timed_out`` set. Without any timeout it waits until each socket reached has
        answered or disconnected.
        """
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name')
        if timeout is None:
            timeout = self._opts.timeout
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        results = AckResults()
        expected = 0
        answered = 0
        sending = True

        def check() -> None:
            if not sending and answered >= expected and not done.done():
                done.set_result(None)

        def on_count(n: int) -> None:
            # a multi-server adapter may count later (the other servers' clients) and take
            # back a count it held the result open with: re-checked each time
            nonlocal expected
            expected += n
            check()

        def on_ack(sid: str, args: list[Any] | None) -> None:
            nonlocal answered
            if done.done():
                return
            answered += 1
            if args is None:
                results.timed_out.add(sid)
            else:
                results[sid] = ack_value(args)
            check()

        data = [event, *args]
        sent: list[tuple[Target, int]] = []
        for nsp in self._nsp.targets():
            ack_id = nsp.next_ack_id()
            sent.append((nsp, ack_id))
            packet = Packet(PacketType.EVENT, nsp.name, data, ack_id)
            nsp.adapter.broadcast_with_ack(packet, self._opts, on_count, on_ack)
        sending = False
        check()
        try:
            if timeout is None:
                await done
            else:
                # a timer, not wait_for: this may run in a handler stepped inline, outside a
                # task, where Python 3.12's wait_for refuses to run
                timer = asyncio.get_running_loop().call_later(timeout, _give_up, done)
                try:
                    await done
                finally:
                    timer.cancel()
        finally:
            if not done.done():
                done.cancel()
        # whoever still holds the ack did not answer in time
        for nsp, ack_id in sent:
            for sid, socket in nsp.sockets.items():
                if socket.forget_ack(ack_id) is not None:
                    results.timed_out.add(sid)
        return results

    async def fetch_sockets(self) -> list[Any]:
        """The selected sockets (rtio.Socket objects; a cluster adapter adds the other
        servers' sockets, and its result says which servers answered)."""
        targets = self._nsp.targets()
        if len(targets) == 1:  # the adapter's own result (a cluster's carries its coverage)
            return await targets[0].adapter.fetch_sockets(self._opts)
        out: list[Any] = []
        for nsp in targets:
            out.extend(await nsp.adapter.fetch_sockets(self._opts))
        return out

    def sockets_join(self, rooms: str | Iterable[str]) -> Sent:
        """Make the selected sockets join a room (or rooms)."""
        for nsp in self._nsp.targets():
            nsp.adapter.add_sockets(self._opts, _rooms(rooms))
        return SENT

    def sockets_leave(self, rooms: str | Iterable[str]) -> Sent:
        """Make the selected sockets leave a room (or rooms)."""
        for nsp in self._nsp.targets():
            nsp.adapter.del_sockets(self._opts, _rooms(rooms))
        return SENT

    def disconnect_sockets(self, close: bool = False) -> Sent:
        """Disconnect the selected sockets; ``close`` closes their connections too."""
        for nsp in self._nsp.targets():
            nsp.adapter.disconnect_sockets(self._opts, close)
        return SENT


def _give_up(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
