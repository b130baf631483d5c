"""The tutorial's app (docs/TUTORIAL.md): a team chat with sign-in, rooms, acks and polls.

Run it with ``rtio serve app:sio`` from this directory; its tests are ``test_app.py``
(``pytest docs/tutorial``). The ``--8<--`` comments mark the parts the tutorial shows.
"""

from __future__ import annotations

import itertools
from typing import Any

import rtio

# --8<-- [start:server]
sio = rtio.Server(
    cors_allowed_origins=["http://localhost:5173"],  # the web app's origin, if not this one
    max_payload=100_000,  # a chat message is small: refuse anything bigger
)
# --8<-- [end:server]

# --8<-- [start:auth]
# Who holds which token. A real app asks its session store or checks a signed token here.
TOKENS = {"t-ada": "ada", "t-bob": "bob", "t-cy": "cy"}


@sio.use
async def authenticate(socket: rtio.Socket, auth: dict[str, Any]) -> None:
    """Runs before the connection is accepted; raising refuses it."""
    user = TOKENS.get(auth.get("token", ""))
    if user is None:
        # the client gets a connect_error with this message (and data), never a connection
        raise rtio.ConnectionRefused("unknown token", data={"retry": False})
    socket.data["user"] = user  # per-connection state, seen by every handler
# --8<-- [end:auth]


# --8<-- [start:rooms]
ROOMS = ("general", "random", "ops")


async def members(room: str) -> list[str]:
    """Who is in ``room`` (on every server of a cluster: fetch_sockets asks them all)."""
    return sorted(s.data["user"] for s in await sio.in_(room).fetch_sockets())


@sio.on("join")
async def join(socket: rtio.Socket, room: str) -> dict[str, Any]:
    """``join(room)``: the return value is the client's ack."""
    if room not in ROOMS:
        return {"ok": False, "error": f"no room {room!r}; there are {', '.join(ROOMS)}"}
    await socket.join(room)
    await socket.to(room).emit("joined", room, socket.data["user"])  # the others
    return {"ok": True, "members": await members(room)}


@sio.on("leave")
async def leave(socket: rtio.Socket, room: str) -> None:
    if room in socket.rooms:
        await socket.leave(room)
        await sio.to(room).emit("left", room, socket.data["user"])


@sio.on("disconnecting")  # still in its rooms here ("disconnect" comes after they are left)
async def disconnecting(socket: rtio.Socket, reason: str) -> None:
    for room in socket.rooms - {socket.id}:
        await socket.to(room).emit("left", room, socket.data["user"])
# --8<-- [end:rooms]


# --8<-- [start:say]
message_ids = itertools.count(1)


@sio.on("say")
async def say(socket: rtio.Socket, room: str, text: str) -> dict[str, Any]:
    """``say(room, text)``: sent to the room's others; the ack is the delivery receipt."""
    if room not in socket.rooms:
        return {"ok": False, "error": "join the room first"}
    if not isinstance(text, str) or not 0 < len(text) <= 500:
        return {"ok": False, "error": "a message is 1 to 500 characters"}
    message = {"id": next(message_ids), "room": room, "from": socket.data["user"], "text": text}
    await socket.to(room).emit("said", message)
    return {"ok": True, "id": message["id"]}
# --8<-- [end:say]


# --8<-- [start:poll]
@sio.on("poll")
async def poll(socket: rtio.Socket, room: str, question: str) -> dict[str, Any]:
    """Asks everyone else in ``room``; answers the asker with the votes after 5 s at most."""
    if room not in socket.rooms:
        return {"ok": False, "error": "join the room first"}
    results = await socket.to(room).timeout(5).emit_with_ack("vote", question)
    votes: dict[str, int] = {}
    for answer in results.values():  # socket id -> that client's answer
        if isinstance(answer, str):
            votes[answer] = votes.get(answer, 0) + 1
    return {"ok": True, "votes": votes, "silent": len(results.timed_out)}
# --8<-- [end:poll]
