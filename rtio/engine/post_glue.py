"""PostGlue: the POST side of a polling session's asyncio glue, which EngineSession
inherits: read a POST's body within ``body_timeout`` (the session's close ends the read),
decode its payload (Engine.IO v4, or v3 for a session the core says is), and hand its
packets to the session.

Knows a session only through the members declared below (EngineSession has them); the
decisions are the session core's (session.py), the HTTP details polling.py's. Errors:
RequestRefused for a POST the session refuses (its close then done), as the server answers.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import rtio.engine.session as rules

from . import polling
from .errors import Close, ErrorCode, PacketDecodeError, RequestRefused, SessionViolation
from .http import BodyRead, HttpRequest, HttpResponse
from .options import EngineOptions
from .packet import RECORD_SEPARATOR, Packet, decode_payload
from .polling import POST_READ_ERRORS, decode_post_body, post_failure, post_response
from .session import Session, SessionState

__all__ = ["PostGlue"]

_CLOSED = SessionState.CLOSED  # (a module global: see session.py's figure)


class _Options(Protocol):
    @property
    def options(self) -> EngineOptions: ...


class PostGlue:
    """The POST handling of :class:`~.engine_session.EngineSession` (a base class of it,
    holding the pending POST's body read, ``_post``)."""

    __slots__ = ("_post",)

    # what the session has (EngineSession's slots and methods)
    sid: str
    _core: Session
    _host: _Options
    _loop: asyncio.AbstractEventLoop
    #: the body read of the pending POST (a session's close ends it)
    _post: BodyRead | None

    def close_now(self, close: Close) -> None:
        raise NotImplementedError

    def _dispatch(self, data: str | bytes) -> None:
        raise NotImplementedError

    def _receive(self, packet: Packet) -> None:
        raise NotImplementedError

    async def handle_post(self, request: HttpRequest, headers: dict[str, str]) -> HttpResponse:
        """Read a POST's payload and receive its packets."""
        core = self._core
        try:
            core.receive_post()
        except SessionViolation as exc:
            self.close_now(exc.close)
            raise
        options = self._host.options
        # a body that never comes must not hold the request (and its connection) for ever:
        # it has body_timeout to arrive, and the session's close ends it (issue 12, defect 3)
        reader = self._post = BodyRead(
            request.read_body(options.max_payload), self._loop, options.body_timeout
        )
        try:
            body = await reader
        except POST_READ_ERRORS as exc:
            response, close = post_failure(exc, headers, self.sid, options.body_timeout)
            if close is not None:
                self.close_now(close)
            return response
        except asyncio.CancelledError:
            self.close_now(rules.POST_LOST)
            raise
        finally:
            self._post = None
            core.post_done()
        if core.state is _CLOSED:
            raise RequestRefused(ErrorCode.UNKNOWN_SID)
        jsonp = "j" in request.query  # (jsonp_index is not None)
        try:
            if core.eio3:
                limit = options.max_payload_packets
                packets = polling.decode_v3_post(body, request.content_type, jsonp, limit)
            else:
                text = decode_post_body(body, request.content_type, jsonp)
                if text[:1] == "4" and RECORD_SEPARATOR not in text:
                    # the usual POST: one text message, dispatched without a Packet
                    self._dispatch(text[1:])
                    return post_response(headers)
                packets = decode_payload(text, max_packets=options.max_payload_packets)
            for packet in packets:
                if core.state is _CLOSED:
                    break
                self._receive(packet)
        except PacketDecodeError as exc:
            self.close_now(rules.parse_error(str(exc)))
            raise RequestRefused(ErrorCode.BAD_REQUEST) from exc
        return post_response(headers)
