"""The chat demo's server side, on rtio's public API only: the example to read and copy.

Names (one person per name: a name in use is refused), rooms with live member counts,
presence, typing indicators, delivery acks, the last messages of a room on joining, and
images sent as binary. Everything lives in memory; a
restart forgets it, and the browsers join their rooms again on their own.

With several workers (``rtio demo --workers 2``) every process serves some of the people, so
nothing about them is read from this process alone: who is connected, their names and
their rooms come from the adapter (``fetch_sockets()``: every worker's sockets, with their
``data`` and ``rooms``), and the rooms with their last messages, which each process keeps,
are kept alike in all of them by telling the others (``server_side_emit``: "room" when one
is joined, "posted" with each message). Two tabs taking one name at the same instant on
two workers can both get it (a shared lock would be needed); on one worker they cannot.

Connecting: ``auth`` is ``{name, token?}`` (token: the browser tab's random id, so that the
same tab reconnecting keeps its name); a refusal is a ``connect_error`` with the reason.

The events, as the browser app (clients/js-demo/src/main.js) speaks them:

    client -> server, answered through the ack (the return value of the handler)
      "join"    {room, rejoin?}                 -> {ok, room, members, history}
      "leave"   {room}                          -> {ok}
      "message" {room, text}                    -> {ok, id, ts}   (the delivery tick)
      "image"   {room, name, mime, data: bytes} -> {ok, id, ts}
      "typing"  {room, typing}                     (no answer)
      a refusal answers {ok: false, error}
    server -> client
      "rooms"    [{name, count}]                   every room, on every change
      "presence" {room, members: [{id, name}], joined?, left?}
      "message"  {id, room, from, senderId, ts, text | image: {name, mime, data}}
      "typing"   {room, id, name, typing}

``create_app()`` is the whole web app (``rtio demo`` serves it); ``create_server()`` is
the Socket.IO part alone, to mount elsewhere.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

import rtio

from . import find_bundle

__all__ = ["create_app", "create_server"]

log = logging.getLogger("rtio.demo")

LOBBY = "lobby"  # the room everyone starts in; never forgotten
ROOM_NAME = re.compile(r"[a-z0-9_-]{1,24}")
MAX_ROOMS = 100  # rooms remembered; a new one past that pushes out the oldest empty one
HISTORY = 50  # messages a room remembers for those who join it
HISTORY_IMAGE_BYTES = 4 * 1024 * 1024  # ... of which this many bytes of images at most
MAX_NAME = 24
MAX_TEXT = 2000
MAX_IMAGE_BYTES = 512 * 1024
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp")

Message = dict[str, Any]


def refuse(error: str) -> dict[str, Any]:
    """The answer to a request the server will not carry out."""
    return {"ok": False, "error": error}


def field(request: Any, key: str) -> Any:
    """``request[key]`` if the client sent an object with it, else None."""
    return request.get(key) if isinstance(request, dict) else None


def create_server(**options: Any) -> rtio.Server:
    """The chat's Socket.IO server (``options`` go to :class:`rtio.Server`)."""
    sio = rtio.Server(**options)
    # room -> its last messages; the keys are the rooms that exist, least recently joined
    # first (each worker keeps its own copy, the others tell it what changes: see below)
    rooms: dict[str, deque[Message]] = {LOBBY: deque(maxlen=HISTORY)}

    # The sockets below are this worker's rtio.Socket objects or, with several workers,
    # the others' (fetch_sockets()): both have .id, .rooms (a set) and .data.

    def chat_rooms(socket: Any) -> set[str]:
        """The rooms a socket is in (every socket is also in a room named by its id)."""
        return set(socket.rooms) - {socket.id}

    def room_of(socket: rtio.Socket, request: Any) -> str | None:
        """The room a request names, if the socket is in it."""
        room = field(request, "room")
        return room if isinstance(room, str) and room in chat_rooms(socket) else None

    async def members(room: str, leaving: rtio.Socket | None = None) -> list[dict[str, str]]:
        """Who is in ``room``, on every worker (but ``leaving``)."""
        gone = leaving.id if leaving is not None else None
        sockets = await sio.to(room).fetch_sockets()
        people = [{"id": s.id, "name": s.data["name"]} for s in sockets if s.id != gone]
        return sorted(people, key=lambda p: p["name"].lower())

    async def room_list(leaving: rtio.Socket | None = None) -> list[dict[str, Any]]:
        """Every room (the lobby first) and how many are in it. (Counting every socket's
        rooms is plenty for a demo; a server with thousands of users would keep counts.)"""
        gone = leaving.id if leaving is not None else None
        counts = dict.fromkeys(rooms, 0)
        for socket in await sio.fetch_sockets():
            if socket.id != gone:
                for room in chat_rooms(socket):
                    counts[room] = counts.get(room, 0) + 1
        names = sorted(counts, key=lambda r: (r != LOBBY, r))
        return [{"name": r, "count": counts[r]} for r in names]

    async def make_room(room: str) -> bool:
        """Create a room, forgetting the oldest empty one if there are too many."""
        if len(rooms) >= MAX_ROOMS:
            occupied = {r for s in await sio.fetch_sockets() for r in chat_rooms(s)}
            empty = [r for r in rooms if r != LOBBY and r not in occupied]
            if not empty:
                return False
            del rooms[empty[0]]
        rooms.setdefault(room, deque(maxlen=HISTORY))  # (made meanwhile: kept)
        return True

    async def use_room(room: str) -> bool:
        """Make ``room`` the most recently joined, creating it if needed (False: too many
        rooms, none of them empty)."""
        if room not in rooms and not await make_room(room):
            return False
        rooms[room] = rooms.pop(room)
        return True

    def remember(message: Message) -> None:
        """Keep a message in its room's history (images within HISTORY_IMAGE_BYTES)."""
        history = rooms[message["room"]]
        history.append(message)
        while sum(len(m["image"]["data"]) for m in history if "image" in m) > HISTORY_IMAGE_BYTES:
            history.popleft()

    # -- the other workers' changes to the rooms (none with one worker) ------------------

    async def room_used_elsewhere(room: str) -> None:
        await use_room(room)

    async def posted_elsewhere(message: Message) -> None:
        if message["room"] in rooms or await make_room(message["room"]):
            remember(message)

    sio.on_server_side("room", room_used_elsewhere)
    sio.on_server_side("posted", posted_elsewhere)

    async def post(socket: rtio.Socket, room: str, **content: Any) -> dict[str, Any]:
        """Keep a message in the room's history (here and in the other workers) and send
        it to the others there."""
        message = {
            "id": secrets.token_urlsafe(9),  # unique across restarts: clients dedupe by id
            "room": room,
            "from": socket.data["name"],
            "senderId": socket.id,
            "ts": int(time.time() * 1000),  # JavaScript time: milliseconds
            **content,
        }
        remember(message)
        sio.server_side_emit("posted", message)
        await socket.to(room).emit("message", message)  # the sender has it already
        return {"ok": True, "id": message["id"], "ts": message["ts"]}

    def name_taken(name: str, token: str | None, sockets: Iterable[Any]) -> bool:
        """Whether one of ``sockets``, of another tab, holds ``name`` (case aside)."""
        key = name.casefold()
        return any(
            s.data["name"].casefold() == key and (token is None or s.data["token"] != token)
            for s in sockets
        )

    async def announce_leaving(socket: rtio.Socket, room: str) -> None:
        people = await members(room, leaving=socket)
        await socket.to(room).emit(
            "presence", {"room": room, "members": people, "left": socket.data["name"]}
        )

    # -- connecting: a name is required, and one nobody connected holds ------------------

    @sio.use
    async def require_name(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        name = field(auth, "name")
        if not isinstance(name, str) or not name.strip():
            raise rtio.ConnectionRefused("Pick a name to come in.")
        name = name.strip()[:MAX_NAME]
        # The browser tab's own random token: the same tab coming back (a reconnection
        # while the server still holds its old socket) keeps its name; anyone else is
        # refused while a connected socket holds it, on any worker. The last check is of
        # this worker's sockets with no await before the socket joins `sio.sockets`: two
        # tabs racing for one name on one worker cannot both win.
        token = field(auth, "token")
        token = token[:64] if isinstance(token, str) and token else None
        everyone = await sio.fetch_sockets()
        if name_taken(name, token, everyone) or name_taken(name, token, sio.sockets.values()):
            raise rtio.ConnectionRefused(f"The name {name} is taken: pick another.")
        socket.data["name"] = name
        socket.data["token"] = token

    @sio.on("connect")
    async def connect(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        log.info(
            "%s connected (socket %s from %s)",
            socket.data["name"], socket.id, socket.handshake.address,
        )
        await socket.emit("rooms", await room_list())

    @sio.on("disconnecting")  # still in its rooms here; "disconnect" comes once it left them
    async def disconnecting(socket: rtio.Socket, reason: str) -> None:
        log.info("%s disconnected (socket %s): %s", socket.data["name"], socket.id, reason)
        if reason == rtio.DisconnectReason.SERVER_SHUTTING_DOWN:
            return  # everyone is leaving: nobody to tell
        for room in chat_rooms(socket):
            await announce_leaving(socket, room)
        await sio.emit("rooms", await room_list(leaving=socket))

    # -- rooms ---------------------------------------------------------------------------

    @sio.on("join")
    async def join(socket: rtio.Socket, request: Any) -> dict[str, Any]:
        room = field(request, "room")
        room = room.strip().lower() if isinstance(room, str) else ""
        if not ROOM_NAME.fullmatch(room):
            return refuse("A room name is 1 to 24 letters, digits, - or _.")
        if not await use_room(room):  # the most recently joined room goes last
            return refuse("Too many rooms: join one that exists.")
        sio.server_side_emit("room", room)  # the same in the other workers
        newcomer = room not in socket.rooms
        await socket.join(room)
        people = await members(room)
        if newcomer:
            presence = {"room": room, "members": people}
            if not field(request, "rejoin"):  # not back from a reconnection: say hello
                presence["joined"] = socket.data["name"]
            await socket.to(room).emit("presence", presence)
            await sio.emit("rooms", await room_list())
        return {"ok": True, "room": room, "members": people, "history": list(rooms[room])}

    @sio.on("leave")
    async def leave(socket: rtio.Socket, request: Any) -> dict[str, Any]:
        room = room_of(socket, request)
        if room is not None:
            await socket.leave(room)
            await announce_leaving(socket, room)
            await sio.emit("rooms", await room_list())
        return {"ok": True}

    # -- messages ------------------------------------------------------------------------

    @sio.on("message")
    async def message(socket: rtio.Socket, request: Any) -> dict[str, Any]:
        room, text = room_of(socket, request), field(request, "text")
        if room is None:
            return refuse("Join the room first.")
        if not isinstance(text, str) or not text.strip():
            return refuse("An empty message was not sent.")
        if len(text) > MAX_TEXT:
            return refuse(f"A message is {MAX_TEXT} characters at most.")
        return await post(socket, room, text=text.strip())

    @sio.on("image")
    async def image(socket: rtio.Socket, request: Any) -> dict[str, Any]:
        room, data = room_of(socket, request), field(request, "data")
        name, mime = field(request, "name"), field(request, "mime")
        if room is None:
            return refuse("Join the room first.")
        if mime not in IMAGE_TYPES or not isinstance(data, bytes):  # binary arrives as bytes
            return refuse("Share a PNG, JPEG, GIF, WebP, AVIF or BMP image.")
        if len(data) > MAX_IMAGE_BYTES:
            return refuse(f"An image is {MAX_IMAGE_BYTES // 1024} KB at most.")
        name = name[:100] if isinstance(name, str) else "image"
        return await post(socket, room, image={"name": name, "mime": mime, "data": data})

    @sio.on("typing")
    async def typing(socket: rtio.Socket, request: Any) -> None:
        room = room_of(socket, request)
        if room is not None:
            await socket.to(room).emit("typing", {
                "room": room,
                "id": socket.id,
                "name": socket.data["name"],
                "typing": bool(field(request, "typing")),
            })

    return sio


def create_app(bundle: Path | None = None, **options: Any) -> web.Application:
    """The demo's web app: the browser app at ``/`` and the chat at ``/socket.io/``.

    ``bundle``: the built browser app (default: :func:`rtio.demo.find_bundle`, which builds
    it when needed). ``options`` go to :class:`rtio.Server`.
    """
    dist = bundle if bundle is not None else find_bundle()
    app = web.Application()
    create_server(**options).attach(app, path="/socket.io/")

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(dist / "index.html", headers={"Cache-Control": "no-cache"})

    async def favicon(request: web.Request) -> web.FileResponse:
        return web.FileResponse(dist / "favicon.svg")

    app.router.add_get("/", index)
    app.router.add_get("/favicon.svg", favicon)
    app.router.add_static("/assets/", dist / "assets")
    return app
