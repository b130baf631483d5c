"""rtio: a Socket.IO v5 server for Python, on aiohttp, built in three layers.

- ``rtio.ws``: the WebSocket protocol (RFC 6455, RFC 7692), sans-I/O core and asyncio glue.
- ``rtio.engine``: Engine.IO v4 (long-polling and WebSocket transports, upgrades, heartbeats).
- ``rtio.socketio``: Socket.IO v5 (namespaces, rooms, events, acks, binary) and the public API.

Each layer only knows the one below it; see docs/ARCHITECTURE.md.
"""

__version__ = "0.1.0"
