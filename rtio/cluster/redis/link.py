"""The asyncio link of one node to Redis: publish, and deliver what its subscriptions hear.

Owns: two connections (one to publish and query, one subscribed), their lifecycle
(:class:`~rtio.cluster.redis.policy.LinkState`), reconnecting with exponential backoff and
jitter (the first connect too), resubscribing everything after a reconnect, a canary that
detects a subscription gone deaf, and the bounded buffer of what is published while Redis is
down, replayed in order on reconnect. Each state change is logged once.

Does not know: what the messages mean (the owner decodes them with rtio.cluster's codecs),
channel naming, or rtio.socketio. The decisions (backoff, buffer, canary) are the sans-I/O
rtio.cluster.redis.policy; this module only drives redis-py's asyncio client.

redis-py >= 8.0.1 is set up explicitly (see the traps in the project's cluster notes):
RESP2 (``protocol=2``), socket and connect timeouts, no retries of its own (this link
retries, and resubscribes, itself), no health-check pings on the subscribed connection (the
canary does that job end to end). Every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..errors import LinkClosed, LinkDown
from .policy import Backoff, BufferedPublish, Canary, LinkState, PublishBuffer

__all__ = ["Delivery", "LinkOptions", "PublishResult", "RedisLink"]

log = logging.getLogger("rtio.cluster.redis")

#: a canary's payload starts with this; nobody else subscribes to the canary channel
CANARY_MAGIC = b"\x00rtio-canary "

_ERRORS = (RedisError, OSError, asyncio.TimeoutError)
#: the command that takes back a subscription, and the way back
_UNDO = {"subscribe": "unsubscribe", "psubscribe": "punsubscribe", "ssubscribe": "sunsubscribe"}
_DO = {undo: do for do, undo in _UNDO.items()}


class _Deaf(Exception):
    """The canary did not come back: the subscription hears nothing any more."""


@dataclass(frozen=True, slots=True)
class LinkOptions:
    """Where Redis is, and the link's limits. Times in seconds."""

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None
    #: opening a connection
    connect_timeout: float = 5.0
    #: one command (PUBLISH, SUBSCRIBE, PUBSUB NUMSUB, PING)
    command_timeout: float = 5.0
    #: the longest one read of the subscription waits before the loop looks around
    poll_interval: float = 0.5
    #: after a message, up to this many more that are already read are delivered in the
    #: same loop iteration: a burst's writes to each client are then coalesced (one write
    #: per client instead of one per message)
    drain_batch: int = 256
    backoff: Backoff = field(default_factory=Backoff)
    #: bytes (channel + payload) kept while Redis is down; beyond, the oldest are dropped
    buffer_limit: int = 4 * 1024 * 1024
    #: a canary every ``canary_interval`` s, which must be back within ``canary_timeout`` s
    canary_interval: float = 5.0
    canary_timeout: float = 3.0
    #: the canary's channel (one of the node's own); None: ``rtio-canary#<name>#<random>#``
    canary_channel: str | None = None
    #: closing the connections
    close_timeout: float = 2.0


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message heard: ``kind`` is "message", "pmessage" (``pattern`` set) or "smessage"."""

    kind: str
    channel: str
    payload: bytes
    pattern: str | None = None


class PublishResult(str, enum.Enum):
    """What became of a publish. Compares equal to its string."""

    SENT = "sent"
    BUFFERED = "buffered"
    DROPPED = "dropped"


class RedisLink:
    """A node's link to Redis. ``on_message`` is called in the link's task for each message.

    ::

        link = RedisLink(LinkOptions(port=6379), on_message, name="sio-a1b2c3")
        await link.subscribe("socket.io-request#/#")
        await link.psubscribe("socket.io#/#*")
        link.start()
        await link.wait_connected(5)      # optional: publishes are buffered until then
        await link.publish(channel, payload)
        await link.close()
    """

    def __init__(
        self,
        options: LinkOptions,
        on_message: Callable[[Delivery], None],
        *,
        name: str = "rtio",
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.options = options
        self.name = name
        self._on_message = on_message
        self._clock = clock
        self._rand = rand
        self.state = LinkState.DISCONNECTED
        self._closing = False
        self._channels: set[str] = set()
        self._patterns: set[str] = set()
        self._shard_channels: set[str] = set()
        self.canary_channel = options.canary_channel or f"rtio-canary#{name}#{os.urandom(6).hex()}#"
        self._canary = Canary(options.canary_interval, options.canary_timeout)
        self._buffer = PublishBuffer(options.buffer_limit)
        self._buffer_full_logged = False
        self._client: Redis | None = None
        self._sub_client: Redis | None = None
        #: the pubsub connection has every subscription (set by _subscribe_all)
        self._subscriptions_live = False
        self._pubsub: PubSub | None = None
        self._connected = asyncio.Event()
        self._broken: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._down_since: float | None = None
        self._attempts = 0
        #: counters for tests and metrics
        self.reconnects = 0
        self._ever_connected = False
        self.deaf_detected = 0
        self.replayed = 0

    # -- subscriptions -----------------------------------------------------------------

    async def subscribe(self, *channels: str) -> None:
        self._channels.update(channels)
        await self._apply("subscribe", channels)

    async def unsubscribe(self, *channels: str) -> None:
        self._channels.difference_update(channels)
        await self._apply("unsubscribe", channels)

    async def psubscribe(self, *patterns: str) -> None:
        self._patterns.update(patterns)
        await self._apply("psubscribe", patterns)

    async def punsubscribe(self, *patterns: str) -> None:
        self._patterns.difference_update(patterns)
        await self._apply("punsubscribe", patterns)

    async def ssubscribe(self, *channels: str) -> None:
        self._shard_channels.update(channels)
        await self._apply("ssubscribe", channels)

    async def sunsubscribe(self, *channels: str) -> None:
        self._shard_channels.difference_update(channels)
        await self._apply("sunsubscribe", channels)

    async def _apply(self, command: str, names: Iterable[str]) -> None:
        """Send a (un)subscription now if connected; else the next connect sends it."""
        if self._closing:
            raise LinkClosed("the link is closed")
        names = tuple(names)
        pubsub = self._pubsub
        if not names or pubsub is None or not self._subscriptions_live:
            return
        try:
            await asyncio.wait_for(getattr(pubsub, command)(*names), self.options.command_timeout)
        except _ERRORS as exc:
            self._break(exc)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background, retrying with backoff until ``close()``."""
        if self._closing:
            raise LinkClosed("the link is closed")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def wait_connected(self, timeout: float) -> bool:
        """Whether the link is (or gets) connected within ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, self.options.close_timeout + 1)
        await self._teardown()
        self._set_state(LinkState.CLOSED, "closed")
        log.info("redis link %s closed", self.name)
        if len(self._buffer):
            log.warning(
                "redis link %s closed with %d unpublished messages (%d bytes) dropped",
                self.name, len(self._buffer), self._buffer.size,
            )  # fmt: skip

    @property
    def buffered(self) -> tuple[int, int]:
        """(messages, bytes) waiting for Redis."""
        return len(self._buffer), self._buffer.size

    @property
    def lag(self) -> float | None:
        """Seconds the last canary took from PUBLISH back to this subscription: how far
        behind the cluster's messages arrive (None before the first came back)."""
        return self._canary.round_trip

    # -- publishing and queries ----------------------------------------------------------

    async def publish(self, channel: str, payload: bytes) -> PublishResult:
        """PUBLISH, or keep it for the reconnect while Redis is down (bounded)."""
        return await self._publish(BufferedPublish(channel, payload, False))

    async def spublish(self, channel: str, payload: bytes) -> PublishResult:
        """SPUBLISH (sharded pub/sub, Redis >= 7), buffered the same way."""
        return await self._publish(BufferedPublish(channel, payload, True))

    async def publish_many(
        self, items: list[tuple[str, bytes]], *, sharded: bool = False
    ) -> PublishResult:
        """PUBLISH (or SPUBLISH) several messages in one pipeline (one round trip), in order;
        buffered like :meth:`publish` while Redis is down. What a failed pipeline held is
        buffered whole (some may then be published twice, as a failed single publish may)."""
        if len(items) == 1:
            return await self._publish(BufferedPublish(*items[0], sharded))
        if self._closing:
            raise LinkClosed("the link is closed")
        batch = [BufferedPublish(channel, payload, sharded) for channel, payload in items]
        client = self._client
        if self.state is LinkState.CONNECTED and client is not None and not len(self._buffer):
            command = "SPUBLISH" if sharded else "PUBLISH"
            pipe = client.pipeline(transaction=False)
            for item in batch:
                pipe.execute_command(command, item.channel, item.payload)
            try:
                await asyncio.wait_for(pipe.execute(), self.options.command_timeout)
                return PublishResult.SENT
            except _ERRORS as exc:
                self._break(exc)
        results = [self._keep(item) for item in batch]
        return PublishResult.BUFFERED if PublishResult.BUFFERED in results else results[-1]

    async def _publish(self, item: BufferedPublish) -> PublishResult:
        if self._closing:
            raise LinkClosed("the link is closed")
        client = self._client
        if self.state is LinkState.CONNECTED and client is not None and not len(self._buffer):
            try:
                await self._send(client, item)
                return PublishResult.SENT
            except _ERRORS as exc:
                self._break(exc)
        return self._keep(item)

    async def _send(self, client: Redis, item: BufferedPublish) -> None:
        command = "SPUBLISH" if item.sharded else "PUBLISH"
        await asyncio.wait_for(
            client.execute_command(command, item.channel, item.payload),  # type: ignore[no-untyped-call]
            self.options.command_timeout,
        )

    def _keep(self, item: BufferedPublish) -> PublishResult:
        evicted_before = self._buffer.dropped_messages
        kept = self._buffer.append(item)
        if self._buffer.dropped_messages != evicted_before and not self._buffer_full_logged:
            self._buffer_full_logged = True
            log.warning(
                "redis link %s: publish buffer full (%d bytes): dropping the oldest messages "
                "until Redis is back",
                self.name, self.options.buffer_limit,
            )  # fmt: skip
        return PublishResult.BUFFERED if kept else PublishResult.DROPPED

    async def numsub(self, channel: str) -> int:
        """``PUBSUB NUMSUB channel`` (how many nodes subscribe). Raises :class:`LinkDown`."""
        return await self._count("NUMSUB", channel)

    async def shardnumsub(self, channel: str) -> int:
        """``PUBSUB SHARDNUMSUB channel``. Raises :class:`LinkDown`."""
        return await self._count("SHARDNUMSUB", channel)

    async def _count(self, which: str, channel: str) -> int:
        if self._closing:
            raise LinkClosed("the link is closed")
        client = self._client
        if self.state is not LinkState.CONNECTED or client is None:
            raise LinkDown(f"redis is not connected ({self.state.value})")
        try:
            reply: Any = await asyncio.wait_for(
                client.execute_command("PUBSUB", which, channel),  # type: ignore[no-untyped-call]
                self.options.command_timeout,
            )
        except _ERRORS as exc:
            self._break(exc)
            raise LinkDown(f"PUBSUB {which} failed: {exc!r}") from exc
        return int(reply[1])

    # -- the connection loop -------------------------------------------------------------

    def _set_state(self, state: LinkState, reason: str) -> None:
        previous, self.state = self.state, state
        if state is LinkState.CONNECTED:
            self._connected.set()
        else:
            self._connected.clear()
        if previous is not state:  # a trace; the news is one line each, at INFO / WARNING:
            # connected, lost (why), cannot reach (the first connect), reconnected, closed
            log.debug("redis link %s: %s -> %s (%s)", self.name, previous.value, state.value,
                      reason)  # fmt: skip

    def _break(self, exc: BaseException) -> None:
        """A command failed: the loop reconnects at its next look around."""
        if self._broken is None:
            self._broken = exc

    async def _run(self) -> None:
        opts = self.options
        while not self._closing:
            self._set_state(LinkState.CONNECTING, f"attempt {self._attempts + 1}")
            try:
                await self._connect()
                await self._serve()
            except asyncio.CancelledError:
                raise
            except (*_ERRORS, _Deaf) as exc:
                reason = str(exc) or type(exc).__name__
                if self.state is LinkState.CONNECTED:
                    log.warning("redis link %s lost: %s; reconnecting with backoff", self.name,
                                reason)  # fmt: skip
                    self._down_since = self._clock()
                elif self._attempts == 0:
                    log.warning("redis link %s cannot reach %s:%d: %s; retrying with backoff",
                                self.name, opts.host, opts.port, reason)  # fmt: skip
                    self._down_since = self._clock()
                self._set_state(LinkState.DISCONNECTED, reason)
            await self._teardown()
            if self._closing:
                break
            delay = opts.backoff.delay(self._attempts, self._rand)
            self._attempts += 1
            await asyncio.sleep(delay)

    def _redis(self) -> Redis:
        opts = self.options
        return Redis(
            host=opts.host,
            port=opts.port,
            db=opts.db,
            username=opts.username,
            password=opts.password,
            protocol=2,
            socket_timeout=opts.command_timeout,
            socket_connect_timeout=opts.connect_timeout,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            decode_responses=False,
            client_name="".join(c if c.isalnum() or c in "-_.#:" else "_" for c in self.name),
        )

    async def _connect(self) -> None:
        opts = self.options
        self._broken = None
        client = self._client = self._redis()
        await asyncio.wait_for(client.ping(), opts.connect_timeout + opts.command_timeout)
        sub_client = self._sub_client = self._redis()
        pubsub = self._pubsub = sub_client.pubsub(ignore_subscribe_messages=True)
        timeout = opts.connect_timeout + opts.command_timeout
        await self._subscribe_all(pubsub, timeout)
        # redis-py sends SUBSCRIBE without waiting for Redis to act on it: the link is
        # CONNECTED only once the first canary is back (_serve), as every subscription sent
        # before it is then in place and no publish of a peer can slip past it
        self._canary.reset(self._clock())

    async def _subscribe_all(self, pubsub: PubSub, timeout: float) -> None:
        """Subscribes a new connection to every channel, pattern and shard channel, those
        (un)subscribed while this runs included: until it returns, ``_apply`` leaves them
        to it (two commands racing to open the pubsub connection would open two)."""
        done: dict[str, set[str]] = {"subscribe": set(), "psubscribe": set(), "ssubscribe": set()}
        while True:
            want = {
                "subscribe": {self.canary_channel, *self._channels},
                "psubscribe": set(self._patterns),
                "ssubscribe": set(self._shard_channels),
            }
            steps = [(command, want[command] - done[command]) for command in done]
            steps += [(_UNDO[command], done[command] - want[command]) for command in done]
            steps = [(command, names) for command, names in steps if names]
            if not steps:
                self._subscriptions_live = True
                return
            for command, names in steps:
                await asyncio.wait_for(getattr(pubsub, command)(*sorted(names)), timeout)
                done[_DO.get(command, command)] ^= names

    async def _subscribed(self) -> None:
        """The first canary came back: connected, and the buffered publishes go out."""
        opts = self.options
        client = self._client
        assert client is not None
        self._set_state(LinkState.CONNECTED, "subscribed")
        again = self._ever_connected
        self._ever_connected = True
        if again:
            self.reconnects += 1
        down = None if self._down_since is None else self._clock() - self._down_since
        self._attempts = 0
        self._down_since = None
        self._buffer_full_logged = False
        replayed, size = await self._replay(client)
        dropped, dropped_size = self._buffer.take_drop_counts()
        replay = (
            f"; replayed {replayed} buffered messages ({size} bytes), dropped {dropped} "
            f"({dropped_size} bytes)"
            if replayed or dropped
            else ""
        )
        log.info(
            "redis link %s %s %s:%d%s%s",
            self.name, "reconnected to" if again else "connected to", opts.host, opts.port,
            "" if down is None else f" after {down:.1f} s down", replay,
        )  # fmt: skip

    async def _replay(self, client: Redis) -> tuple[int, int]:
        """Publish what was kept, in order; what fails stays for the next connect."""
        count = size = 0
        while (item := self._buffer.peek()) is not None:
            await self._send(client, item)
            self._buffer.pop()
            count += 1
            size += item.size
        self.replayed += count
        return count, size

    async def _serve(self) -> None:
        pubsub = self._pubsub
        client = self._client
        assert pubsub is not None and client is not None
        canary = self._canary
        opts = self.options
        while not self._closing:
            if self._broken is not None:
                raise self._broken if isinstance(self._broken, Exception) else _Deaf()
            now = self._clock()
            if canary.deaf(now):
                self.deaf_detected += 1
                raise _Deaf(f"the canary did not come back within {canary.timeout} s: deaf")
            if canary.due(now):
                token = os.urandom(8).hex().encode()
                await asyncio.wait_for(
                    client.execute_command(  # type: ignore[no-untyped-call]
                        "PUBLISH", self.canary_channel, CANARY_MAGIC + token
                    ),
                    opts.command_timeout,
                )
                canary.sent(token, now)
            wait = max(0.01, min(opts.poll_interval, canary.next_deadline(self._clock())))
            message = await asyncio.wait_for(
                pubsub.get_message(ignore_subscribe_messages=True, timeout=wait),
                wait + opts.command_timeout,
            )
            if message is None:
                continue
            heard = self._deliver(message)
            for _ in range(opts.drain_batch):  # what is already read: no wait_for
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.0)
                if message is None:
                    break
                heard = self._deliver(message) or heard
            if heard and self.state is not LinkState.CONNECTED:
                await self._subscribed()

    def _deliver(self, message: dict[str, Any]) -> bool:
        """Hands a message to the handler; True when it was the awaited canary."""
        kind = message["type"]
        if isinstance(kind, bytes):
            kind = kind.decode()
        if kind not in ("message", "pmessage", "smessage"):
            return False
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        payload = message["data"]
        if not isinstance(payload, bytes):
            payload = str(payload).encode()
        if channel == self.canary_channel:
            return payload.startswith(CANARY_MAGIC) and self._canary.received(
                payload[len(CANARY_MAGIC) :], self._clock()
            )
        pattern = message.get("pattern")
        if isinstance(pattern, bytes):
            pattern = pattern.decode()
        try:
            self._on_message(Delivery(kind, channel, payload, pattern))
        except Exception:
            log.exception("redis link %s: the message handler failed on %s", self.name, channel)
        return False

    async def _teardown(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        self._subscriptions_live = False
        sub_client, self._sub_client = self._sub_client, None
        client, self._client = self._client, None
        timeout = self.options.close_timeout
        for closer in (
            pubsub and pubsub.aclose,
            sub_client and sub_client.aclose,
            client and client.aclose,
        ):
            if closer:
                with contextlib.suppress(*_ERRORS, Exception):
                    await asyncio.wait_for(closer(), timeout)
