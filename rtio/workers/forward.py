"""Several machines behind a load balancer with no affinity: a request for another
machine's session is forwarded whole to it (opt-in, with a Redis cluster).

``Forwarding(cluster, address="10.0.0.7:8000", secret=...).attach(app)``: at the app's
startup each server process claims a node id in Redis (claim.py) and puts it in every id
it makes (``[worker char][node id][17 random]``, machines.py). rtio's HTTP front then
calls :meth:`Forwarding.redirect` with each Engine.IO request head, before rtio.workers'
hand-off:

- no sid, a sid of this process, or a request forwarded here (a valid hop token): served
  here as usual (the hand-off passes it to the worker owning it, on this machine);
- a hop header with a bad token: refused, 403 (nobody without the secret can make a
  server forward for them);
- a sid of another process: its address is looked up (cached; a Redis GET when not);
  this machine's own address (another worker here): served here, by the hand-off; no live
  process holds it: served here ("Session ID unknown" at once, the client reconnects);
  another machine: the connection is spliced to that address (splice.py), the bytes read
  so far written first with the hop header added, and the owner's front serves it as any
  connection. The landing server copies bytes; it never parses what follows.

A forward that cannot be made (the owner refuses the connection or does not accept it
within ``connect_timeout``; ``max_per_peer`` forwarded connections to that address are
open; ``max_lookups`` connections wait for Redis) is served here instead: "Session ID
unknown", the client reconnects. Each such case is counted (``failed``) and logged once
per burst.

States: :class:`ForwardingState` NEW -> SERVING (a node id claimed) -> CLOSED.

Errors: ValueError for a bad ``address`` or ``secret``, TypeError for a ``cluster`` that
is not one of rtio's Redis clusters (at construction); ClaimError at the
app's startup when no node id can be claimed (the app does not start).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from rtio.cluster.redis import LinkOptions
from rtio.ids import new_id
from rtio.run import FRONT_HOOKS_KEY

from .claim import NodeClaim, redis_client
from .machines import HOP_HEADER, TokenCheck, check_token, make_token, node_of, secret_bytes, sid_of
from .ownership import prefix_of
from .splice import Splice, SpliceState

if TYPE_CHECKING:
    from rtio.http import Front, FrontSite, RequestHead

__all__ = ["Forwarding", "ForwardingState", "parse_address"]

log = logging.getLogger("rtio.workers")

#: seconds after the startup by which rtio's front must have started (else a warning)
_FRONT_CHECK = 10.0

_REFUSED_BODY = b"bad X-Rtio-Forwarded token\n"
_REFUSED = (b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (len(_REFUSED_BODY), _REFUSED_BODY))  # fmt: skip


class ForwardingState(enum.Enum):
    NEW = "new"
    SERVING = "serving"
    CLOSED = "closed"


def parse_address(address: str) -> tuple[str, int]:
    """``"10.0.0.7:8000"`` / ``"[fd00::7]:8000"`` -> (host, port); ValueError otherwise."""
    host, colon, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"a forward address is host:port (how the other machines reach "
                         f"this one, e.g. '10.0.0.7:8000'), not {address!r}")  # fmt: skip
    return host, int(port)


def redis_of(cluster: Any) -> tuple[LinkOptions, str]:
    """Where the Redis of one of rtio's Redis clusters is, and its key prefix: the classic
    and sharded clusters (``RedisAdapter.factory``, ``ShardedRedisAdapter.factory``) and
    the streams one (``RedisStreamsCluster``). TypeError for anything else."""
    link = getattr(cluster, "link", None)
    options = link if isinstance(link, LinkOptions) else getattr(link, "options", None)
    settings = getattr(cluster, "options", None)
    key = getattr(settings, "key", None) or getattr(settings, "channel_prefix", None)
    if not isinstance(options, LinkOptions) or not isinstance(key, str):
        raise TypeError(f"Forwarding needs one of rtio's Redis clusters "
                        f"(RedisAdapter.factory(...)...), not {cluster!r}")  # fmt: skip
    return options, key


class Forwarding:
    """This server's part in forwarding (see the module).

    :param cluster: the app's Redis cluster (``RedisAdapter.factory(...)``, the sharded
        or the streams one): its Redis and its key prefix.
    :param address: ``host:port`` the other machines reach this one at (every process of
        a machine gives the same).
    :param secret: shared by every server (16 bytes at least), keys the hop tokens.
    :param max_per_peer: forwarded connections open at once to one address.
    :param max_lookups: connections waiting at once for Redis to tell an address.
    :param connect_timeout: to open the connection to the owner; ``idle_timeout``: a
        forwarded connection with no byte either way for this long is closed.
    :param ttl: seconds a node id lives in Redis without refresh; ``refresh``: how often
        it is refreshed.
    """

    def __init__(
        self,
        cluster: Any,
        *,
        address: str,
        secret: str | bytes,
        max_per_peer: int = 1024,
        max_lookups: int = 1024,
        connect_timeout: float = 5.0,
        idle_timeout: float = 120.0,
        ttl: int = 30,
        refresh: float = 10.0,
        claim_timeout: float = 30.0,
    ) -> None:
        parse_address(address)
        redis_of(cluster)
        if max_per_peer < 1 or max_lookups < 1:
            raise ValueError("max_per_peer and max_lookups must be at least 1")
        if not connect_timeout > 0 or not idle_timeout > 0:
            raise ValueError("connect_timeout and idle_timeout must be positive")
        if not 0 < refresh < ttl:
            raise ValueError("refresh must be shorter than ttl")
        self.cluster = cluster
        self.address = address
        self._secret = secret_bytes(secret)
        self.max_per_peer = max_per_peer
        self.max_lookups = max_lookups
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.ttl = ttl
        self.refresh = refresh
        self.claim_timeout = claim_timeout
        self.state = ForwardingState.NEW
        self.claim: NodeClaim | None = None
        self._front: Front | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._splices: dict[Splice, str] = {}
        #: open forwarded connections by address
        self.open: dict[str, int] = {}
        self._lookups = 0
        self._refed: set[asyncio.Transport] = set()
        #: counters: connections forwarded, requests received forwarded, refused (bad
        #: token), answered here because a forward could not be made
        self.forwarded = 0
        self.received = 0
        self.refused = 0
        self.failed = 0
        self._failing = False

    @property
    def node_id(self) -> str:
        return "" if self.claim is None else self.claim.node_id

    # -- lifecycle --------------------------------------------------------------------------

    def attach(self, app: web.Application) -> None:
        """Claim a node id at the app's startup, give it back at its cleanup; ask rtio's
        front for the Redirect hook."""
        app.setdefault(FRONT_HOOKS_KEY, []).append(self)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)

    async def _on_startup(self, _app: web.Application) -> None:
        await self.start()

    async def _on_cleanup(self, _app: web.Application) -> None:
        await self.close()

    async def start(self) -> str:
        """Claim a node id (ClaimError when none can be) and mark this process's ids."""
        if self.claim is not None:
            return self.claim.node_id
        options, key = redis_of(self.cluster)
        redis = redis_client(options, f"rtio-forward-{self.cluster.name}")
        self.claim = NodeClaim(redis, key=key, address=self.address, ttl=self.ttl,
                               refresh=self.refresh)  # fmt: skip
        node_id = await self.claim.claim(self.claim_timeout)
        self._use_id(node_id)
        self._refresher = asyncio.get_running_loop().create_task(
            self.claim.run(self._use_id), name="rtio-forward-claim")
        self.state = ForwardingState.SERVING
        asyncio.get_running_loop().call_later(_FRONT_CHECK, self._check_front)
        log.info("node %s (%s) forwards requests of other machines' sessions", node_id,
                 self.address)  # fmt: skip
        return node_id

    def _use_id(self, node_id: str) -> None:
        worker = new_id.prefix[:1] or prefix_of(0)
        new_id.clear()
        new_id.set_prefix(worker + node_id)

    def _check_front(self) -> None:
        if self._front is None and self.state is ForwardingState.SERVING:
            log.warning("node %s: forwarding needs rtio's HTTP front (rtio serve, rtio.run_app, "
                        "sio.run); this app is served by another (aiohttp's run_app, gunicorn, "
                        "ASGI?): requests of other machines' sessions are not forwarded",
                        self.node_id)  # fmt: skip

    def started(self, site: FrontSite) -> None:
        """rtio's front listens (FrontHook): connections answered here after all are
        given to it."""
        self._front = site.front

    async def close(self) -> None:
        """Stop forwarding, close the forwarded connections, give the node id back."""
        if self.state is ForwardingState.CLOSED:
            return
        self.state = ForwardingState.CLOSED
        if self._refresher is not None:
            self._refresher.cancel()
        for task in tuple(self._tasks):
            task.cancel()
        for splice in tuple(self._splices):
            splice.close()
        if self.claim is not None:
            log.info("node %s: %d connections forwarded, %d received forwarded, %d refused "
                     "(bad token), %d answered here (forward failed)", self.claim.node_id,
                     self.forwarded, self.received, self.refused, self.failed)  # fmt: skip
            await self.claim.close()

    # -- the front's hook -------------------------------------------------------------------

    def redirect(self, head: RequestHead, transport: asyncio.Transport, data: bytes) -> bool:
        """The front's Redirect hook: True when this took the connection (forwarded or
        refused)."""
        if self._refed and transport in self._refed:
            self._refed.discard(transport)
            return False
        claim = self.claim
        if self.state is not ForwardingState.SERVING or claim is None:
            return False
        sid = sid_of(head.target)
        hop = head.headers.get(HOP_HEADER)
        if hop is not None:
            check = check_token(self._secret, sid, hop, time.time())
            if check is TokenCheck.VALID:
                self.received += 1
                return False
            self.refused += 1
            transport.write(_REFUSED)
            transport.close()
            return True
        node = None if sid is None else node_of(sid)
        if sid is None or node is None or node == claim.node_id:
            return False
        known, address = claim.cached(node)
        if known:
            if address is None or address == self.address:
                return False
            if self.open.get(address, 0) >= self.max_per_peer:
                self._fail(address, f"{self.max_per_peer} forwarded connections are open")
                return False
        elif self._lookups >= self.max_lookups:
            self._fail(node, f"{self.max_lookups} connections wait for Redis")
            return False
        else:
            self._lookups += 1  # (until _forward_to has the answer)
        splice = Splice(transport, idle_timeout=self.idle_timeout, on_close=self._closed)
        self._spawn(self._forward(splice, sid, node, address, data))
        return True

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forward(self, splice: Splice, sid: str, node: str, address: str | None,
                       data: bytes) -> None:  # fmt: skip
        try:
            await self._forward_to(splice, sid, node, address, data)
        except asyncio.CancelledError:  # shutting down
            splice.close()
            raise

    async def _forward_to(self, splice: Splice, sid: str, node: str, address: str | None,
                          data: bytes) -> None:  # fmt: skip
        claim = self.claim
        assert claim is not None
        if address is None:
            try:
                address = await claim.lookup(node)
            finally:
                self._lookups -= 1
            if splice.state is not SpliceState.CONNECTING:  # the client left meanwhile
                return
            if address is None or address == self.address:
                self._serve_here(splice, data)
                return
            if self.open.get(address, 0) >= self.max_per_peer:
                self._fail(address, f"{self.max_per_peer} forwarded connections are open")
                self._serve_here(splice, data)
                return
        try:
            host, port = parse_address(address)
        except ValueError:  # (what another process wrote in Redis)
            self._fail(address, "not host:port")
            self._serve_here(splice, data)
            return
        self._splices[splice] = address
        self.open[address] = self.open.get(address, 0) + 1
        end = data.find(b"\r\n\r\n")
        token = make_token(self._secret, sid, time.time())
        first = b"%s\r\n%s: %s%s" % (data[:end], HOP_HEADER.encode(), token.encode(), data[end:])
        try:
            await splice.connect(host, port, first, self.connect_timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            self._fail(address, str(exc) or type(exc).__name__)
            self._serve_here(splice, data)
            return
        self.forwarded += 1
        self._failing = False

    def _closed(self, splice: Splice) -> None:
        address = self._splices.pop(splice, None)
        if address is not None:
            left = self.open.get(address, 1) - 1
            if left > 0:
                self.open[address] = left
            else:
                self.open.pop(address, None)

    def _serve_here(self, splice: Splice, data: bytes) -> None:
        """Give the connection to a fresh front protocol with the bytes read (this hook
        lets it through: "Session ID unknown", or the hand-off to a worker here)."""
        transport = splice.abandon()
        front = self._front
        if transport is None:
            return
        if front is None or self.state is not ForwardingState.SERVING:
            transport.close()
            return
        protocol = front()
        self._refed.add(transport)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        transport.resume_reading()
        protocol.data_received(data)
        self._refed.discard(transport)

    def _fail(self, where: str, reason: str) -> None:
        self.failed += 1
        if not self._failing:
            self._failing = True
            log.warning("cannot forward a request to %s (%s): answered here, its client "
                        "will reconnect", where, reason)  # fmt: skip
