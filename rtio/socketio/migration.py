"""python-socketio's AsyncServer names that rtio does not offer, and the rtio way: the
AttributeError of ``rtio.Server.__getattr__`` says it, docs/MIGRATION.md explains why."""

from __future__ import annotations

__all__ = ["PYTHON_SOCKETIO", "missing_attribute"]

#: python-socketio AsyncServer names rtio does not offer, and the rtio way (the
#: AttributeError says it; docs/MIGRATION.md explains why)
PYTHON_SOCKETIO = {
    "call": "await socket.emit_with_ack(event, *args, timeout=s) (a handler gets the "
    "socket; sio.sockets[sid] is the socket of an id)",
    "sleep": "await asyncio.sleep(seconds) (rtio is asyncio only)",
    "enter_room": "socket.join(room) (or sio.in_(sid).sockets_join(room))",
    "leave_room": "socket.leave(room) (or sio.in_(sid).sockets_leave(room))",
    "close_room": "sio.in_(room).sockets_leave(room)",
    "rooms": "socket.rooms, or sio.main.rooms() for every room",
    "get_session": "socket.data (a dict kept for the socket's lifetime)",
    "save_session": "socket.data (a dict kept for the socket's lifetime)",
    "session": "socket.data (a dict kept for the socket's lifetime)",
    "get_environ": "socket.handshake (headers, query, address, auth, url...)",
    "disconnect": "socket.disconnect(), or sio.in_(sid).disconnect_sockets()",
    "transport": "socket.transport",
    "handle_request": "sio.attach(app) or sio.make_app()",
    "wait": "sio.run() serves until SIGINT/SIGTERM",
}


def missing_attribute(name: str) -> AttributeError:
    """The error for ``rtio.Server.<name>``: the rtio way when python-socketio has it."""
    hint = PYTHON_SOCKETIO.get(name)
    if hint is None:
        return AttributeError(f"'rtio.Server' object has no attribute {name!r}")
    return AttributeError(
        f"rtio.Server has no {name!r} (python-socketio's): {hint}; see docs/MIGRATION.md"
    )
