"""What a cluster request gives back, and the adapter's options.

Owns: :class:`RedisAdapterOptions`; :class:`Coverage` (who answered a cluster request, who
did not, and why nobody was asked); the results that carry it (:class:`FetchResult`,
:class:`ServerReplies`, :class:`RoomsResult`); :class:`ClusterSocket`, a socket of another
node as ``fetch_sockets`` returns it, whose ``emit`` / ``join`` / ``leave`` /
``disconnect`` go through the cluster (Node's ``RemoteSocket``).

Plain values: no I/O, no Redis. A ClusterSocket reaches the cluster through the small
:class:`RemoteOps` interface (the namespace's adapter), so it does not know the adapter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from rtio.socketio import BroadcastOptions, Packet, PacketType

from ..wire import RemoteSocket, js_string

__all__ = [
    "ClusterSocket",
    "Coverage",
    "FetchResult",
    "RedisAdapterOptions",
    "RemoteOps",
    "RoomsResult",
    "ServerReplies",
]


@dataclass(frozen=True, slots=True)
class RedisAdapterOptions:
    """The adapter's options (times in seconds); the link's are
    :class:`~rtio.cluster.redis.link.LinkOptions`."""

    #: the channels' prefix (Node's ``key``)
    key: str = "socket.io"
    #: the longest a cluster request waits for the other nodes (Node's ``requestsTimeout``)
    requests_timeout: float = 5.0
    #: answers go to the requester's own channel (Node's ``publishOnSpecificResponseChannel``)
    publish_on_specific_response_channel: bool = False
    #: while a request waits, the nodes are recounted this often: one that went away
    #: (killed, disconnected from Redis) no longer holds the answer back
    recount_interval: float = 0.25
    #: cluster requests of one namespace waiting for answers at once; one more is answered
    #: with this node's part only (its Coverage says ``overloaded``), and a warning is logged
    max_pending_requests: int = 1000
    #: messages waiting for the publisher (the link's outage buffer comes after it); one more
    #: is dropped with a warning
    max_outbound: int = 10_000

    def __post_init__(self) -> None:
        for name in ("requests_timeout", "recount_interval"):
            if not getattr(self, name) > 0:
                raise ValueError(f"RedisAdapterOptions.{name} must be > 0")
        for name in ("max_pending_requests", "max_outbound"):
            if getattr(self, name) < 1:
                raise ValueError(f"RedisAdapterOptions.{name} must be at least 1")


@dataclass(frozen=True, slots=True)
class Coverage:
    """Who answered a cluster request.

    ``expected``: the other nodes when the request went out (``PUBSUB NUMSUB`` - 1);
    ``answered``: how many answered in time; ``missing_nodes``: the uids of the rtio nodes
    among those that did not (Node's classic nodes answer anonymously: they are only
    counted); ``gone``: nodes that went away while the request waited; ``error``: why
    nobody else was asked (Redis down, too many requests), or None.
    """

    expected: int = 0
    answered: int = 0
    missing_nodes: frozenset[str] = frozenset()
    gone: int = 0
    error: str | None = None

    @property
    def missing(self) -> int:
        """How many nodes did not answer."""
        return max(0, self.expected - self.answered)

    @property
    def complete(self) -> bool:
        return self.error is None and self.missing == 0


class FetchResult(list[Any]):
    """``fetch_sockets``: this node's :class:`~rtio.socketio.Socket` objects, then the other
    nodes' :class:`ClusterSocket` objects; :attr:`coverage` says who did not answer."""

    coverage: Coverage = Coverage()


class ServerReplies(list[Any]):
    """``server_side_emit_with_ack``: one answer per node that answered in time."""

    coverage: Coverage = Coverage()


class RoomsResult(set[str]):
    """``cluster_rooms`` / ``cluster_sockets``: the names of every node that answered."""

    coverage: Coverage = Coverage()


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class RemoteOps(Protocol):
    """What a :class:`ClusterSocket` needs of its namespace's adapter."""

    @property
    def nsp(self) -> _Named: ...
    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None: ...
    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None: ...
    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None: ...
    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None: ...


class ClusterSocket:
    """A socket of another node, as ``fetch_sockets`` found it: ``id``, ``handshake``
    (Node's shape: a dict), ``rooms``, ``data``; ``emit`` / ``join`` / ``leave`` /
    ``disconnect`` go through the cluster (as Node's ``RemoteSocket``)."""

    __slots__ = ("_ops", "data", "handshake", "id", "rooms")

    def __init__(self, ops: RemoteOps, remote: RemoteSocket) -> None:
        self._ops = ops
        self.id = remote.id
        self.handshake: Mapping[str, Any] = remote.handshake
        rooms = remote.rooms
        if all(type(r) is str for r in rooms):  # nearly always: no conversion per room
            self.rooms: set[str] = set(rooms)  # type: ignore[arg-type]
        else:
            self.rooms = {js_string(r) for r in rooms}
        self.data: Any = remote.data

    def __repr__(self) -> str:
        return f"<rtio.ClusterSocket {self.id} rooms={sorted(self.rooms)}>"

    def _only_me(self) -> BroadcastOptions:
        return BroadcastOptions(rooms=frozenset((self.id,)))

    def emit(self, event: str, *args: Any) -> None:
        packet = Packet(PacketType.EVENT, self._ops.nsp.name, [event, *args])
        self._ops.broadcast(packet, self._only_me())

    def join(self, rooms: str | Iterable[str]) -> None:
        self._ops.add_sockets(self._only_me(), (rooms,) if isinstance(rooms, str) else rooms)

    def leave(self, room: str) -> None:
        self._ops.del_sockets(self._only_me(), (room,))

    def disconnect(self, close: bool = False) -> None:
        self._ops.disconnect_sockets(self._only_me(), close)
