"""The channels of ``@socket.io/redis-adapter`` 8.3's sharded adapter (Redis >= 7), sans-I/O.

Owns: which channel a ClusterAdapter message (rtio.cluster.messages) is published on, and
which room channels a node subscribes to, in the three subscription modes.

Does not know: Redis commands (the link does SSUBSCRIBE / SPUBLISH), the message encoding
(rtio.cluster.messages), or rtio.socketio.

Channels (``prefix`` = ``socket.io``; every node SSUBSCRIBEs the first two)::

    <prefix>#<nsp>#            messages to every node          SPUBLISH, SHARDNUMSUB
    <prefix>#<nsp>#<uid>#      responses to the node <uid>
    <prefix>#<nsp>#<room>#     "dynamic" modes: a broadcast to exactly one room, without
                               acks; a node subscribes while it has a member in the room

In ``dynamic`` mode a room that is a socket's own (private) room keeps to the main
channel, and so does, when publishing, a room name of exactly 20 characters (it looks like
a socket id); ``dynamic-private`` gives every room its channel, private ones too.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .messages import Broadcast, ClusterMessage
from .wire import Room, js_string

__all__ = ["ShardedChannels", "SubscriptionMode", "looks_like_socket_id"]


class SubscriptionMode(str, enum.Enum):
    STATIC = "static"
    DYNAMIC = "dynamic"
    DYNAMIC_PRIVATE = "dynamic-private"


def looks_like_socket_id(room: Room) -> bool:
    """Node's test: a string of exactly 20 characters (keep socket ids 20 long)."""
    return isinstance(room, str) and len(room) == 20


@dataclass(frozen=True, slots=True)
class ShardedChannels:
    nsp: str
    uid: str
    prefix: str = "socket.io"
    mode: SubscriptionMode = SubscriptionMode.DYNAMIC
    main: str = field(init=False)
    response: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "main", f"{self.prefix}#{self.nsp}#")
        object.__setattr__(self, "response", self.response_of(self.uid))

    def response_of(self, uid: str) -> str:
        """Where responses to the node ``uid`` go."""
        return f"{self.main}{uid}#"

    def room(self, room: Room) -> str:
        return f"{self.main}{js_string(room)}#"

    def for_message(self, message: ClusterMessage) -> str:
        """Where a (non-response) message is published."""
        body = message.body
        if (
            isinstance(body, Broadcast)
            and body.request_id is None  # acks count every node: the main channel
            and len(body.opts.rooms) == 1
        ):
            room = body.opts.rooms[0]
            if self.mode is SubscriptionMode.DYNAMIC_PRIVATE or (
                self.mode is SubscriptionMode.DYNAMIC and not looks_like_socket_id(room)
            ):
                return self.room(room)
        return self.main

    def subscribes_to_room(self, room: str, is_private: bool) -> bool:
        """Whether a node with a member in ``room`` subscribes to its channel.

        ``is_private``: the room is a socket's own (named by its id).
        """
        if self.mode is SubscriptionMode.DYNAMIC_PRIVATE:
            return True
        return self.mode is SubscriptionMode.DYNAMIC and not is_private
