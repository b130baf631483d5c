"""Small helpers of the Redis glue: a ``redis://`` URL as :class:`~.link.LinkOptions`, and
the random names Node's adapter gives nodes and requests. Knows nothing of rtio.socketio."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit

from .link import LinkOptions

__all__ = ["link_options_from_url", "new_uid"]

_UID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def new_uid(size: int = 6) -> str:
    """``uid2(size)``: URL-safe random characters (Node's node and request ids)."""
    return "".join(_UID_CHARS[b & 63] for b in os.urandom(size))


def link_options_from_url(url: str, **overrides: Any) -> LinkOptions:
    """``redis://[user:password@]host[:port][/db]`` as :class:`LinkOptions`; keyword
    arguments override or add fields (timeouts, buffer limit...)."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", ""):
        raise ValueError(f"only redis:// URLs are supported, not {url!r}")
    db = parts.path.strip("/")
    values: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 6379,
        "db": int(db) if db else 0,
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
    }
    values.update(overrides)
    return LinkOptions(**values)
