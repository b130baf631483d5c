"""The cluster requests of one namespace's adapter, waiting for the other nodes' answers.

Owns: the requests of this node in flight (:class:`PendingRequest`: ``fetch_sockets``,
``server_side_emit_with_ack``, the room and socket queries), the broadcasts with acks in
flight (:class:`AckGather`, which feeds rtio's ``emit_with_ack`` the other nodes' client
counts and acks), routing each answer to its request, the count of the nodes, and the
:class:`~.results.Coverage` of each request: who answered, who did not, who went away.

A request's life::

    ask() --publish--> waiting --all answered--> done (complete)
                          |---timeout---------> done (partial: missing counted, rtio's named)
                          |---nodes gone------> done (partial: gone counted)
                          '---close()---------> done (what arrived)

Bounds: at most ``max_pending_requests`` requests wait at once (one more is not sent: its
Coverage says ``overloaded``); each waits ``requests_timeout`` at most; the nodes are
recounted every ``recount_interval`` while it waits. Redis unreachable: not sent, Coverage
says ``redis unreachable``. Does not know the bytes of a request (the adapter sends it
through ``send``) nor the Redis link (it counts through ``count``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..classic import (
    BroadcastAckResponse,
    BroadcastClientCountResponse,
    Request,
    RequestType,
    Response,
    peek_request_id,
    response_from,
)
from ..errors import ClusterError, LinkDown, MessageError
from ..wire import decode
from .results import Coverage, RedisAdapterOptions
from .url import new_uid

__all__ = ["AckGather", "PendingRequest", "Requests"]

log = logging.getLogger("rtio.cluster")


@dataclass(slots=True)
class PendingRequest:
    """A cluster request of ours waiting for answers."""

    kind: RequestType
    expected: int
    done: asyncio.Future[None]
    answers: list[Any] = field(default_factory=list)
    responders: set[str] = field(default_factory=set)

    def add(self, response: Any, uid: str | None) -> None:
        self.answers.append(response)
        if uid is not None:
            self.responders.add(uid)
        if len(self.answers) >= self.expected and not self.done.done():
            self.done.set_result(None)


class AckGather:
    """The acks of one broadcast with acks, local and remote, fed to rtio's operator
    (``on_count`` / ``on_ack`` of ``emit_with_ack``).

    The other nodes report their client counts later than this node does: one placeholder
    count holds the operator open until they have (or the wait for them ended); then
    :meth:`finish` removes it, and the operator, which re-checks on every count, closes as
    soon as every ack is in. A remote ack has no socket id on Node's wire: it is named
    ``~1``, ``~2``... in the operator's results.
    """

    __slots__ = ("_final", "_on_ack", "_on_count", "counts", "reached", "remote_acks")

    def __init__(
        self, on_count: Callable[[int], None], on_ack: Callable[[str, list[Any] | None], None]
    ) -> None:
        self._on_count = on_count
        self._on_ack = on_ack
        self._final = False
        #: servers that reported their count; sockets reached (all servers); remote acks
        self.counts = 0
        self.reached = 0
        self.remote_acks = 0
        on_count(1)  # the placeholder

    def count(self, n: int) -> None:
        self.reached += n
        if n:
            self._on_count(n)

    def remote_count(self, n: int) -> None:
        """One other server reached ``n`` clients."""
        self.counts += 1
        self.count(n)

    def ack(self, sid: str, args: list[Any] | None) -> None:
        self._on_ack(sid, args)

    def remote_ack(self, packet: Any) -> None:
        self.remote_acks += 1
        self._on_ack(f"~{self.remote_acks}", [packet])

    def finish(self) -> None:
        """The counts are final: the placeholder goes."""
        if not self._final:
            self._final = True
            self._on_count(-1)


class Requests:
    """One adapter's requests in flight and the answers routed to them.

    :param label: the namespace, for the log.
    :param count: counts the nodes of the namespace (``PUBSUB NUMSUB``), this one included.
    :param send: publishes a request (on the adapter's wire).
    """

    def __init__(
        self,
        label: str,
        options: RedisAdapterOptions,
        count: Callable[[], Awaitable[int]],
        send: Callable[[Request], None],
    ) -> None:
        self.label = label
        self.options = options
        self._count = count
        self._send = send
        self._pending: dict[str, PendingRequest] = {}
        self._acks: dict[str, AckGather] = {}
        #: rtio nodes that answered a request of ours, by uid (to name the missing ones)
        self.known_nodes: set[str] = set()
        #: the nodes of the namespace when last counted
        self.last_count = 1

    def __len__(self) -> int:
        """Requests waiting for answers."""
        return len(self._pending)

    def kind_of(self, request_id: str) -> RequestType | None:
        """The kind of a request of ours still waiting, or None."""
        pending = self._pending.get(request_id)
        return None if pending is None else pending.kind

    def wants(self, request_id: str) -> bool:
        """Whether an answer to ``request_id`` would be used."""
        return request_id in self._pending or request_id in self._acks

    # -- counting ---------------------------------------------------------------------------

    async def count_servers(self) -> int:
        count = await self._count()
        self.last_count = count
        return count

    async def others(self) -> int | None:
        """The other nodes, or None when Redis cannot tell."""
        try:
            return await self.count_servers() - 1
        except ClusterError:
            return None

    # -- requests -----------------------------------------------------------------------------

    async def ask(
        self, request_id: str, kind: RequestType, request: Request, timeout: float | None = None
    ) -> tuple[PendingRequest | None, Coverage]:
        """Publish a request and wait for the other nodes' answers: all of them, the
        timeout, or fewer when nodes went away meanwhile (recounted as it waits)."""
        try:
            expected = await self.count_servers() - 1
        except LinkDown as exc:
            log.warning("redis adapter %s: %s request not sent: %s", self.label, kind.name, exc)
            return None, Coverage(error=f"redis unreachable: {exc}")
        if expected <= 0:
            return None, Coverage()
        if len(self._pending) >= self.options.max_pending_requests:
            log.warning(
                "redis adapter %s: %d cluster requests pending (max_pending_requests): "
                "%s answered with this node only", self.label, len(self._pending), kind.name,
            )  # fmt: skip
            return None, Coverage(expected=expected, error="overloaded")
        loop = asyncio.get_running_loop()
        pending = PendingRequest(kind, expected, loop.create_future())
        self._pending[request_id] = pending
        self._send(request)
        timeout = self.options.requests_timeout if timeout is None else timeout
        try:
            gone = await self._wait(pending, loop.time() + timeout)
        finally:
            self._pending.pop(request_id, None)
        return pending, self._coverage(pending, kind, gone, timeout)

    async def _wait(self, pending: PendingRequest, deadline: float) -> int:
        """Wait for the answers until ``deadline``; the nodes that went away meanwhile."""
        loop = asyncio.get_running_loop()
        gone = 0
        while not pending.done.done():
            left = deadline - loop.time()
            if left <= 0:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                wait = min(left, self.options.recount_interval)
                await asyncio.wait_for(asyncio.shield(pending.done), wait)
            if pending.done.done():
                break
            others = await self.others()
            if others is not None and others < pending.expected - gone:
                gone = pending.expected - others
                if len(pending.answers) >= others:
                    break
        return gone

    def _coverage(
        self, pending: PendingRequest, kind: RequestType, gone: int, timeout: float
    ) -> Coverage:
        expected, answered = pending.expected, len(pending.answers)
        missing: frozenset[str] = frozenset()
        if answered < expected:
            missing = frozenset(self.known_nodes - pending.responders)
            log.warning(
                "redis adapter %s: %s answered by %d of %d nodes (%s)%s", self.label,
                kind.name, answered, expected,
                "missing: " + ", ".join(sorted(missing)) if missing else "unnamed",
                f"; {gone} went away" if gone else f" within {timeout:g} s",
            )  # fmt: skip
            if gone:  # those that went away are forgotten
                self.known_nodes -= missing
            self.known_nodes |= pending.responders
        else:  # everybody answered: the rtio nodes now are exactly those that did
            self.known_nodes = set(pending.responders)
        return Coverage(expected, answered, missing, gone)

    # -- broadcasts with acks -------------------------------------------------------------------

    def gather_acks(
        self, on_count: Callable[[int], None], on_ack: Callable[[str, list[Any] | None], None]
    ) -> tuple[str, AckGather]:
        """A new broadcast with acks: its request id and its gatherer (registered)."""
        request_id = new_uid()
        gather = self._acks[request_id] = AckGather(on_count, on_ack)
        return request_id, gather

    async def watch_counts(self, request_id: str, gather: AckGather, timeout: float) -> None:
        """Wait for every other node's client count (``requests_timeout`` at most), then
        close the placeholder; the acks are routed until the broadcast's ``timeout``."""
        start = time.monotonic()
        deadline = start + min(timeout, self.options.requests_timeout)
        try:
            while time.monotonic() < deadline:
                others = await self.others()
                if others is None or gather.counts >= others:
                    break
                await asyncio.sleep(self.options.recount_interval)
        finally:
            gather.finish()
        # the answers of the clients may still come, until the broadcast's timeout
        try:
            await asyncio.sleep(max(0.0, start + timeout + 1.0 - time.monotonic()))
        finally:
            self._acks.pop(request_id, None)

    # -- answers --------------------------------------------------------------------------------

    def receive(self, payload: bytes) -> None:
        """An answer on the classic response channels (shared: most are for others)."""
        peeked = peek_request_id(payload)
        if peeked is not None and not self.wants(peeked):
            return  # another node's answer: not decoded
        try:
            head = decode(payload)
        except MessageError:
            return
        if not isinstance(head, dict):
            return
        request_id = head.get("requestId")
        if not isinstance(request_id, str):
            return
        gather = self._acks.get(request_id)
        if gather is not None:
            kind = head.get("type")
            if kind == RequestType.BROADCAST_CLIENT_COUNT:
                count = head.get("clientCount")
                if isinstance(count, int):
                    gather.remote_count(count)
            elif kind == RequestType.BROADCAST_ACK:
                gather.remote_ack(head.get("packet"))
            return
        pending = self._pending.get(request_id)
        if pending is None:
            return
        try:
            response = response_from(head, lambda _id: pending.kind)
        except MessageError as exc:
            log.warning("redis adapter %s: dropped an invalid answer: %s", self.label, exc)
            return
        if response is not None:
            uid = head.get("uid")
            pending.add(response, uid if isinstance(uid, str) else None)

    def deliver(self, response: Response, uid: str | None) -> None:
        """An answer to a request of ours, already decoded (the sharded wire's)."""
        request_id = response.request_id
        gather = self._acks.get(request_id)
        if gather is not None:
            if isinstance(response, BroadcastClientCountResponse):
                gather.remote_count(response.client_count)
            elif isinstance(response, BroadcastAckResponse):
                gather.remote_ack(response.packet)
            return
        pending = self._pending.get(request_id)
        if pending is not None:
            pending.add(response, uid)

    def close(self) -> None:
        """The adapter closes: every caller gets what arrived so far; acks are no longer
        routed (their operators end at their own timeouts)."""
        for pending in self._pending.values():
            if not pending.done.done():
                pending.done.set_result(None)
        self._pending.clear()
        for gather in self._acks.values():
            gather.finish()
        self._acks.clear()
