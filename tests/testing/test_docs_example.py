"""The example of docs/TESTING.md, as written there (the plugin's fixtures)."""

from __future__ import annotations

from typing import Any

import pytest

import rtio
from rtio.demo.chat import create_server


@pytest.fixture
def rtio_server() -> rtio.Server:
    return create_server()


async def test_message_reaches_the_room(rtio_clients: Any, rtio_events: Any) -> None:
    ada, bob = await rtio_clients(2, auth=[{"name": "Ada"}, {"name": "Bob"}])
    bob_log = rtio_events(bob)
    await ada.call("join", {"room": "lobby"})
    await bob.call("join", {"room": "lobby"})
    tick = await ada.call("message", {"room": "lobby", "text": "hi"})
    message = await bob_log.next("message")
    assert message["id"] == tick["id"] and message["text"] == "hi"
