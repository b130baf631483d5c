"""The sessions of the Redis Streams adapter: saved under ``sio:session:<pid>``, taken back by
whichever node the client returns to, with the events it missed read from the stream.

Owns, for one namespace: ``persist`` (Node's ``SET .. PX``, when a socket goes for a
recoverable reason), ``restore`` (GET + DEL in MULTI, the offset checked with ``XRANGE
offset offset``, then the stream after it in pages), and, with ``StreamsOptions.save_ahead``,
writing every local socket's session ahead (at connect, on room changes, and every
``save_ahead`` seconds) so that a node killed without a goodbye leaves them behind; a socket
that goes for a reason that is not recoverable then has its written-ahead session deleted.

Errors: a Redis failure is logged (WARNING) and the session is not saved, or not recovered.
Bounds: ``restore_page`` entries per XRANGE, ``restore_max_entries`` per restore,
``restore_wait`` seconds waiting for a session being written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from redis.exceptions import RedisError

from rtio.socketio import PacketType, RestoredSession, Session

from ..errors import MessageError
from ..messages import Broadcast
from ..streams import (
    OFFSET_RE,
    StreamSession,
    decode_entry,
    decode_session,
    encode_session,
    entry_fields,
    entry_key,
    next_offset,
    replays,
)
from ..wire import WireFlags

__all__ = ["Sessions"]

log = logging.getLogger("rtio.cluster.redis")

_ERRORS = (RedisError, OSError, asyncio.TimeoutError, RuntimeError)
_EVENT = PacketType.EVENT


class Sessions:
    """The session side of one :class:`~.streams.RedisStreamsAdapter`."""

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter
        self.cluster = adapter.cluster
        self.stream: str = adapter.stream
        recovery = adapter.recovery
        self.ttl_ms = 0 if recovery is None else int(recovery.max_disconnection_duration * 1000)
        self.ahead: float | None = None if recovery is None else self.cluster.options.save_ahead
        # save-ahead state: the sockets to write, the pid of each socket written, the pids
        # whose session the socket's close saved (not to delete then)
        self._dirty: set[str] = set()
        self._pids: dict[str, str] = {}
        self._persisted: set[str] = set()
        self._flush: asyncio.TimerHandle | None = None
        self._refresh: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: the SETs of sessions being saved (a closing cluster waits for them)
        self.saving: set[asyncio.Task[None]] = set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _set(self, session: StreamSession, ttl_ms: int) -> None:
        key = self.cluster.options.session_key(session.pid)
        try:
            await asyncio.wait_for(
                self.cluster.client.set(key, encode_session(session), px=ttl_ms),
                self.cluster.link.command_timeout,
            )
        except _ERRORS as exc:
            log.warning("session %s not saved: %r", session.pid, exc)

    # -- saving -------------------------------------------------------------------------

    def persist(self, session: Session) -> Awaitable[None] | None:
        if self.ttl_ms == 0:
            return None
        self._persisted.add(session.pid)
        stored = StreamSession(session.sid, session.pid, tuple(session.rooms), session.data)
        task = asyncio.ensure_future(self._set(stored, self.ttl_ms))
        self.saving.add(task)
        task.add_done_callback(self.saving.discard)
        return task

    def changed(self, sid: str) -> None:
        """A local socket connected or changed rooms: written ahead soon (save_ahead)."""
        if self.ahead is None:
            return
        self._dirty.add(sid)
        loop = asyncio.get_running_loop()
        if self._flush is None:
            self._flush = loop.call_later(0.05, self._write_ahead)
        if self._refresh is None:
            self._refresh = loop.call_later(self.ahead, self._rewrite_all)

    def _rewrite_all(self) -> None:
        self._refresh = None
        sockets = self.adapter.nsp.sockets
        if sockets:
            self._dirty.update(sockets)
            self._write_ahead()
            self._refresh = asyncio.get_running_loop().call_later(
                self.ahead or 1.0, self._rewrite_all
            )

    def _write_ahead(self) -> None:
        self._flush = None
        dirty, self._dirty = self._dirty, set()
        sockets = self.adapter.nsp.sockets
        ttl = self.ttl_ms + int(2 * (self.ahead or 0) * 1000)
        batch = []
        for sid in dirty:
            socket = sockets.get(sid)
            pid = getattr(socket, "pid", None)
            if socket is None or pid is None or not socket.connected:
                continue
            self._pids[sid] = pid
            rooms = tuple(sorted(self.adapter.socket_rooms(sid) or (sid,)))
            batch.append(StreamSession(sid, pid, rooms, socket.data))
        if batch:
            self._spawn(self._set_many(batch, ttl))

    async def _set_many(self, batch: list[StreamSession], ttl_ms: int) -> None:
        options = self.cluster.options
        try:
            pipe = self.cluster.client.pipeline(transaction=False)
            for session in batch:
                pipe.set(options.session_key(session.pid), encode_session(session), px=ttl_ms)
            await asyncio.wait_for(pipe.execute(), self.cluster.link.command_timeout)
        except _ERRORS as exc:
            log.warning("%d sessions not written ahead: %r", len(batch), exc)

    def gone(self, sid: str) -> None:
        """A local socket left its rooms (it went): a session written ahead for it goes
        too, unless its close saved it (a recoverable reason)."""
        pid = self._pids.pop(sid, None)
        self._dirty.discard(sid)
        if pid is None:
            return
        if pid in self._persisted:
            self._persisted.discard(pid)
            return
        self._spawn(self._delete(pid))

    async def _delete(self, pid: str) -> None:
        try:
            key = self.cluster.options.session_key(pid)
            await asyncio.wait_for(
                self.cluster.client.delete(key), self.cluster.link.command_timeout
            )
        except _ERRORS as exc:
            log.warning("session %s written ahead not deleted: %r", pid, exc)

    def close(self) -> None:
        for timer in (self._flush, self._refresh):
            if timer is not None:
                timer.cancel()
        for task in tuple(self._tasks):
            task.cancel()

    # -- restoring ----------------------------------------------------------------------

    def restore(self, pid: str, offset: str) -> Any:
        if self.ttl_ms == 0 or not OFFSET_RE.match(offset):
            return None
        return self._restore(pid, offset)

    async def _restore(self, pid: str, offset: str) -> RestoredSession | None:
        cluster = self.cluster
        timeout = cluster.link.command_timeout
        try:
            first: Any = await asyncio.wait_for(
                cluster.client.execute_command("XRANGE", self.stream, offset, offset),
                timeout,
            )
            raw = await self._take(pid)
            if not first:
                return None
            waited = 0.0
            while raw is None and waited < cluster.options.restore_wait:
                # better than Node: the node the client left may be writing it right now
                await asyncio.sleep(0.05)
                waited += 0.05
                raw = await self._take(pid)
            if raw is None:
                return None
            session = decode_session(raw)
            missed = await self._missed(session, offset)
        except (*_ERRORS, MessageError) as exc:
            log.warning("session %s not restored: %r", pid, exc)
            return None
        if missed is None:
            return None
        return RestoredSession(session.sid, session.pid, list(session.rooms), session.data, missed)

    async def _take(self, pid: str) -> Any:
        """GET and DEL the session of ``pid`` at once (MULTI: Redis < 6.2 has no GETDEL)."""
        cluster = self.cluster
        pipe = cluster.client.pipeline(transaction=True)
        pipe.get(cluster.options.session_key(pid))
        pipe.delete(cluster.options.session_key(pid))
        raw, _ = await asyncio.wait_for(pipe.execute(), cluster.link.command_timeout)
        return raw

    async def _missed(self, session: StreamSession, offset: str) -> list[list[Any]] | None:
        """The stream after ``offset``, in pages, kept: this namespace's broadcasts meant for
        the session (not volatile, not with an ack id), each with its entry id appended."""
        cluster = self.cluster
        page = cluster.options.restore_page
        budget = cluster.options.restore_max_entries
        missed: list[list[Any]] = []
        start = next_offset(offset)
        covered = entry_key(offset)
        empty = 0
        name = self.adapter.nsp.name
        while True:
            entries: Any = await asyncio.wait_for(
                cluster.client.execute_command("XRANGE", self.stream, start, "+", "COUNT", page),
                cluster.link.command_timeout,
            )
            for raw_id, fields in entries:
                entry_id = raw_id.decode()
                pairs = entry_fields(fields)
                if pairs.get(b"nsp") != name.encode() or pairs.get(b"type") != b"3":
                    continue
                try:
                    body = decode_entry(pairs).body
                except MessageError:
                    continue
                if not isinstance(body, Broadcast) or body.request_id is not None:
                    continue
                flags = body.opts.flags or WireFlags()
                if body.packet.id is not None or flags.volatile or body.packet.type != _EVENT:
                    continue
                if replays(session.rooms, body.opts.rooms, body.opts.except_rooms):
                    missed.append([*body.packet.data, entry_id])
            budget -= len(entries)
            if entries:
                covered = entry_key(entries[-1][0].decode())
            # done at the end of the stream, once past what the reader already delivered
            # (an entry it handed out while this ran reached no socket of this session):
            # from here on, with no await, the socket joins and the reader's next entries
            # reach it live
            if len(entries) < page and cluster.last_read.get(self.stream, (0, 0)) <= covered:
                return missed
            if not entries:  # the reader is ahead: its entries were trimmed, or are coming
                empty += 1
                if empty > 3:
                    return missed
            if budget <= 0:
                log.warning(
                    "session %s not restored: more than %d entries to read",
                    session.pid,
                    cluster.options.restore_max_entries,
                )
                return None
            start = f"{covered[0]}-{covered[1] + 1}"
