"""A server process's node id, claimed in Redis, and the other nodes' addresses, looked up.

:class:`NodeClaim` owns one Redis key, ``{prefix}#machine#{node id}`` whose value is
``{"forward": "<host>:<port>", "uid": "<this process>"}``: set with ``SET ... NX EX ttl``
(a random id again on a collision, up to 64 tries), refreshed every ``refresh`` s by a
script that extends it only while it is still ours (re-creating it if it expired), deleted
on close when still ours. A claim lost to another process (our key expired during a long
Redis outage and another took it) makes :meth:`NodeClaim.run` claim a new id and tell
``on_new_id``: new sessions get the new id; the old id's clients reconnect.

:meth:`NodeClaim.lookup` tells another node's address (``GET``), cached for the key's
lifetime (``ttl``); an id no process holds is cached as absent for ``absent_ttl`` s. The
cache holds at most the 4,096 possible ids.

States: :class:`ClaimState` NEW -> CLAIMED -> CLOSED.

Errors: :class:`ClaimError` when no id could be claimed in ``timeout`` s (Redis away, or
64 collisions); lookups never raise (Redis away: None, the request is answered in place).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import os
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from rtio.cluster.redis import LinkOptions

from .machines import new_node_id

__all__ = ["ClaimError", "ClaimState", "NodeClaim"]

log = logging.getLogger("rtio.workers")

_ERRORS = (RedisError, OSError, asyncio.TimeoutError)
#: collisions tolerated before giving up (4,096 ids: 64 in a row means the space is full)
_TRIES = 64
#: extend our key while it is ours; re-create it when it expired; 0 when another holds it
_REFRESH = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('EXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 2 end
return 0
"""
_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class ClaimError(RuntimeError):
    """No node id could be claimed; the message says why."""


class ClaimState(enum.Enum):
    NEW = "new"
    CLAIMED = "claimed"
    CLOSED = "closed"


def redis_client(options: LinkOptions, name: str) -> Redis:
    """A redis-py client set up as rtio's link sets up its own (RESP2, timeouts, no
    retries of its own)."""
    return Redis(host=options.host, port=options.port, db=options.db,
                 username=options.username, password=options.password, protocol=2,
                 socket_timeout=options.command_timeout,
                 socket_connect_timeout=options.connect_timeout, socket_keepalive=True,
                 retry=Retry(NoBackoff(), 0), health_check_interval=0,
                 decode_responses=False, client_name=name)  # fmt: skip


class NodeClaim:
    """This process's node id in Redis (``address``: how the other machines reach it)."""

    def __init__(
        self,
        redis: Redis,
        *,
        key: str,
        address: str,
        ttl: int = 30,
        refresh: float = 10.0,
        absent_ttl: float = 1.0,
        new_id: Callable[[], str] = new_node_id,
    ) -> None:
        if not 0 < refresh < ttl:
            raise ValueError("refresh must be shorter than ttl")
        self.redis = redis
        self.key = key
        self.address = address
        self.ttl = ttl
        self.refresh = refresh
        self.absent_ttl = absent_ttl
        self._new_id = new_id
        self.uid = os.urandom(8).hex()
        self.value = json.dumps({"forward": address, "uid": self.uid}).encode()
        self.node_id = ""
        self.state = ClaimState.NEW
        #: node id -> (address or None, until when it is trusted, monotonic)
        self._cache: dict[str, tuple[str | None, float]] = {}
        self._lookups: dict[str, asyncio.Future[str | None]] = {}

    def name(self, node_id: str) -> str:
        return f"{self.key}#machine#{node_id}"

    async def claim(self, timeout: float = 30.0) -> str:
        """Claim a free node id (retrying while Redis is away, up to ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        tries = 0
        delay = 0.1
        while True:
            node_id = self._new_id()
            try:
                taken = await self.redis.set(self.name(node_id), self.value, nx=True, ex=self.ttl)
            except _ERRORS as exc:
                if time.monotonic() + delay > deadline:
                    raise ClaimError(f"cannot claim a node id in Redis: {exc}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if taken:
                self.node_id = node_id
                self.state = ClaimState.CLAIMED
                self._cache[node_id] = (self.address, float("inf"))
                return node_id
            tries += 1
            if tries >= _TRIES:
                raise ClaimError(f"{_TRIES} node ids in a row were taken: the 4,096 ids of "
                                 f"{self.key!r} are (nearly) all in use")  # fmt: skip

    async def run(self, on_new_id: Callable[[str], None]) -> None:
        """Refresh the claim every ``refresh`` s until cancelled; claim a new id when ours
        was taken by another process."""
        while self.state is ClaimState.CLAIMED:
            await asyncio.sleep(self.refresh)
            try:
                kept = await self.redis.eval(_REFRESH, 1, self.name(self.node_id), self.value,
                                             str(self.ttl))  # fmt: skip
            except _ERRORS as exc:
                log.warning("node %s: cannot refresh its claim in Redis: %s", self.node_id, exc)
                continue
            if kept == 0 and self.state is ClaimState.CLAIMED:
                old = self.node_id
                self._cache.pop(old, None)
                try:
                    new = await self.claim(timeout=self.ttl)
                except ClaimError as exc:
                    log.error("node %s: its id was taken by another process, and %s", old, exc)
                    continue
                log.error("node %s: its id was taken by another process (a Redis outage "
                          "longer than %d s?): new sessions get id %s",
                          old, self.ttl, new)  # fmt: skip
                on_new_id(new)

    async def close(self) -> None:
        """Give the id back (when still ours) and close the Redis connection."""
        if self.state is ClaimState.CLOSED:
            return
        claimed = self.state is ClaimState.CLAIMED
        self.state = ClaimState.CLOSED
        if claimed:
            with contextlib.suppress(*_ERRORS):
                await self.redis.eval(_DELETE, 1, self.name(self.node_id), self.value)
        with contextlib.suppress(*_ERRORS):
            await self.redis.aclose()

    # -- the other nodes --------------------------------------------------------------------

    def cached(self, node_id: str) -> tuple[bool, str | None]:
        """(known, address): known False when Redis must be asked (:meth:`lookup`)."""
        found = self._cache.get(node_id)
        if found is None or found[1] < time.monotonic():
            return False, None
        return True, found[0]

    async def lookup(self, node_id: str) -> str | None:
        """The address of the node ``node_id`` (None: no live process holds it, or Redis
        cannot tell now)."""
        known, address = self.cached(node_id)
        if known:
            return address
        pending = self._lookups.get(node_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._lookups[node_id] = pending
            try:
                result = await self._get(node_id)
            except BaseException:
                pending.cancel()
                raise
            else:
                pending.set_result(result)
            finally:
                del self._lookups[node_id]
        return await asyncio.shield(pending)

    async def _get(self, node_id: str) -> str | None:
        try:
            raw = await self.redis.get(self.name(node_id))
        except _ERRORS as exc:
            log.warning("cannot look node %s up in Redis: %s", node_id, exc)
            return None
        address: str | None = None
        if raw is not None:
            try:
                value = json.loads(raw)
                address = str(value["forward"]) if isinstance(value, dict) else None
            except (ValueError, KeyError):
                address = None
        now = time.monotonic()
        self._cache[node_id] = (address, now + (self.ttl if address else self.absent_ttl))
        return address
