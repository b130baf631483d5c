"""rtio.engine: the Engine.IO v4 server (long-polling and WebSocket transports).

Sees a WebSocket only as a message transport (rtio.ws); knows nothing of Socket.IO.
See docs/ARCHITECTURE.md for the contract the layer above relies on.
"""
