"""The machine in a session id, and the hop token of a forwarded request (sans-I/O).

With forwarding on (rtio.workers.forward), every session id (and socket id) of a server
process reads ``[worker char][node id][17 random characters]``: still Node's 20 URL-safe
base64 characters. The worker character is rtio.workers' (``A`` = worker 0, also for a
server of one process); the node id is two characters (4,096 ids) that the process claimed
in Redis (claim.py) with the address its machine is reached at. Any server reading a
request's ``sid=`` therefore knows the process owning it, and by the claim that process's
machine, without asking anybody else.

A forwarded request carries ``X-Rtio-Forwarded: <time>.<mac>``: an HMAC-SHA256 of the sid
and the time, keyed by the secret the servers share. The receiving server checks it
(:func:`check_token`) and never forwards such a request again (one hop at most); a bad
token is refused, so nobody without the secret can make a server forward for them.

Errors: :func:`check_token` returns a :class:`TokenCheck`; nothing raises but
:func:`secret_bytes` (ValueError: a secret shorter than 16 bytes).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import random

from .ownership import ALPHABET

__all__ = ["HOP_HEADER", "NODE_ID_LENGTH", "TOKEN_WINDOW", "TokenCheck", "check_token",
           "make_token", "new_node_id", "node_of", "secret_bytes", "sid_of"]  # fmt: skip

#: the header a forwarded request carries
HOP_HEADER = "X-Rtio-Forwarded"
#: characters of a node id, after the worker character
NODE_ID_LENGTH = 2
#: seconds a hop token stays valid, either side of its time (clocks of the machines differ)
TOKEN_WINDOW = 60


class TokenCheck(enum.Enum):
    VALID = "valid"
    ABSENT = "absent"
    BAD = "bad"


def secret_bytes(secret: str | bytes) -> bytes:
    """The shared secret as bytes; at least 16 of them."""
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(raw) < 16:
        raise ValueError("the forwarding secret must be at least 16 bytes long "
                         "(e.g. secrets.token_urlsafe(32)), the same on every server")  # fmt: skip
    return raw


def new_node_id(rng: random.Random | None = None) -> str:
    """A random node id (two base64url characters)."""
    pick = (rng or random.SystemRandom()).choice
    return "".join(pick(ALPHABET) for _ in range(NODE_ID_LENGTH))


def sid_of(target: str) -> str | None:
    """The ``sid`` query field of a request target, or None."""
    start = target.find("sid=")
    while start > 0 and target[start - 1] not in "?&":  # "xsid=": not the sid field
        start = target.find("sid=", start + 4)
    if start < 0:
        return None
    end = target.find("&", start)
    return target[start + 4 : end if end >= 0 else len(target)]


def node_of(sid: str) -> str | None:
    """The node id inside a 20-character sid (None for any other shape)."""
    if len(sid) != 20:
        return None
    node = sid[1 : 1 + NODE_ID_LENGTH]
    return node if all(c in ALPHABET for c in node) else None


def _mac(secret: bytes, sid: str, when: int) -> str:
    return hmac.new(secret, f"{sid}|{when}".encode(), hashlib.sha256).hexdigest()[:32]


def make_token(secret: bytes, sid: str, now: float) -> str:
    """The hop header's value for a request of ``sid`` forwarded at ``now`` (Unix time)."""
    when = int(now)
    return f"{when}.{_mac(secret, sid, when)}"


def check_token(secret: bytes, sid: str | None, value: str | None, now: float) -> TokenCheck:
    """Whether a request's hop header (``value``) is absent, valid for ``sid``, or bad
    (malformed, another sid's, out of its time window, not made with ``secret``)."""
    if value is None:
        return TokenCheck.ABSENT
    when_text, dot, mac = value.strip().partition(".")
    if not dot or not when_text.isdigit() or sid is None or len(when_text) > 12:
        return TokenCheck.BAD
    when = int(when_text)
    if abs(now - when) > TOKEN_WINDOW:
        return TokenCheck.BAD
    if not hmac.compare_digest(mac, _mac(secret, sid, when)):
        return TokenCheck.BAD
    return TokenCheck.VALID
