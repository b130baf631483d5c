"""The adapter: who is in which room, and delivering a broadcast to those sockets.

One adapter per namespace. :class:`InMemoryAdapter` serves a single process; an adapter for
several processes (Redis, later) subclasses :class:`Adapter` and forwards broadcasts and
server-wide operations to the other servers, with the same method names as Node's
``socket.io-adapter``. Knows sockets only through the small interface the namespace gives
it; knows nothing of Engine.IO.

A broadcast is encoded once (parser and Engine.IO framing) and the same prepared messages
are written to every member.

Every socket is in a room named by its id, and nearly all stay in that one room only; such
a socket costs one ``sids`` entry (``None``) and no set: its own room is implied until it
joins or leaves a room, when it gets the explicit bookkeeping (memory: two sets of one,
``{sid}`` in ``sids`` and in ``rooms``, are 432 bytes per idle connection by
``sys.getsizeof``, plus a ``rooms`` entry).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .encoded import Encoded
from .observer import Observer
from .packet import Packet

__all__ = ["Adapter", "AdapterHost", "BroadcastOptions", "InMemoryAdapter", "Member"]


class Member(Protocol):
    """What an adapter needs of a socket (rtio.Socket)."""

    @property
    def id(self) -> str: ...
    def write_encoded(self, encoded: Encoded, volatile: bool, compress: bool) -> None: ...
    def expect_ack(self, ack_id: int, on_ack: Callable[[list[Any] | None], None]) -> None: ...
    def join(self, rooms: str | Iterable[str]) -> Any: ...
    def leave(self, room: str) -> Any: ...
    def disconnect(self, close: bool = False) -> Any: ...


class AdapterHost(Protocol):
    """What an adapter needs of its namespace (rtio.Namespace): its name, its connected
    sockets by id, and (for the adapters of several servers) its ``on_server_side``
    handlers by event."""

    @property
    def name(self) -> str: ...
    @property
    def sockets(self) -> Mapping[str, Member]: ...
    @property
    def server_side_handlers(self) -> Mapping[str, Callable[..., Any]]: ...


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    """Which sockets a broadcast reaches, and how it is sent."""

    #: the union of these rooms; empty means every socket of the namespace
    rooms: frozenset[str] = frozenset()
    #: sockets in any of these rooms are left out (a socket id is a room of its own)
    except_rooms: frozenset[str] = frozenset()
    #: drop the packet for a socket whose transport is not ready to write
    volatile: bool = False
    #: let the transport compress the packet
    compress: bool = True
    #: this server only (meaningful for multi-server adapters)
    local: bool = False
    #: seconds to wait for acknowledgements (broadcasts with acks)
    timeout: float | None = None


class Adapter:
    """The adapter interface, and the in-memory room bookkeeping every adapter needs.

    Methods that a multi-server adapter must make asynchronous may return an awaitable;
    callers await whatever is not ``None``.
    """

    #: told of each broadcast once it is written (rtio.ops; set by the namespace)
    observer: Observer | None = None

    def __init__(self, nsp: AdapterHost) -> None:
        self.nsp = nsp
        #: room -> socket ids, except the implied members below
        self.rooms: dict[str, set[str]] = {}
        #: socket id -> its rooms; None: only its own room (implied: no set, and not
        #: among the members in ``rooms``)
        self.sids: dict[str, set[str] | None] = {}

    # -- membership -------------------------------------------------------------------

    def add_all(self, sid: str, rooms: Iterable[str]) -> Awaitable[None] | None:
        """Add a socket to rooms."""
        sids = self.sids
        mine = sids.get(sid)
        if mine is None:
            if sid in sids:
                mine = self._explicit(sid)
            else:
                rooms = tuple(rooms)
                if rooms == (sid,):  # a new socket joins its own room (on connect)
                    sids[sid] = None
                    return None
                mine = sids[sid] = set()
        for room in rooms:
            mine.add(room)
            members = self.rooms.get(room)
            if members is None:
                self.rooms[room] = {sid}
            else:
                members.add(sid)
        return None

    def delete(self, sid: str, room: str) -> Awaitable[None] | None:
        """Remove a socket from one room."""
        mine = self.sids.get(sid)
        if mine is None:
            if room != sid or sid not in self.sids:
                return None  # not in that room
            mine = self._explicit(sid)
        mine.discard(room)
        self._leave(sid, room)
        return None

    def _explicit(self, sid: str) -> set[str]:
        """A socket in its own room only, given the explicit bookkeeping: its rooms."""
        mine = self.sids[sid] = {sid}
        members = self.rooms.get(sid)
        if members is None:
            self.rooms[sid] = {sid}
        else:  # another socket joined the room named by this one's id
            members.add(sid)
        return mine

    def delete_all(self, sid: str) -> None:
        """Remove a socket from every room (it disconnected)."""
        mine = self.sids.pop(sid, None)
        if mine:
            for room in mine:
                self._leave(sid, room)

    def _leave(self, sid: str, room: str) -> None:
        members = self.rooms.get(room)
        if members is not None:
            members.discard(sid)
            if not members:
                del self.rooms[room]

    def sockets(self, rooms: Iterable[str] = ()) -> set[str]:
        """The ids of the sockets in any of ``rooms`` (every socket if none given)."""
        return {s.id for s in self._apply(BroadcastOptions(rooms=frozenset(rooms)))}

    def socket_rooms(self, sid: str) -> set[str] | None:
        """The rooms of one socket, or None if unknown."""
        mine = self.sids.get(sid)
        if mine is None and sid in self.sids:
            return {sid}
        return mine

    def members(self, room: str) -> Collection[str]:
        """The ids of the sockets in ``room`` (empty if nobody is)."""
        members = self.rooms.get(room)
        if self.sids.get(room, 0) is None:  # a socket's own room, implied
            return {room} if members is None else members | {room}
        return () if members is None else members

    def all_rooms(self) -> set[str]:
        """Every room that has a member (socket ids included: each is a room)."""
        out = set(self.rooms)
        out.update(sid for sid, mine in self.sids.items() if mine is None)
        return out

    # -- delivery ---------------------------------------------------------------------

    def _apply(self, opts: BroadcastOptions) -> Iterator[Any]:
        """The connected sockets that ``opts`` selects, each once (the namespace's
        rtio.Socket objects: :class:`Member` and more)."""
        sockets = self.nsp.sockets
        exclude: set[str] = set()
        for room in opts.except_rooms:
            exclude.update(self.members(room))
        if opts.rooms:
            seen: set[str] = set()
            for room in opts.rooms:
                for sid in tuple(self.members(room)):
                    if sid in seen or sid in exclude:
                        continue
                    seen.add(sid)
                    socket = sockets.get(sid)
                    if socket is not None:
                        yield socket
        else:
            for sid, socket in tuple(sockets.items()):
                if sid not in exclude:
                    yield socket

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Send one packet to the selected sockets, encoded once."""
        targets = list(self._apply(opts))
        if not targets:
            return
        encoded = Encoded(packet)
        for socket in targets:
            socket.write_encoded(encoded, opts.volatile, opts.compress)
        if self.observer is not None:
            self.observer.broadcast(self.nsp.name, len(targets), encoded)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        on_client_count: Callable[[int], None],
        on_ack: Callable[[str, list[Any] | None], None],
    ) -> None:
        """Send one packet asking for an ack (its ``id`` is set) to the selected sockets.

        ``on_client_count(n)`` is called once with the number of sockets reached;
        ``on_ack(sid, args)`` once per socket that answers (``args`` None: it disconnected).
        """
        targets = list(self._apply(opts))
        on_client_count(len(targets))
        if not targets:
            return
        ack_id = packet.id
        assert ack_id is not None
        encoded = Encoded(packet)
        for socket in targets:
            sid = socket.id
            socket.expect_ack(ack_id, lambda args, sid=sid: on_ack(sid, args))
            socket.write_encoded(encoded, opts.volatile, opts.compress)
        if self.observer is not None:
            self.observer.broadcast(self.nsp.name, len(targets), encoded)

    # -- server-wide operations (this process only, in memory) ---------------------------

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Any]:
        """The sockets selected by ``opts`` (remote ones too, in a multi-server adapter):
        rtio.Socket objects (typed Any: this module sits below the socket's)."""
        return list(self._apply(opts))

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the selected sockets join ``rooms``."""
        rooms = tuple(rooms)
        for socket in list(self._apply(opts)):
            socket.join(rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the selected sockets leave ``rooms``."""
        rooms = tuple(rooms)
        for socket in list(self._apply(opts)):
            for room in rooms:
                socket.leave(room)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Disconnect the selected sockets (``close``: close their connections too)."""
        for socket in list(self._apply(opts)):
            socket.disconnect(close)

    def server_side_emit(self, args: list[Any]) -> None:
        """Send an event to the other servers of the cluster: none in memory."""

    async def server_side_emit_with_ack(
        self, args: list[Any], timeout: float | None = None
    ) -> list[Any]:
        """Send an event to the other servers and gather their answers: none in memory."""
        return []

    def server_count(self) -> int:
        """How many servers share this namespace (when last counted, for a cluster)."""
        return 1

    # -- cluster-wide queries (a multi-server adapter asks the other servers) -------------

    async def count_servers(self) -> int:
        """How many servers share this namespace, counted now (Node's ``serverCount``)."""
        return self.server_count()

    async def cluster_rooms(self) -> set[str]:
        """Every room with a member on any server (Node's ``allRooms``)."""
        return self.all_rooms()

    async def cluster_sockets(self, rooms: Iterable[str] = ()) -> set[str]:
        """The ids of the sockets in any of ``rooms`` (all if none) on every server."""
        return self.sockets(rooms)

    def close(self) -> Awaitable[None] | None:
        """The namespace went (a dropped child), or the server shut down: a multi-server
        adapter leaves the cluster for this namespace (Node's ``adapter.close()``)."""
        return None

    # -- connection state recovery (Node's persistSession / restoreSession) ---------------

    #: broadcasts are stored for recovery (then a single-socket emit is a broadcast too)
    stores_packets = False

    def persist_session(self, session: Any) -> Awaitable[None] | None:
        """Keep what a socket that went for a recoverable reason leaves behind (a
        ``rtio.socketio.recovery.Session``): nothing without recovery."""
        return None

    def record_packet(self, packet: Packet, sid: str) -> Packet | None:
        """A single-socket emit (``sid``) to store: the packet with its offset, to write at
        once; None: send it with :meth:`broadcast` instead (the offset comes from there)."""
        return None

    def restore_session(self, pid: str, offset: str) -> Any:
        """The session ``pid`` with the events missed since ``offset`` (a
        ``RestoredSession``, or an awaitable of one), or None: never without recovery."""
        return None


class InMemoryAdapter(Adapter):
    """The default adapter: one process, rooms in dicts."""
