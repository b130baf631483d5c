"""The Socket.IO admin UI's server side: ``sio.instrument(auth=...)`` speaks the protocol of
``@socket.io/admin-ui`` 0.5.1 (its lib/index.ts and lib/typed-events.ts) on its namespace,
``/admin`` by default, so that its web app (https://admin.socket.io, or its ``ui/dist``
served anywhere) shows this server's sockets, rooms and events and acts on them.

The protocol, server to UI (every timestamp an ISO 8601 string, as a JS ``Date`` is sent):

    session (sessionId)                       after a login with a password
    config ({supportedFeatures})              on connect
    all_sockets ([SerializedSocket])          on connect (development mode)
    server_stats ({serverId, hostname, pid, uptime, clientsCount, pollingClientsCount,
                   aggregatedEvents, namespaces: [{name, socketsCount}]})   every 2 s
    socket_connected (socket, ts) / socket_updated ({id, nsp, transport}) /
    socket_disconnected (nsp, id, reason, ts) / room_joined (nsp, room, id, ts) /
    room_left (nsp, room, id, ts) / event_received (nsp, id, args, ts) /
    event_sent (nsp, id, args, ts)           (development mode)

UI to server (refused in read-only mode): ``emit (nsp, filter, event, ...args)``,
``join (nsp, room, filter)``, ``leave (nsp, room, filter)``, ``_disconnect (nsp, close,
filter)``; ``filter`` is a room (a socket id for one socket) or empty for all. Each goes
through the namespace's broadcast operator, so with a cluster adapter it reaches the
sockets of every server, and each server's ``server_stats`` reach the UI through the admin
namespace's adapter (run ``instrument`` on every server, with distinct ``server_id``s).

Auth: ``False`` (none: say so), ``{"type": "basic", "username", "password": <bcrypt hash>}``
(checked with the ``bcrypt`` package, ``pip install rtio[admin]``; a successful login gets
a session id the UI reconnects with), or a callable ``(auth) -> bool`` (sync or async) given
the CONNECT's auth object. Errors: ``ValueError`` / ``TypeError`` for bad options, at once;
a refused login gets CONNECT_ERROR "invalid credentials".
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import re
import secrets
import socket as _stdlib_socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from rtio.engine import EngineSession
from rtio.socketio import ConnectionRefused, Namespace, Server, Socket

from .monitor import Monitor, monitor_of

__all__ = ["AdminUI", "instrument"]

log = logging.getLogger("rtio.ops")

AuthCallable = Callable[[dict[str, Any]], "bool | Awaitable[bool]"]

#: the features of the UI (typed-events.ts's Feature)
_ACTIONS = ("EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT")
#: sessions remembered (a login's id), at most; the oldest go first
MAX_SESSIONS = 10_000
#: how long a session id stays valid, seconds (the Node RedisStore's default)
SESSION_DURATION = 86_400.0
#: password checks (bcrypt, in threads) running at once, at most; a login past it is refused
MAX_PASSWORD_CHECKS = 4
#: what bcrypt.hashpw (and Node's bcryptjs.hash) make: $2b$<cost>$<salt+hash, 53 chars>
_BCRYPT_HASH = re.compile(r"\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}")


def _process_started() -> float:
    """When this process started, in ``time.monotonic()``'s clock where the OS says (Linux:
    /proc; Node's ``process.uptime()``), else now."""
    try:
        with open("/proc/self/stat") as f:
            # field 22 (after the parenthesised command name): start time, in clock ticks
            # since boot; CLOCK_BOOTTIME is monotonic time since boot, suspend included
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        started_since_boot = ticks / os.sysconf("SC_CLK_TCK")
        boot = time.clock_gettime(time.CLOCK_BOOTTIME)
        return time.monotonic() - (boot - started_since_boot)
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic()


def _now() -> str:
    """A JS Date as JSON: ISO 8601, milliseconds, Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_safe(value: Any) -> Any:
    """``value`` if the JSON parser can send it, else its JSON with ``repr`` for the rest."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=repr))


def _handshake(socket: Any) -> dict[str, Any]:
    handshake = socket.handshake
    if isinstance(handshake, dict):  # a socket of another server (Node's shape already)
        out = {k: v for k, v in handshake.items() if k != "auth"}
        return _json_safe(out)  # type: ignore[no-any-return]
    headers = {k.lower(): v for k, v in handshake.headers.items()}
    address = (
        headers.get("cf-connecting-ip") or headers.get("x-forwarded-for") or (handshake.address)
    )
    return {
        "address": address,
        "headers": headers,
        "query": dict(handshake.query),
        "issued": int(handshake.issued * 1000),  # Node: milliseconds since the epoch
        "secure": handshake.secure,
        "time": handshake.time,
        "url": handshake.url,
        "xdomain": handshake.xdomain,
    }


def serialize(socket: Any, nsp: str) -> dict[str, Any]:
    """A SerializedSocket (typed-events.ts): an rtio.Socket, or another server's socket."""
    client = getattr(socket, "client", None)
    session = getattr(client, "session", None)
    return {
        "id": socket.id,
        "clientId": session.sid[:12] if session is not None else None,
        "transport": session.transport if session is not None else None,
        "nsp": nsp,
        "data": _json_safe(socket.data) if socket.data is not None else {},
        "handshake": _handshake(socket),
        "rooms": sorted(socket.rooms),
    }


class AdminUI:
    """The admin namespace of one server and what feeds it (see the module docstring)."""

    def __init__(
        self,
        server: Server,
        monitor: Monitor,
        *,
        auth: Any,
        read_only: bool = False,
        namespace_name: str = "/admin",
        server_id: str | None = None,
        mode: str = "development",
        stats_interval: float = 2.0,
    ) -> None:
        if mode not in ("development", "production"):
            raise ValueError(f'mode must be "development" or "production", not {mode!r}')
        if stats_interval <= 0:
            raise ValueError("stats_interval must be positive")
        self.server = server
        self.monitor = monitor
        self.read_only = read_only
        self.development = mode == "development"
        self.stats_interval = stats_interval
        self.server_id = server_id or _stdlib_socket.gethostname()
        self.started = _process_started()
        self._check_auth = _authenticator(auth)
        #: session id -> when it expires (monotonic)
        self._sessions: OrderedDict[str, float] = OrderedDict()
        self._stats_task: asyncio.Task[None] | None = None
        # monitor totals at the last server_stats (for the per-interval aggregatedEvents)
        self._last: dict[str, int] = {}
        features = [] if read_only else list(_ACTIONS)
        features.append("AGGREGATED_EVENTS")
        if self.development:
            features.append("ALL_EVENTS")
        self.features = features
        self.nsp: Namespace = server.of(namespace_name)
        self.nsp.use(self._authenticate)
        self.nsp.on("connect", self._on_connect)
        if not read_only:
            self.nsp.on("emit", self._emit)
            self.nsp.on("join", self._join)
            self.nsp.on("leave", self._leave)
            self.nsp.on("_disconnect", self._disconnect)
        if self.development:
            monitor.listeners.append(self)
            for nsp in server.namespaces.values():  # sockets connected before instrument()
                for socket in tuple(nsp.sockets.values()):
                    self._watch_events(socket)
        server.attach_hooks.append(self._add_to_app)

    # -- authentication -------------------------------------------------------------------

    async def _authenticate(self, socket: Socket, auth: dict[str, Any]) -> None:
        if self._check_auth is None:
            return
        session_id = auth.get("sessionId")
        if isinstance(session_id, str) and self._session_valid(session_id):
            return
        if await self._check_auth(auth):
            if isinstance(self._check_auth, _Basic):
                socket.data["_admin_session"] = self._new_session()
            return
        log.info("admin UI: invalid credentials from %s", socket.handshake.address)
        raise ConnectionRefused("invalid credentials")

    def _session_valid(self, session_id: str) -> bool:
        expires = self._sessions.get(session_id)
        if expires is None:
            return False
        if expires < time.monotonic():
            del self._sessions[session_id]
            return False
        return True

    def _new_session(self) -> str:
        session_id = secrets.token_hex(8)
        self._sessions[session_id] = time.monotonic() + SESSION_DURATION
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session_id

    # -- an admin connects ----------------------------------------------------------------

    async def _on_connect(self, socket: Socket, auth: Any) -> None:
        session_id = socket.data.pop("_admin_session", None)
        if session_id is not None:
            socket.emit("session", session_id)
        socket.emit("config", {"supportedFeatures": self.features})
        if self.development:
            socket.emit("all_sockets", await self._all_sockets())
        self.start()
        self._send_stats()

    async def _all_sockets(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name, nsp in self.server.namespaces.items():
            for socket in await nsp.fetch_sockets():
                out.append(serialize(socket, name))
        return out

    # -- actions (not in read-only mode) ----------------------------------------------------

    def _target(self, nsp: Any, filter_: Any) -> Any:
        """The namespace (an existing one: the UI never creates one), narrowed to the room
        ``filter_`` when given; None when the namespace does not exist."""
        if not isinstance(nsp, str):
            return None
        namespace = self.server.namespaces.get(nsp)
        if namespace is None:
            return None
        if isinstance(filter_, str) and filter_:
            return namespace.to(filter_)
        return namespace

    def _emit(self, socket: Socket, nsp: Any, filter_: Any, event: Any, *args: Any) -> None:
        target = self._target(nsp, filter_)
        if target is None or not isinstance(event, str):
            return
        try:
            target.emit(event, *args)
        except ValueError as exc:  # a reserved event name
            log.info("admin UI: emit refused: %s", exc)

    def _join(self, socket: Socket, nsp: Any, room: Any, filter_: Any = None) -> None:
        target = self._target(nsp, filter_)
        if target is not None and isinstance(room, str):
            target.sockets_join(room)

    def _leave(self, socket: Socket, nsp: Any, room: Any, filter_: Any = None) -> None:
        target = self._target(nsp, filter_)
        if target is not None and isinstance(room, str):
            target.sockets_leave(room)

    def _disconnect(self, socket: Socket, nsp: Any, close: Any, filter_: Any = None) -> None:
        target = self._target(nsp, filter_)
        if target is not None:
            target.disconnect_sockets(bool(close))

    # -- server_stats ---------------------------------------------------------------------

    def start(self) -> None:
        """Send ``server_stats`` every ``stats_interval`` from now on (started when the app
        starts, or by the first admin to connect)."""
        if self._stats_task is None or self._stats_task.done():
            self._stats_task = asyncio.get_running_loop().create_task(self._stats_loop())

    async def stop(self) -> None:
        task, self._stats_task = self._stats_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.stats_interval)
            try:
                self._send_stats()
            except Exception:
                log.exception("admin UI: server_stats failed")

    def _send_stats(self) -> None:
        sessions = tuple(self.server.engine.sessions.values())
        self.nsp.emit(
            "server_stats",
            {
                "serverId": self.server_id,
                "hostname": _stdlib_socket.gethostname(),
                "pid": os.getpid(),
                "uptime": time.monotonic() - self.started,
                "clientsCount": len(sessions),
                "pollingClientsCount": sum(1 for s in sessions if s.transport == "polling"),
                "aggregatedEvents": self._aggregated_events(),
                "namespaces": [
                    {"name": name, "socketsCount": len(nsp.sockets)}
                    for name, nsp in self.server.namespaces.items()
                ],
            },
        )

    def _aggregated_events(self) -> list[dict[str, Any]]:
        """What happened since the last stats (Node's EventBuffer: counts per second, by
        type): from the monitor's counters."""
        stats = self.monitor.stats
        now = {
            "rawConnection": stats.engine_connects,
            "packetsIn": stats.packets_in,
            "packetsOut": stats.packets_out,
            "bytesIn": stats.bytes_in,
            "bytesOut": stats.bytes_out,
        }
        for reason, count in stats.engine_disconnects.items():
            now["rawDisconnection;" + reason] = count
        timestamp = int(time.time()) * 1000
        out = []
        for key, total in now.items():
            delta = total - self._last.get(key, 0)
            if delta > 0:
                kind, _, sub = key.partition(";")
                event: dict[str, Any] = {"timestamp": timestamp, "type": kind, "count": delta}
                if sub:
                    event["subType"] = sub
                out.append(event)
        self._last = now
        return out

    # -- development mode: the monitor's listener -----------------------------------------

    def socket_connected(self, socket: Any) -> None:
        self.nsp.emit("socket_connected", serialize(socket, socket.nsp.name), _now())
        self._watch_events(socket)

    def _watch_events(self, socket: Socket) -> None:
        if socket.nsp is self.nsp:
            return
        nsp, sid, emit = socket.nsp.name, socket.id, self.nsp.emit

        def received(*args: Any) -> None:
            emit("event_received", nsp, sid, _json_safe(list(args)), _now())

        def sent(*args: Any) -> None:
            emit("event_sent", nsp, sid, _json_safe(list(args)), _now())

        socket.on_any(received)
        socket.on_any_outgoing(sent)

    def socket_disconnected(self, socket: Any, reason: str) -> None:
        self.nsp.emit("socket_disconnected", socket.nsp.name, socket.id, reason, _now())

    def rooms_joined(self, socket: Any, rooms: tuple[str, ...]) -> None:
        for room in rooms:
            self.nsp.emit("room_joined", socket.nsp.name, room, socket.id, _now())

    def room_left(self, socket: Any, room: str) -> None:
        self.nsp.emit("room_left", socket.nsp.name, room, socket.id, _now())

    def upgraded(self, session: EngineSession) -> None:
        sockets: Iterable[Any] = getattr(session.state, "sockets", {}).values()
        for socket in tuple(sockets):
            self.nsp.emit(
                "socket_updated",
                {"id": socket.id, "nsp": socket.nsp.name, "transport": session.transport},
            )

    # -- an aiohttp app ---------------------------------------------------------------------

    def _add_to_app(self, app: web.Application) -> None:
        async def on_startup(app: web.Application) -> None:
            self.start()

        async def on_cleanup(app: web.Application) -> None:
            await self.stop()

        app.on_startup.append(on_startup)
        app.on_cleanup.append(on_cleanup)


class _Basic:
    """``{"type": "basic", "username", "password": <bcrypt hash>}``: bcrypt in a thread."""

    def __init__(self, username: str, password_hash: str) -> None:
        try:
            import bcrypt
        except ImportError as exc:
            raise ImportError(
                "the admin UI's password auth needs bcrypt: pip install 'rtio[admin]'"
            ) from exc
        self._bcrypt = bcrypt
        self._checking = 0
        self.username = username
        self.hash = password_hash.encode()
        if _BCRYPT_HASH.fullmatch(password_hash) is None:  # checked now (Node: getRounds)
            raise ValueError("the admin UI's password must be a bcrypt hash ($2b$10$...)")

    async def __call__(self, auth: dict[str, Any]) -> bool:
        username, password = auth.get("username"), auth.get("password")
        if username != self.username or not isinstance(password, str):
            return False
        if self._checking >= MAX_PASSWORD_CHECKS:  # a flood of logins: bcrypt is the cost
            log.warning("admin UI: %d password checks running: login refused", self._checking)
            return False
        self._checking += 1
        try:
            loop = asyncio.get_running_loop()
            return bool(
                await loop.run_in_executor(None, self._bcrypt.checkpw, password.encode(), self.hash)
            )
        finally:
            self._checking -= 1


def _authenticator(auth: Any) -> Callable[[dict[str, Any]], Awaitable[bool]] | None:
    if auth is False:
        log.warning("admin UI: authentication is disabled (auth=False)")
        return None
    if isinstance(auth, dict):
        if auth.get("type") != "basic":
            raise ValueError('auth must be False, {"type": "basic", ...} or a callable')
        username, password = auth.get("username"), auth.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise ValueError('basic auth needs "username" and "password" (a bcrypt hash)')
        return _Basic(username, password)
    if callable(auth):
        check: AuthCallable = auth

        async def call(payload: dict[str, Any]) -> bool:
            result = check(payload)
            if inspect.isawaitable(result):
                result = await result
            return bool(result)

        return call
    raise TypeError(
        "auth must be given: False (no authentication), "
        '{"type": "basic", "username": ..., "password": <bcrypt hash>} or a callable'
    )


def instrument(server: Server, *, auth: Any, **options: Any) -> AdminUI:
    """``sio.instrument(auth=..., read_only=False, namespace_name="/admin",
    server_id=None, mode="development", stats_interval=2.0)``; once per server."""
    monitor = monitor_of(server)
    if monitor.admin is not None:
        raise RuntimeError("instrument() was already called for this server")
    admin = monitor.admin = AdminUI(server, monitor, auth=auth, **options)
    return admin
