"""HandshakeRequest: what the engine and the layer above see of the HTTP request that
opened a session (or of any Engine.IO request, for hooks). A plain snapshot, no aiohttp."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["HandshakeRequest"]


@dataclass(frozen=True, slots=True)
class HandshakeRequest:
    method: str
    url: str
    path: str
    #: header names are case-insensitive (a multidict proxy from the server)
    headers: Mapping[str, str]
    query: Mapping[str, str]
    remote: str | None
    cookies: Mapping[str, str] = field(default_factory=dict)
