"""Connection state recovery: the options, the session model, and the in-memory store.

Node's ``connectionStateRecovery`` (socket.io 4.8, socket.io-adapter's
``SessionAwareAdapter``), on the same wire: a socket gets a private id (``pid``) besides
its id, sent in the CONNECT reply ``{"sid", "pid"}``; every stored event carries an offset
as its LAST argument (the client keeps the last one it saw); a socket that goes for a
recoverable reason leaves a :class:`Session` ``{sid, pid, rooms, data}`` behind; a client
that reconnects with ``{pid, offset}`` in its CONNECT auth gets its id, rooms and data back,
and the events it missed are written before its CONNECT reply.

What is stored (Node's rule): EVENT packets without an ack id and not volatile; with
recovery on, a ``socket.emit`` goes through the adapter (rooms = the socket's id) so that
it is stored too. An emit with an ack is never stored: it could only be replayed without
its ack (what Node's Redis Streams adapter does), so it is not replayed at all.

Replayed to a session: the stored packets after its offset that targeted no room or one of
its rooms (its own id counts) and excluded none of them.

:class:`PacketLog` (sans-I/O: the clock and the epoch are given) keeps, per namespace:

- packets, oldest first, at most ``max_packets``, each for ``max_disconnection_duration``
  after it was sent or after the oldest waiting session went, whichever is later: past
  the cap the oldest goes, and a session whose offset went with it is not recovered (its
  client gets a new socket, as with an unknown offset);
- sessions by pid, at most ``max_sessions``, each for ``max_disconnection_duration``: past
  the cap the session that disconnected first goes (its client is not recovered).

Both are trimmed as packets and sessions come in (no timer): memory is bounded by the caps
at all times and by the duration once traffic goes on. A session is taken once: a restore,
successful or not, removes it (a pid cannot be used twice).

Offsets are ``"<epoch>-<n>"``: an epoch random per log (an offset of another process or
an older log is unknown, not a wrong packet) and a counter, so that finding an offset is an
index computation, not a scan. Errors: :class:`ValueError` for bad options; a bad, unknown
or expired pid or offset is not an error: the socket is simply not recovered.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rtio.stepping import with_task

from .adapter import BroadcastOptions, InMemoryAdapter
from .errors import DisconnectReason
from .packet import Packet, PacketType

log = logging.getLogger("rtio.socketio")

__all__ = [
    "RECOVERABLE_REASONS",
    "ConnectionStateRecovery",
    "PacketLog",
    "RestoredSession",
    "Session",
    "SessionAwareAdapter",
    "SessionKeeper",
    "restore_for",
    "should_replay",
]

#: the reasons a socket may come back from (Node's RECOVERABLE_DISCONNECT_REASONS)
RECOVERABLE_REASONS = frozenset(
    {
        DisconnectReason.TRANSPORT_ERROR,
        DisconnectReason.TRANSPORT_CLOSE,
        DisconnectReason.FORCED_CLOSE,
        DisconnectReason.PING_TIMEOUT,
        DisconnectReason.SERVER_SHUTTING_DOWN,
        DisconnectReason.FORCED_SERVER_CLOSE,
    }
)

_NODE_NAMES = {
    "maxDisconnectionDuration": "max_disconnection_duration",
    "skipMiddlewares": "skip_middlewares",
}


@dataclass(frozen=True, slots=True)
class ConnectionStateRecovery:
    """``rtio.Server(connection_state_recovery=...)``: this, a dict of its fields (Node's
    camelCase names accepted, ``maxDisconnectionDuration`` then in milliseconds as in
    Node), or True for the defaults."""

    #: seconds a session waits for its client (Node: 2 minutes)
    max_disconnection_duration: float = 120.0
    #: a recovered socket skips the connect middlewares (Node's default)
    skip_middlewares: bool = True
    #: stored packets per namespace, at most (past it the oldest goes)
    max_packets: int = 10_000
    #: sessions waiting per namespace, at most (past it the oldest goes)
    max_sessions: int = 10_000
    #: ``hook(namespace, session)`` (sync or async) when a session goes unrecovered:
    #: expired, pushed out by ``max_sessions``, or its client came back with an offset no
    #: longer stored: free what the application keeps for that socket id. In memory only
    #: (called on time by one timer per namespace); None: no hook.
    on_session_expired: Callable[[str, Session], Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.max_disconnection_duration > 0:
            raise ValueError("max_disconnection_duration must be a positive number of seconds")
        if self.max_packets < 1:
            raise ValueError("max_packets must be at least 1")
        if self.max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")

    @classmethod
    def of(cls, value: ConnectionStateRecovery | Mapping[str, Any] | bool | None) -> Any:
        """The options from what ``rtio.Server`` was given (None or False: off)."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(
                "connection_state_recovery must be a ConnectionStateRecovery, a dict, "
                f"True or None, not {type(value).__name__}"
            )
        kwargs: dict[str, Any] = {}
        for key, item in value.items():
            name = _NODE_NAMES.get(key, key)
            if name not in cls.__dataclass_fields__:
                raise ValueError(f"connection_state_recovery: unknown option {key!r}")
            if key == "maxDisconnectionDuration":
                item = item / 1000  # Node's milliseconds
            kwargs[name] = item
        return cls(**kwargs)


@dataclass(slots=True)
class Session:
    """What a socket that went leaves behind (Node's ``Session``)."""

    sid: str
    pid: str
    rooms: list[str]
    data: Any


@dataclass(slots=True)
class RestoredSession(Session):
    """A session given back, with the events its client missed (each an EVENT's data,
    its offset last)."""

    missed: list[list[Any]] = field(default_factory=list)
    #: the events stored since ``missed`` was read (None: the adapter cannot tell): read
    #: again when the socket joins, for what was sent while its middlewares ran
    more: Callable[[], list[list[Any]] | None] | None = None


def should_replay(
    session_rooms: Iterable[str], rooms: Iterable[str], except_: Iterable[str]
) -> bool:
    """Whether a packet sent to ``rooms`` except ``except_`` was meant for a socket in
    ``session_rooms`` (Node's ``shouldIncludePacket``): no rooms, or one shared, and no
    excluded room among the socket's."""
    mine = set(session_rooms)
    targets = set(rooms)
    if targets and mine.isdisjoint(targets):
        return False
    return mine.isdisjoint(except_)


_NONE: frozenset[str] = frozenset()


@dataclass(slots=True)
class _Stored:
    seq: int
    at: float
    rooms: frozenset[str]
    except_rooms: frozenset[str]
    data: list[Any]


class PacketLog:
    """The stored packets and waiting sessions of one namespace (see the module
    docstring). ``clock`` gives seconds (monotonic); ``epoch`` names this log in offsets."""

    def __init__(
        self,
        options: ConnectionStateRecovery,
        *,
        clock: Callable[[], float] = time.monotonic,
        epoch: str | None = None,
    ) -> None:
        self.options = options
        self._duration = options.max_disconnection_duration
        self._max_packets = options.max_packets
        self._clock = clock
        self.epoch = epoch if epoch is not None else secrets.token_hex(4)
        self._packets: deque[_Stored] = deque()
        self._next = 0
        self._sessions: OrderedDict[str, tuple[float, Session]] = OrderedDict()
        #: sessions dropped unrecovered (expired or pushed out by the cap), for the stats
        self.sessions_dropped = 0
        #: called with each session that went unrecovered (expired or pushed out)
        self.on_session_expired: Callable[[Session], None] | None = None

    def next_expiry(self) -> float | None:
        """When (on the log's clock) the oldest waiting session expires; None: none waits."""
        for at, _ in self._sessions.values():
            return at + self.options.max_disconnection_duration
        return None

    def __len__(self) -> int:
        return len(self._packets)

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    # -- packets ------------------------------------------------------------------------

    def append(
        self, data: list[Any], rooms: frozenset[str], except_rooms: frozenset[str] = _NONE
    ) -> str:
        """Store one event sent to ``rooms`` (none: all) except ``except_rooms`` (the offset
        is appended to ``data`` here, in place: the caller passes a list of its own) and
        return its offset."""
        now = self._clock()
        packets = self._packets
        if self._sessions or (packets and packets[0].at < now - self._duration):
            self._trim(now)
        seq = self._next
        self._next = seq + 1
        offset = f"{self.epoch}-{seq}"
        data.append(offset)
        if len(packets) >= self._max_packets:
            packets.popleft()
        packets.append(_Stored(seq, now, rooms, except_rooms, data))
        return offset

    def _seq_of(self, offset: str) -> int | None:
        epoch, sep, number = offset.rpartition("-")
        if not sep or epoch != self.epoch or not number.isdigit() or len(number) > 18:
            return None
        return int(number)

    def missed(self, session_rooms: Iterable[str], offset: str) -> list[list[Any]] | None:
        """The stored events after ``offset`` meant for a socket in ``session_rooms``, in
        order; None when the offset is not (or no longer) stored."""
        seq = self._seq_of(offset)
        packets = self._packets
        if seq is None or not packets:
            return None
        index = seq - packets[0].seq
        if index < 0 or index >= len(packets):
            return None
        return self._select(session_rooms, index + 1)

    @property
    def next_seq(self) -> int:
        """The number the next stored event will get (for :meth:`since`)."""
        return self._next

    def since(self, session_rooms: Iterable[str], seq: int) -> list[list[Any]] | None:
        """The stored events numbered ``seq`` and after (``seq``: a :attr:`next_seq` read
        earlier) meant for a socket in ``session_rooms``, in order; None when one of them
        is no longer stored. (rtio.workers: a client that moved between workers and
        missed nothing holds no offset of the log that keeps its session now.)"""
        packets = self._packets
        first = packets[0].seq if packets else self._next
        if seq < first or seq > self._next:
            return None
        return self._select(session_rooms, seq - first)

    def _select(self, session_rooms: Iterable[str], start: int) -> list[list[Any]]:
        packets = self._packets
        rooms = frozenset(session_rooms)
        out: list[list[Any]] = []
        for i in range(start, len(packets)):
            stored = packets[i]
            # should_replay() written out: this loop may see every stored packet
            if stored.rooms and rooms.isdisjoint(stored.rooms):
                continue
            if stored.except_rooms and not rooms.isdisjoint(stored.except_rooms):
                continue
            out.append(stored.data)
        return out

    # -- sessions ------------------------------------------------------------------------

    def persist(self, session: Session) -> None:
        """Keep ``session`` for ``max_disconnection_duration``."""
        now = self._clock()
        self._trim(now)
        sessions = self._sessions
        sessions.pop(session.pid, None)
        while len(sessions) >= self.options.max_sessions:
            _, (_, dropped) = sessions.popitem(last=False)
            self._dropped(dropped)
        sessions[session.pid] = (now, session)

    def restore(
        self, pid: str, offset: str, *, since: int | None = None
    ) -> RestoredSession | None:
        """Take the session ``pid`` with the events missed since ``offset`` (or, given
        ``since``, from that event number on: :meth:`since`); None (and the session is
        gone) if it is unknown, expired, or its offset is not stored."""
        now = self._clock()
        self._trim(now)
        entry = self._sessions.pop(pid, None)
        if entry is None:
            return None
        session = entry[1]
        if since is not None:
            found = self.since(session.rooms, since)
            if found is None:
                self._dropped(session)
                return None
            start, rooms = self._next, session.rooms
            return RestoredSession(session.sid, session.pid, rooms, session.data, found,
                                   lambda: self.since(rooms, start))  # fmt: skip
        missed = self.missed(session.rooms, offset)
        if missed is None:
            self._dropped(session)
            return None
        last = missed[-1][-1] if missed else offset
        rooms = session.rooms
        return RestoredSession(
            session.sid, session.pid, rooms, session.data, missed, lambda: self.missed(rooms, last)
        )

    def _trim(self, now: float) -> None:
        horizon = now - self.options.max_disconnection_duration
        sessions = self._sessions
        oldest = now
        while sessions:
            pid, (at, session) = next(iter(sessions.items()))
            if at >= horizon:
                oldest = at
                break
            del sessions[pid]
            self._dropped(session)
        # a packet is kept for the duration after the oldest waiting session went: its
        # offset may be older than its disconnect (Node drops it sooner, and with it the
        # session's chance)
        packet_horizon = oldest - self.options.max_disconnection_duration
        packets = self._packets
        while packets and packets[0].at < packet_horizon:
            packets.popleft()

    def expire(self) -> None:
        """Drop what is past its time now (also done on every call above)."""
        self._trim(self._clock())

    def _dropped(self, session: Session) -> None:
        self.sessions_dropped += 1
        hook = self.on_session_expired
        if hook is not None:
            hook(session)


class SessionKeeper:
    """A namespace's :class:`PacketLog` (``log``) with ``on_session_expired`` called on
    time: one timer, at the oldest waiting session's expiry, armed only when the hook is
    set. What :class:`SessionAwareAdapter` and rtio.workers' adapter keep their sessions
    in."""

    def __init__(self, nsp: Any, options: ConnectionStateRecovery) -> None:
        self.nsp = nsp
        self.log = PacketLog(options)
        self.log.on_session_expired = self._expired
        self._timer: asyncio.TimerHandle | None = None
        self._hooks: set[asyncio.Task[Any]] = set()

    def persist(self, session: Session) -> None:
        """Keep ``session`` (PacketLog.persist), the hook's timer armed."""
        self.log.persist(session)
        self._arm()

    def _arm(self) -> None:
        """One timer per namespace, at the oldest session's expiry (for the hook)."""
        if self._timer is not None or self.log.options.on_session_expired is None:
            return
        when = self.log.next_expiry()
        if when is not None:
            delay = max(when - time.monotonic(), 0.0) + 0.01
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.log.expire()
        self._arm()

    def _expired(self, session: Session) -> None:
        hook = self.log.options.on_session_expired
        if hook is None:
            return
        try:
            result = hook(self.nsp.name, session)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._hooks.add(task)
                task.add_done_callback(self._hooks.discard)
        except Exception:
            log.exception("the on_session_expired hook failed (session %s)", session.pid)


class SessionAwareAdapter(InMemoryAdapter):
    """The in-memory adapter with connection state recovery (Node's
    ``SessionAwareAdapter``): broadcasts are stored in a :class:`PacketLog` with their
    offset appended, sessions are kept and restored there."""

    #: broadcasts are stored: a single-socket emit goes through :meth:`broadcast` too
    stores_packets = True

    def __init__(self, nsp: Any, options: ConnectionStateRecovery) -> None:
        super().__init__(nsp)
        self.sessions = SessionKeeper(nsp, options)
        self.log = self.sessions.log

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        if packet.type is PacketType.EVENT and packet.id is None and not opts.volatile:
            data = list(packet.data)  # the caller's list may be shared (parent namespaces)
            self.log.append(data, opts.rooms, opts.except_rooms)
            packet = Packet(PacketType.EVENT, packet.nsp, data)
        super().broadcast(packet, opts)

    def record_packet(self, packet: Packet, sid: str) -> Packet | None:
        data = list(packet.data)
        self.log.append(data, frozenset((sid,)))
        return Packet(PacketType.EVENT, packet.nsp, data)

    def persist_session(self, session: Session) -> Awaitable[None] | None:
        self.sessions.persist(session)
        return None

    def restore_session(self, pid: str, offset: str) -> Any:
        return self.log.restore(pid, offset)


async def _settle(result: Any) -> Any:
    # an adapter's awaitable may use asyncio.wait_for, which wants a task (Python 3.12)
    return await with_task(result) if inspect.isawaitable(result) else result


async def restore_for(adapter: Any, sockets: Mapping[str, Any], pid: str, offset: str) -> Any:
    """``adapter.restore_session(pid, offset)``; when there is no session yet but a socket
    of this namespace still holds that pid (its client came back on a new connection
    before this server saw the old one drop: a polling client, a half-open TCP
    connection), that old connection is closed now ("transport close", a recoverable
    reason: its session is saved) and the restore is tried again, for up to 0.5 s. The pid
    is a secret only that client was given: presenting it proves the takeover is its own.
    Node instead gives the client a new socket (the race of issue 17)."""
    restored = await _settle(adapter.restore_session(pid, offset))
    if restored is not None:
        return restored
    stale = next((s for s in sockets.values() if getattr(s, "pid", None) == pid), None)
    if stale is None:
        return None
    log.info("socket %s: its client is back on a new connection: the old one is closed", stale.id)
    stale.client.close(DisconnectReason.TRANSPORT_CLOSE)
    for _ in range(10):
        restored = await _settle(adapter.restore_session(pid, offset))
        if restored is not None:
            return restored
        await asyncio.sleep(0.05)
    return None
