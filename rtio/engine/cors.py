"""CORS policy for the Engine.IO endpoints (sans-I/O): which origins may talk to us and the
headers that say so. Modelled on the ``cors`` npm module that Node's engine.io uses.

Origins are ``"*"`` (any), a list of exact origins, or a callable ``(origin) -> bool``.
The same policy decides whether the Origin of a WebSocket upgrade is accepted.
Knows nothing of HTTP servers: it maps header values to header dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["CorsOptions", "CorsPolicy"]

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
