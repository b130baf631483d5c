"""What the engine calls (rtio.engine's EngineHandler): one Socket.IO :class:`Client` per
Engine.IO session, built when the session opens, fed its messages, told when it closes."""

from __future__ import annotations

from typing import Protocol

from rtio.engine import CloseReason, EngineSession, HandshakeRequest

from .client import Client, ClientHost
from .parsers.base import Parser

__all__ = ["EngineHandler"]


class ClientFactory(ClientHost, Protocol):
    """What the handler needs of its server (rtio.Server)."""

    @property
    def client_type(self) -> type[Client]: ...
    def choose_parser(self, request: HandshakeRequest) -> Parser: ...


class EngineHandler:
    """What the engine calls: one Client per session."""

    __slots__ = ("_server",)

    def __init__(self, server: ClientFactory) -> None:
        self._server = server

    def on_connect(self, session: EngineSession) -> None:
        server = self._server
        client = server.client_type(server, session, server.choose_parser(session.request))
        session.state = client
        client.start()  # (a v4-protocol client joins the main namespace now)

    def on_message(self, session: EngineSession, data: str | bytes) -> None:
        client = session.state
        if isinstance(client, Client):
            client.receive_message(data)

    def on_disconnect(self, session: EngineSession, reason: CloseReason, description: str) -> None:
        client = session.state
        if isinstance(client, Client):
            client.on_session_closed(reason)
            # no cycle (session <-> client): both are freed by reference counting
            session.state = None
