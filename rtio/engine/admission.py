"""Admission control of new sessions (sans-I/O): a reconnect storm is answered 503 with
``Retry-After`` instead of being let in all at once.

When a server restarts, or a load balancer drops its connections, every client reconnects
at once (socket.io #2998: the clients' backoff starts at 1 s with 50 % jitter, so tens of
thousands of handshakes land within a second or two). Each handshake costs a session, a
CONNECT, the app's connect handler and middlewares (often a database look-up): let in
together they starve the heartbeats of the sessions already open, which then time out and
reconnect too. ``HandshakeAdmission`` lets handshakes in at a sustained ``rate`` per second
with a ``burst`` allowance (a token bucket), holds those just over it for a short wait
(their turn), and tells the others when to come back; the npm client treats a 503 on the
handshake as a failed attempt and retries after its backoff.

States: the bucket's tokens (from ``-rate * max_wait``, the handshakes waiting, up to
``burst``) and the time they were counted. Errors: none; the glue (server.py) sleeps a
wait and turns a refusal into ``RequestRefused`` (503, ``Retry-After``). Off unless
``EngineOptions.max_handshake_rate`` is set (as Node: no limit by default).
"""

from __future__ import annotations

import logging
import math

__all__ = ["HandshakeAdmission"]

logger = logging.getLogger("rtio.engine")

#: the shortest interval between two "refusing handshakes" log lines, in seconds
LOG_INTERVAL = 10.0


class HandshakeAdmission:
    """A token bucket of handshakes: ``rate`` per second sustained, ``burst`` at once, and
    up to ``max_wait`` seconds' worth of handshakes waiting for their turn.

    ``admit(now)`` takes a token and returns the seconds this handshake waits for it (0.0:
    none), or None when even the wait would be longer than ``max_wait`` (a refusal, counted
    and logged). A waiting handshake has its token already: the bucket runs into debt, at
    most ``rate * max_wait`` tokens, so the waits line the handshakes up ``1 / rate`` apart.

    Why wait at all: the npm client's backoff has no jitter once it reaches its cap (5 s),
    so the clients a storm left out come back in lockstep, within a fraction of a second,
    every 5 s. A bucket that only refuses lets ``burst`` of them in per round and starves
    the rest (docs/OPERATIONS.md); a short wait serves them at the sustained rate instead.

    ``now`` is a monotonic clock in seconds (the loop's time): tests drive it by hand.
    """

    __slots__ = (
        "_last_log",
        "_refused_since_log",
        "_stamp",
        "_tokens",
        "burst",
        "max_wait",
        "rate",
    )

    def __init__(self, rate: float, burst: int | None = None, max_wait: float = 0.0) -> None:
        if rate <= 0:
            raise ValueError("max_handshake_rate must be positive")
        if max_wait < 0:
            raise ValueError("handshake_wait must not be negative")
        self.rate = rate
        self.burst = burst if burst is not None else max(1, math.ceil(rate))
        if self.burst < 1:
            raise ValueError("handshake_burst must be at least 1")
        self.max_wait = max_wait
        self._tokens = float(self.burst)
        self._stamp: float | None = None
        self._refused_since_log = 0
        self._last_log = -math.inf

    def admit(self, now: float) -> float | None:
        """The seconds this handshake waits for its turn (0.0: none), or None: refused."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        wait = (1.0 - self._tokens) / self.rate
        if wait <= self.max_wait:
            self._tokens -= 1.0
            return wait
        self._refused(now)
        return None

    def retry_after(self, now: float) -> str:
        """``Retry-After`` for a handshake refused at ``now``: the whole seconds (at least 1,
        HTTP has no fractions) until one would be let in. Browsers' socket.io-client ignores
        it and retries after its own backoff; other clients may honour it."""
        self._refill(now)
        wait = (1.0 - self._tokens) / self.rate - self.max_wait
        return str(max(1, math.ceil(wait - 1e-9)))

    def _refill(self, now: float) -> None:
        if self._stamp is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def _refused(self, now: float) -> None:
        self._refused_since_log += 1
        if now - self._last_log >= LOG_INTERVAL:
            logger.warning(
                "refusing new sessions (503, Retry-After): over max_handshake_rate=%g/s "
                "(burst %d); %d refused since the last such line",
                self.rate,
                self.burst,
                self._refused_since_log,
            )
            self._last_log = now
            self._refused_since_log = 0
