"""rtio.cluster's exceptions.

    ClusterError
    ├── MessageError        a message from the cluster that is not valid (remote violation):
    │                       the receiver logs and drops it, as Node's adapters do
    ├── LinkClosed          the Redis link was closed by its owner (local misuse to use it)
    └── LinkDown            Redis cannot be reached now (a query such as NUMSUB failed)

Owns nothing else; knows nothing of Redis or Socket.IO.
"""

from __future__ import annotations

__all__ = ["ClusterError", "LinkClosed", "LinkDown", "MessageError"]


class ClusterError(Exception):
    """The root of rtio.cluster's exceptions."""


class MessageError(ClusterError, ValueError):
    """A cluster message that cannot be decoded or does not have the expected shape."""


class LinkClosed(ClusterError):
    """The link was closed (``close()``) and cannot publish or subscribe any more."""


class LinkDown(ClusterError):
    """Redis cannot be reached now; the link keeps reconnecting."""
