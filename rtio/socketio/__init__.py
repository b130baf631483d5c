"""rtio.socketio: the Socket.IO v5 server and rtio's public Python API.

Sees Engine.IO only through connect / message / disconnect(reason) and send.
"""
