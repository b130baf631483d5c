"""EngineObserver: what operations tooling (rtio.ops) is told of the engine's life, at one
hook point per kind of event: an upgrade done or aborted, a request refused.

``EngineServer.observer`` is None by default; each hook point is then one attribute read
and a ``None`` test, on paths that are not per packet. The observer is called
synchronously, on the loop; it must not raise and must not block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .engine_session import EngineSession
    from .errors import RequestRefused

__all__ = ["EngineObserver"]


class EngineObserver(Protocol):
    """The hooks (rtio.ops.monitor.Monitor implements them)."""

    def upgraded(self, session: EngineSession) -> None:
        """A polling session now runs on its WebSocket."""

    def upgrade_failed(self, session: EngineSession, why: str) -> None:
        """A probe WebSocket was dropped (``why``: upgrade timeout, probe closed, ...);
        the session stays on polling."""

    def request_refused(self, refusal: RequestRefused, handshake: bool) -> None:
        """A request was answered with ``refusal`` (``handshake``: it would have opened
        a session: no ``sid``)."""
