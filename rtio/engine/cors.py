"""CORS policy for the Engine.IO endpoints (sans-I/O): which origins may talk to us and the
headers that say so. Modelled on the ``cors`` npm module that Node's engine.io uses.

Origins are ``"*"`` (any), a list of exact origins, or a callable ``(origin) -> bool``.
The same policy decides whether the Origin of a WebSocket upgrade is accepted. Without a
policy (``EngineOptions.cors`` None, rtio.Server's ``cors_allowed_origins=None``) only the
same origin is accepted (``same_origin``), on both transports, as python-socketio does: a
browser page elsewhere cannot open a session with the user's cookies (issue 12, defect 7).
A request without Origin (a non-browser client) is always accepted.
Knows nothing of HTTP servers: it maps header values to header dicts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["MAX_LOGGED_ORIGINS", "CorsOptions", "CorsPolicy", "OriginLog", "same_origin"]

logger = logging.getLogger("rtio.engine")

#: the default of the most refused origins remembered as already logged (then the memory
#: starts afresh): ``EngineOptions.max_logged_origins``
MAX_LOGGED_ORIGINS = 1024

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _host_port(authority: str, default_port: int) -> tuple[str, int] | None:
    try:
        parts = urlsplit("//" + authority.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.username is not None or parts.path or parts.query:
        return None
    return host, default_port if port is None else port


def same_origin(origin: str, headers: Mapping[str, str]) -> bool:
    """Whether ``origin`` (an Origin header) names the server the request was sent to: its
    host and port (the scheme's default when absent) are those of the Host header, or of
    X-Forwarded-Host (a proxy that rewrites Host; a browser page cannot set that header on
    a WebSocket, nor on a request without a preflight, which gets no CORS answer here).
    The scheme is not compared with the request's (unknown behind a TLS proxy)."""
    try:
        parts = urlsplit(origin.strip())
        scheme, host, port = parts.scheme, parts.hostname, parts.port
    except ValueError:
        return False
    default = _DEFAULT_PORTS.get(scheme)
    if default is None or not host:
        return False  # "null" (a sandboxed page, a file), or not a web origin
    ours = (host, default if port is None else port)
    for name in ("Host", "X-Forwarded-Host"):
        value = headers.get(name)
        if value and _host_port(value.split(",")[0], default) == ours:
            return True
    return False


class OriginLog:
    """Logs a refused origin once, at INFO, with the option that admits it. Remembers at
    most ``limit`` origins (a client chooses them; ``EngineOptions.max_logged_origins``):
    past that it starts afresh."""

    __slots__ = ("_limit", "_seen")

    def __init__(self, limit: int = MAX_LOGGED_ORIGINS) -> None:
        self._seen: set[str] = set()
        self._limit = limit

    def __len__(self) -> int:
        return len(self._seen)

    def refused(self, origin: str, why: str) -> None:
        seen = self._seen
        if origin in seen:
            return
        if len(seen) >= self._limit:
            seen.clear()
        seen.add(origin[:200])
        logger.info(
            "engine: refused a request from origin %r (%s); to admit it, list it in"
            " cors_allowed_origins (rtio.Server) or EngineOptions.cors",
            origin[:200],
            why,
        )


OriginsSpec = str | Sequence[str] | Callable[[str], bool]


@dataclass(frozen=True)
class CorsOptions:
    """``origins``: "*", a list of origins, or a callable. ``allowed_headers`` None reflects
    the preflight's Access-Control-Request-Headers (as the ``cors`` module does)."""

    origins: OriginsSpec = "*"
    credentials: bool = False
    methods: Sequence[str] = ("GET", "POST")
    allowed_headers: Sequence[str] | None = None
    exposed_headers: Sequence[str] = ()
    max_age: int | None = None


class CorsPolicy:
    def __init__(self, options: CorsOptions) -> None:
        self.options = options
        origins = options.origins
        self._any = origins == "*"
        self._callable: Callable[[str], bool] | None = None
        self._set: frozenset[str] = frozenset()
        if callable(origins):
            self._callable = origins
        elif isinstance(origins, str):
            if not self._any:
                self._set = frozenset([origins])
        else:
            self._set = frozenset(origins)
        # any origin without credentials: the same headers for every request
        self._static: dict[str, str] | None = None
        if self._any and not options.credentials:
            self._static = self._response_headers(None)

    def is_allowed(self, origin: str | None) -> bool:
        """Whether a request carrying this Origin header may proceed (no Origin: yes, it is
        not a browser cross-origin request)."""
        if origin is None or self._any:
            return True
        if self._callable is not None:
            return bool(self._callable(origin))
        return origin in self._set

    def _allow_origin(self, origin: str | None) -> dict[str, str]:
        opts = self.options
        headers: dict[str, str] = {}
        if self._any and not opts.credentials:
            headers["Access-Control-Allow-Origin"] = "*"
        elif origin is not None and self.is_allowed(origin):
            # "*" is not valid with credentials: reflect the origin instead.
            headers["Access-Control-Allow-Origin"] = origin
            headers["Vary"] = "Origin"
        else:
            return headers
        if opts.credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers

    def response_headers(self, origin: str | None) -> dict[str, str]:
        """Headers for an actual (non-preflight) response (a new dict: the caller adds to
        it)."""
        static = self._static
        if static is not None:
            return static.copy()
        return self._response_headers(origin)

    def _response_headers(self, origin: str | None) -> dict[str, str]:
        headers = self._allow_origin(origin)
        if headers and self.options.exposed_headers:
            headers["Access-Control-Expose-Headers"] = ",".join(self.options.exposed_headers)
        return headers

    def preflight_headers(self, origin: str | None, request_headers: str | None) -> dict[str, str]:
        """Headers for the 204 answer to an OPTIONS preflight."""
        headers = self._allow_origin(origin)
        if not headers:
            return headers
        opts = self.options
        headers["Access-Control-Allow-Methods"] = ",".join(opts.methods)
        if opts.allowed_headers is not None:
            allowed = ",".join(opts.allowed_headers)
        else:
            allowed = request_headers or ""
            if request_headers:
                headers["Vary"] = (
                    headers["Vary"] + ", " if "Vary" in headers else ""
                ) + "Access-Control-Request-Headers"
        if allowed:
            headers["Access-Control-Allow-Headers"] = allowed
        if opts.max_age is not None:
            headers["Access-Control-Max-Age"] = str(opts.max_age)
        return headers
