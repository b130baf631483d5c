"""rtio.cluster.redis: rtio's Redis cluster (asyncio, on redis-py >= 8.0.1).

- :mod:`.adapter`: :class:`RedisAdapter` / :class:`RedisCluster`, the classic adapter
  (``rtio.Server(adapter=RedisAdapter.factory(url=...))``); the only module that knows
  rtio.socketio, imported here on first use;
- :mod:`.sharded`: :class:`ShardedRedisCluster` / :class:`ShardedRedisAdapter`, the same on
  the sharded wire of Redis >= 7 (Node's ``createShardedAdapter``);
- :mod:`.emitter`: :class:`Emitter`, for processes that are not servers;
- :mod:`.link`: the link of a node to Redis (connections, reconnects with backoff, the
  deaf-subscription canary, the outage buffer), and :mod:`.policy`, its sans-I/O decisions.

Needs ``pip install rtio[redis]``.
"""

from __future__ import annotations

from typing import Any

from .emitter import Emitter, EmitterOperator
from .link import Delivery, LinkOptions, PublishResult, RedisLink
from .policy import Backoff, BufferedPublish, Canary, LinkState, PublishBuffer
from .url import link_options_from_url

__all__ = [
    "Backoff",
    "BufferedPublish",
    "Canary",
    "ClusterSocket",
    "Coverage",
    "Delivery",
    "Emitter",
    "EmitterOperator",
    "FetchResult",
    "LinkOptions",
    "LinkState",
    "PublishBuffer",
    "PublishResult",
    "RedisAdapter",
    "RedisAdapterOptions",
    "RedisCluster",
    "RedisLink",
    "RoomsResult",
    "ServerReplies",
    "ShardedRedisAdapter",
    "ShardedRedisCluster",
    "link_options_from_url",
]

_ADAPTER_NAMES = frozenset(
    {"ClusterSocket", "Coverage", "FetchResult", "RedisAdapter", "RedisAdapterOptions",
     "RedisCluster", "RoomsResult", "ServerReplies"}
)  # fmt: skip
_SHARDED_NAMES = frozenset({"ShardedRedisAdapter", "ShardedRedisCluster"})


def __getattr__(name: str) -> Any:
    """The adapter's names, imported on first use (they bring rtio.socketio)."""
    if name in _ADAPTER_NAMES:
        from . import adapter

        return getattr(adapter, name)
    if name in _SHARDED_NAMES:
        from . import sharded

        return getattr(sharded, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
