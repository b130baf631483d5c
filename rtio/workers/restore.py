"""Connection state recovery across the workers of one supervisor.

With ``connection_state_recovery`` on, each namespace of each worker gets a
:class:`RecoveringBusAdapter`: the inter-worker adapter (adapter.py) that also keeps, as
the in-memory ``SessionAwareAdapter`` does, a :class:`~rtio.socketio.recovery.PacketLog`
of the events its own sockets were sent (the broadcasts of every worker, as they reach
this one, and its sockets' own emits, each with this worker's offset appended) and the
sessions of its sockets that went for a recoverable reason.

A client that comes back opens a new Engine.IO session, which the kernel gives to any
worker. That worker (the *asker*) restores from its own log when it holds the session;
otherwise it asks the other live workers over the bus, and the one holding it (the
*holder*) gives the session up (it forgets it) with the events missed since the offset::

    asker -> all:    SERVER_SIDE_EMIT {requestId, packet: [RESTORE_EVENT, pid, offset]}
    each -> asker:   SERVER_SIDE_EMIT_RESPONSE {requestId, packet: null}       (not here)
                  or {requestId, packet: {sid, pid, rooms, data, missed: [[...], ...], had}}

(socket.io-adapter's server-side emit and its answer, with an event name applications
may not use: the bus carries no other message kinds.) Every worker is asked, not only the
one named by the pid's first character: a recovered socket keeps its pid (the client
checks that it is the same), so after a recovery on another worker that character no
longer names the holder. A holder with a socket still connected under that pid (its
client came back before that worker saw the old connection drop) closes it first, as
on one worker (``restore_for``).

The asker then replays the missed events, and the events it stored itself while it
waited that the holder could not have had: its own, but the first ``had`` it sent after
the request (the holder counts them until it gives the session up: the bus keeps each
pair of workers' messages in order), and the holder's that arrived after the answer; a
third worker's are replayed unless the same event is among the missed ones. Every
replayed event gets an offset of the asker's log (it is stored again, for that socket
only), so that the client's next recovery, on any worker, finds its offset; a client
that missed nothing keeps its old offset, which the holder-to-be maps to its own log's
position at the restore.

Bounds and errors: the asker waits at most ``restore_timeout`` (1 s) for the answers of
the workers live when it asked (a worker that dies is not waited for); at most
``max_pending`` restores wait at once (more: not recovered); an answer is at most
``max_restore_bytes`` serialized (larger, or data that cannot travel: the holder drops
the session, logs a WARNING and answers "not here"); the events an asker stores while it
waits are at most the log's ``max_packets`` (more: not recovered). A session whose
worker died went with its memory: nobody holds it, the client gets a new socket, and
the asker logs it at INFO ("no worker holds it"), as after any server loss.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rtio.cluster.messages import ClusterMessage, ServerSideEmit, ServerSideEmitResponse
from rtio.ids import new_id
from rtio.socketio import BroadcastOptions, Packet, PacketType
from rtio.socketio.recovery import (
    ConnectionStateRecovery,
    RestoredSession,
    Session,
    SessionKeeper,
    restore_for,
    should_replay,
)

from .adapter import BusAdapter

if TYPE_CHECKING:
    from rtio.socketio import Namespace

    from .bus import WorkerBus

__all__ = ["RESTORE_EVENT", "RecoveringBusAdapter"]

log = logging.getLogger("rtio.workers")

#: the server-side event of a restore request (refused from applications)
RESTORE_EVENT = "rtio:restore-session"


class _Restore:
    """A restore of ours waiting for the answers of ``waiting`` workers; ``window``: the
    events this worker stored meanwhile, as (origin worker, after the answer, rooms,
    except rooms, data without offset); a ``origin`` of -1: one of ours that was not
    published (a socket's own emit, a local broadcast)."""

    __slots__ = ("answer", "done", "holder", "overflow", "waiting", "window")

    def __init__(self, waiting: set[int], done: asyncio.Future[None]) -> None:
        self.waiting = waiting
        self.done = done
        self.answer: dict[str, Any] | None = None
        self.holder = -1
        self.overflow = False
        self.window: list[tuple[int, bool, frozenset[str], frozenset[str], list[Any]]] = []

    def answered(self, worker: int, answer: dict[str, Any] | None = None) -> None:
        self.waiting.discard(worker)
        if answer is not None and self.answer is None:
            self.answer, self.holder = answer, worker
        if (self.answer is not None or not self.waiting) and not self.done.done():
            self.done.set_result(None)


class RecoveringBusAdapter(BusAdapter):
    """The inter-worker adapter with connection state recovery (the module docstring)."""

    stores_packets = True

    def __init__(
        self,
        nsp: Namespace,
        bus: WorkerBus,
        *,
        restore_timeout: float = 1.0,
        max_restore_bytes: int = 16 * 1024 * 1024,
        **options: Any,
    ) -> None:
        super().__init__(nsp, bus, **options)
        recovery: ConnectionStateRecovery | None = nsp.server.connection_state_recovery
        if recovery is None:
            raise ValueError("RecoveringBusAdapter: connection_state_recovery is off")
        self.sessions = SessionKeeper(nsp, recovery)
        self.log = self.sessions.log
        self.restore_timeout = restore_timeout
        self.max_restore_bytes = max_restore_bytes
        self._restores: dict[str, _Restore] = {}
        #: pid -> (the offset its client still holds, this log's next_seq when it came
        #: back here missing nothing): a restore presenting the first reads from the second
        self._rebased: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self._answering: set[asyncio.Task[Any]] = set()
        #: [asker, n]: the broadcasts of ``asker`` stored since its request came
        self._counting: list[list[int]] = []

    @classmethod
    def factory(cls, bus: WorkerBus, **options: Any) -> Callable[[Namespace], BusAdapter]:
        return lambda nsp: cls(nsp, bus, **options)

    # -- the log --------------------------------------------------------------------------------

    def _store(self, data: list[Any], rooms: frozenset[str], except_rooms: frozenset[str],
               origin: int) -> None:  # fmt: skip
        bare = list(data)
        self.log.append(data, rooms, except_rooms)
        for counting in self._counting:
            if counting[0] == origin:
                counting[1] += 1
        for pending in self._restores.values():
            if len(pending.window) >= self.log.options.max_packets:
                pending.overflow = True
                continue
            after = pending.done.done()
            pending.window.append((origin, after, rooms, except_rooms, bare))

    def deliver(self, packet: Packet, opts: BroadcastOptions, origin: int) -> None:
        if packet.type is PacketType.EVENT and packet.id is None and not opts.volatile:
            data = list(packet.data)  # the caller's list may be shared (parent namespaces)
            if origin == self.bus.index and opts.local:
                origin = -1  # (not published: the holder cannot have it)
            self._store(data, opts.rooms, opts.except_rooms, origin)
            packet = Packet(PacketType.EVENT, packet.nsp, data)
        super().deliver(packet, opts, origin)

    def record_packet(self, packet: Packet, sid: str) -> Packet | None:
        data = list(packet.data)
        self._store(data, frozenset((sid,)), frozenset(), -1)
        return Packet(PacketType.EVENT, packet.nsp, data)

    def persist_session(self, session: Session) -> None:
        self.sessions.persist(session)
        return None

    def take(self, pid: str, offset: str) -> RestoredSession | None:
        """The session ``pid`` from this worker's log (it is gone from it)."""
        rebased = self._rebased.get(pid)
        if rebased is None or rebased[0] != offset:
            return self.log.restore(pid, offset)
        restored = self.log.restore(pid, offset, since=rebased[1])
        if restored is not None:  # (else kept: its socket may not have left yet)
            del self._rebased[pid]
        return restored

    # -- restoring here -------------------------------------------------------------------------

    def restore_session(self, pid: str, offset: str) -> Any:
        restored = self.take(pid, offset)
        if restored is not None:
            return restored
        if any(getattr(s, "pid", None) == pid for s in self.nsp.sockets.values()):
            return None  # connected here: restore_for closes it and asks again
        others = set(self.bus.members) - {self.bus.index}
        if not others:
            return None
        return self._ask(pid, offset, others)

    async def _ask(self, pid: str, offset: str, others: set[int]) -> RestoredSession | None:
        if len(self._restores) >= self.max_pending:
            log.warning("worker %d: %d restores wait already: session %s not recovered",
                        self.bus.index, len(self._restores), pid)  # fmt: skip
            return None
        request_id = new_id()
        pending = _Restore(others, asyncio.get_running_loop().create_future())
        self._restores[request_id] = pending
        try:
            self._publish(ServerSideEmit([RESTORE_EVENT, pid, offset], request_id))
            try:
                await asyncio.wait_for(asyncio.shield(pending.done), self.restore_timeout)
            except asyncio.TimeoutError:
                log.warning("worker %d: restoring session %s: workers %s did not answer "
                            "within %.1f s", self.bus.index, pid, sorted(pending.waiting),
                            self.restore_timeout)  # fmt: skip
        finally:
            del self._restores[request_id]
        answer = pending.answer
        if answer is None:
            log.info("worker %d: session %s of %s: no worker holds it (unknown, expired, "
                     "or its worker died): not recovered", self.bus.index, pid,
                     self.nsp.name)  # fmt: skip
            return None
        if pending.overflow:
            log.warning("worker %d: session %s: more than %d events while restoring it: "
                        "not recovered", self.bus.index, pid,
                        self.log.options.max_packets)  # fmt: skip
            return None
        try:
            return self._rebuild(answer, pending, offset)
        except (TypeError, ValueError, KeyError) as exc:
            log.warning("worker %d: session %s: bad answer from worker %d (%s): not recovered",
                        self.bus.index, pid, pending.holder, exc)  # fmt: skip
            return None

    def _rebuild(self, answer: dict[str, Any], pending: _Restore, offset: str) -> RestoredSession:
        sid, pid = answer["sid"], answer["pid"]
        rooms = [str(room) for room in answer["rooms"]]
        missed = [list(event[:-1]) for event in answer["missed"]]  # (the holder's offsets)
        if not isinstance(sid, str) or not isinstance(pid, str):
            raise TypeError("sid and pid must be strings")
        had = answer.get("had", 0)  # how many of our broadcasts the holder had then
        if not isinstance(had, int):
            raise TypeError("had must be a number")
        replay = list(missed)
        # a third worker's events the holder had: told by their content, each once
        held = Counter(repr(event) for event in missed)
        for origin, after, to, except_, data in pending.window:
            if origin == self.bus.index and had > 0:
                had -= 1  # (in order: the bus keeps each pair's messages in order)
                continue
            if not should_replay(rooms, to, except_):
                continue
            if origin == pending.holder:
                mine = after  # before its answer: among the missed, if meant for it
            elif origin in (self.bus.index, -1):
                mine = True
            else:  # (a third worker's may have reached the holder first: not twice)
                key = repr(data)
                mine = held[key] == 0
                if not mine:
                    held[key] -= 1
            if mine:
                replay.append(data)
        own = frozenset((sid,))
        for data in replay:  # this log's offsets, for the client's next recovery
            self.log.append(data, own)
        start = self.log.next_seq
        if not replay:
            self._rebased[pid] = (offset, start)
            while len(self._rebased) > self.log.options.max_sessions:
                self._rebased.popitem(last=False)
        log.info("worker %d: session %s (socket %s) taken over from worker %d",
                 self.bus.index, pid, sid, pending.holder)  # fmt: skip
        return RestoredSession(sid, pid, rooms, answer.get("data"), replay,
                               lambda: self.log.since(rooms, start))  # fmt: skip

    # -- restoring elsewhere --------------------------------------------------------------------

    def receive(self, source: int, message: ClusterMessage) -> None:
        body = message.body
        if isinstance(body, ServerSideEmit) and body.packet[:1] == [RESTORE_EVENT]:
            if body.request_id is not None and len(body.packet) == 3:
                self._answer_later(source, body.request_id, body.packet[1], body.packet[2])
            return
        if isinstance(body, ServerSideEmitResponse) and body.request_id in self._restores:
            pending = self._restores[body.request_id]
            answer = body.packet if isinstance(body.packet, dict) else None
            if source in pending.waiting:
                pending.answered(source, answer)
            return
        super().receive(source, message)

    def _answer_later(self, source: int, request_id: str, pid: Any, offset: Any) -> None:
        if not isinstance(pid, str) or not isinstance(offset, str) or (
            len(self._answering) >= self.max_pending
        ):
            self._publish(ServerSideEmitResponse(request_id, None), source)
            return
        counting = [source, 0]  # (from now: the asker's broadcasts may follow at once)
        self._counting.append(counting)
        task = asyncio.ensure_future(self._answer(source, request_id, pid, offset, counting))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, source: int, request_id: str, pid: str, offset: str,
                      counting: list[int]) -> None:  # fmt: skip
        answer: dict[str, Any] | None = None
        try:
            restored = await restore_for(_Here(self), self.nsp.sockets, pid, offset)
            if restored is not None:
                answer = {"sid": restored.sid, "pid": restored.pid, "rooms": restored.rooms,
                          "data": restored.data, "missed": restored.missed,
                          "had": counting[1]}  # fmt: skip
        except Exception:
            log.exception("worker %d: giving up session %s failed", self.bus.index, pid)
        finally:
            self._counting.remove(counting)
        message = ClusterMessage(self.bus.uid, self.nsp.name,
                                 ServerSideEmitResponse(request_id, answer))  # fmt: skip
        if answer is not None:
            try:
                size = len(message.serialize())
            except (TypeError, ValueError) as exc:
                size, why = -1, f"its data cannot be sent to another worker ({exc})"
            else:
                why = f"{size} bytes, more than {self.max_restore_bytes}"
            if not 0 <= size <= self.max_restore_bytes:
                log.warning("worker %d: session %s is dropped, not given to worker %d: %s",
                            self.bus.index, pid, source, why)  # fmt: skip
                message = ClusterMessage(self.bus.uid, self.nsp.name,
                                         ServerSideEmitResponse(request_id, None))  # fmt: skip
            else:
                log.info("worker %d: session %s given to worker %d (%d missed)",
                         self.bus.index, pid, source, len(answer["missed"]))  # fmt: skip
        self.bus.publish(message, source)

    def server_side_emit(self, args: list[Any]) -> None:
        if args[:1] == [RESTORE_EVENT]:
            raise ValueError(f"{RESTORE_EVENT!r} is a reserved event name")
        super().server_side_emit(args)

    def members_changed(self, members: frozenset[int]) -> None:
        super().members_changed(members)
        for pending in list(self._restores.values()):
            for worker in list(pending.waiting):
                if worker not in members:
                    pending.answered(worker)


class _Here:
    """``restore_for``'s adapter on the holder's side: this worker's log only."""

    __slots__ = ("_adapter",)

    def __init__(self, adapter: RecoveringBusAdapter) -> None:
        self._adapter = adapter

    def restore_session(self, pid: str, offset: str) -> RestoredSession | None:
        return self._adapter.take(pid, offset)

