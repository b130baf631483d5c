"""rtio.socketio's values to and from the cluster's wire values.

Owns: broadcast options to the wire (:func:`wire_options`, as Node writes them) and back
to a local delivery (:func:`local_options`, always ``local``: a message from the cluster is
never sent on), and a socket to the wire's :class:`~rtio.cluster.wire.RemoteSocket` shape
(:func:`handshake_wire`, :func:`remote_socket`). Pure functions: no I/O, no state.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rtio.socketio import BroadcastOptions

from .wire import RemoteSocket, WireFlags, WireOptions, encode

if TYPE_CHECKING:
    from rtio.socketio import Socket

__all__ = ["handshake_wire", "local_options", "sendable", "wire_options"]

log = logging.getLogger("rtio.cluster")


def wire_options(opts: BroadcastOptions, *, flags: bool = True) -> WireOptions:
    """``opts`` as Node's ``{rooms, except, flags}`` (rooms sorted; ``flags=False``: the
    membership requests, which carry none)."""
    rooms = tuple(sorted(opts.rooms))
    except_rooms = tuple(sorted(opts.except_rooms))
    if not flags:
        return WireOptions(rooms, except_rooms, None)
    wire_flags = WireFlags(
        volatile=True if opts.volatile else None,
        compress=None if opts.compress else False,
        timeout=None if opts.timeout is None else round(opts.timeout * 1000),
    )
    return WireOptions(rooms, except_rooms, wire_flags)


def local_options(opts: WireOptions) -> BroadcastOptions:
    """Another node's options, for this node's sockets only."""
    rooms, except_rooms = opts.room_names()
    flags = opts.flags or WireFlags()
    return BroadcastOptions(
        rooms=rooms,
        except_rooms=except_rooms,
        volatile=bool(flags.volatile),
        compress=flags.compress is not False,
        local=True,
    )


def handshake_wire(socket: Socket) -> dict[str, Any]:
    """Node's ``socket.handshake`` shape (``issued`` in ms, header names in lower case)."""
    hs = socket.handshake
    return {
        "headers": {k.lower(): v for k, v in hs.headers.items()},
        "time": hs.time,
        "address": hs.address,
        "xdomain": hs.xdomain,
        "secure": hs.secure,
        "issued": round(hs.issued * 1000),
        "url": hs.url,
        "query": dict(hs.query),
        "auth": hs.auth,
    }


def sendable(remote: RemoteSocket, nsp: str) -> RemoteSocket:
    """``remote`` if its ``data`` can be encoded, else the same without it (logged)."""
    try:
        encode(remote.data)
    except (TypeError, ValueError):
        log.warning("redis adapter %s: socket %s's data cannot be sent to the cluster",
                    nsp, remote.id)  # fmt: skip
        return RemoteSocket(remote.id, remote.handshake, remote.rooms, None)
    return remote
