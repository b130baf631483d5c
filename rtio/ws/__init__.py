"""rtio.ws: the WebSocket protocol (RFC 6455) with permessage-deflate (RFC 7692).

Knows nothing of Engine.IO or Socket.IO. See docs/ARCHITECTURE.md for the contract the
layer above relies on.
"""
