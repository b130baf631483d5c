"""rtio.cluster.redis: the link of a node to Redis (asyncio, on redis-py >= 8.0.1).

Owns the connections, their lifecycle, reconnects, the deaf-subscription canary and the
outage buffer (:mod:`.link`), and the sans-I/O decisions behind them (:mod:`.policy`).
Does not know the messages' meaning or channel names: rtio.cluster's codecs do, and the
adapter that owns a link chooses its channels. Needs ``pip install rtio[redis]``.
"""

from __future__ import annotations

from .link import Delivery, LinkOptions, PublishResult, RedisLink
from .policy import Backoff, BufferedPublish, Canary, LinkState, PublishBuffer

__all__ = [
    "Backoff",
    "BufferedPublish",
    "Canary",
    "Delivery",
    "LinkOptions",
    "LinkState",
    "PublishBuffer",
    "PublishResult",
    "RedisLink",
]
