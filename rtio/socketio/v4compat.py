"""The Socket.IO v4 protocol (socket.io-client 2.x, over Engine.IO v3): what differs from
v5, as Node's socket.io 4 serves it with ``allowEIO3`` (sans-I/O).

The packet codec is the same (socket.io-parser 3.x writes and reads the v5 text and the
binary attachments alike); what differs is the connect flow, decided here and carried out
by client.py and namespace.py:

- the main namespace is joined on connection, without a CONNECT from the client (Node's
  ``client.connect("/")`` in ``onconnection``), with an empty ``auth``;
- a CONNECT to another namespace carries its query in the name, ``0/admin?token=abc,``:
  the name is the path, the query becomes ``auth`` (Node's ``_parseNamespace``);
- the CONNECT reply has no payload: ``0`` / ``0/admin,`` (the client makes its socket id
  itself: the engine id, ``/admin#`` + the engine id for another namespace, and the
  server's socket ids are the same, as in Node);
- a refusal is an ERROR packet (type 4) whose data is the error's ``data``, else its
  message: ``4"Not authorized"`` (v5: ``{"message", "data"}``).

Knows no socket, namespace or engine; errors: none (a name without a query is itself).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .packet import Packet, PacketType

__all__ = ["connect_error_packet", "connect_reply", "parse_connect_name", "socket_id"]


def parse_connect_name(nsp: str) -> tuple[str, dict[str, Any]]:
    """The namespace and the ``auth`` of a v4 CONNECT's name: ``/admin?token=abc`` ->
    ``("/admin", {"token": "abc"})`` (the last of repeated keys, as Node's
    ``Object.fromEntries(url.searchParams)``)."""
    if "?" not in nsp:
        return nsp, {}
    parts = urlsplit(nsp)
    return unquote(parts.path) or "/", dict(parse_qsl(parts.query, keep_blank_values=True))


def connect_reply(nsp: str) -> Packet:
    """The CONNECT reply to a v4 client: no sid payload (Node: ``{type: CONNECT}``)."""
    return Packet(PacketType.CONNECT, nsp)


def connect_error_packet(nsp: str, payload: dict[str, Any]) -> Packet:
    """The refusal of a v4 client's CONNECT: an ERROR packet with the error's ``data`` if
    it has one (JavaScript-truthy), else its message (Node: ``err.data || err.message``)."""
    data = payload.get("data")
    if data is None or data is False or data == 0 or data == "":
        data = payload.get("message", "")
    return Packet(PacketType.CONNECT_ERROR, nsp, data)


def socket_id(nsp: str, engine_sid: str) -> str:
    """A v4 client's socket id in ``nsp``: what socket.io-client 2.x calls it itself."""
    return engine_sid if nsp == "/" else f"{nsp}#{engine_sid}"
