"""The worked example of docs/TESTING.md: the chat demo (rtio/demo/chat.py), its whole
event set, tested with in-memory clients (rtio.testing): no socket, no port. Runs in well
under a second."""

from __future__ import annotations

import time

import pytest

from rtio.client import ConnectError
from rtio.demo.chat import create_server
from rtio.testing import EventLog, connect_clients, test_client

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


async def test_the_whole_chat() -> None:
    started = time.perf_counter()
    server = create_server()

    # connecting needs a name: the middleware's refusal reaches connect_error
    with pytest.raises(ConnectError, match="Pick a name"):
        await test_client(server, auth={}).connect(timeout=1)

    ada, bob = await connect_clients(server, 2, auth=[{"name": "Ada"}, {"name": " Bob "}])
    ada_log, bob_log = EventLog(ada), EventLog(bob)

    # join: the answer has the members and the history; the others hear of it
    joined = await ada.call("join", {"room": "Lobby"}, timeout=1)
    assert joined["ok"] and joined["room"] == "lobby"
    assert [m["name"] for m in joined["members"]] == ["Ada"]
    await bob.call("join", {"room": "lobby"}, timeout=1)
    presence = await ada_log.next("presence")
    assert presence["joined"] == "Bob"
    assert [m["name"] for m in presence["members"]] == ["Ada", "Bob"]
    rooms = await bob_log.next("rooms")  # (the first came on connecting)
    while {"name": "lobby", "count": 2} not in rooms:
        rooms = await bob_log.next("rooms")
    assert (await ada.call("join", {"room": "no spaces"}, timeout=1))["ok"] is False

    # message: acked with an id (the delivery tick) and sent to the others only
    tick = await ada.call("message", {"room": "lobby", "text": " hello "}, timeout=1)
    assert tick["ok"] and tick["id"]
    message = await bob_log.next("message")
    assert (message["text"], message["from"], message["id"]) == ("hello", "Ada", tick["id"])
    await ada_log.nothing("message")
    assert (await ada.call("message", {"room": "lobby", "text": "  "}, timeout=1))["ok"] is False
    refused = await ada.call("message", {"room": "elsewhere", "text": "x"}, timeout=1)
    assert refused == {"ok": False, "error": "Join the room first."}

    # image: binary both ways
    sent = await bob.call(
        "image", {"room": "lobby", "name": "a.png", "mime": "image/png", "data": PNG}, timeout=1
    )
    assert sent["ok"]
    image = (await ada_log.next("message"))["image"]
    assert image == {"name": "a.png", "mime": "image/png", "data": PNG}
    bad = {"room": "lobby", "name": "x", "mime": "text/plain", "data": b"x"}
    assert (await bob.call("image", bad, timeout=1))["ok"] is False

    # typing: no answer, the others see it
    bob.emit("typing", {"room": "lobby", "typing": True})
    typing = await ada_log.next("typing")
    assert typing == {"room": "lobby", "id": bob.id, "name": "Bob", "typing": True}

    # history: a newcomer gets the room's last messages
    (cy,) = await connect_clients(server, 1, auth={"name": "Cy"})
    history = (await cy.call("join", {"room": "lobby"}, timeout=1))["history"]
    assert [m.get("text", "image") for m in history] == ["hello", "image"]

    # leave, and disconnecting: the others see the member list shrink
    assert await cy.call("leave", {"room": "lobby"}, timeout=1) == {"ok": True}
    left = await ada_log.next("presence")
    while left.get("left") != "Cy":
        left = await ada_log.next("presence")
    await bob.close()
    gone = await ada_log.next("presence")
    while gone.get("left") != "Bob":
        gone = await ada_log.next("presence")
    assert [m["name"] for m in gone["members"]] == ["Ada"]

    for client in (ada, cy):
        await client.close()
    assert not server.sockets
    assert time.perf_counter() - started < 1.0


async def test_over_a_loopback_port_too() -> None:
    """The same app over a real port (WebSocket and the upgrade), when asked."""
    from rtio.testing import serve

    server = create_server()
    async with serve(server) as url:
        (ada,) = await connect_clients(server, 1, url=url, auth={"name": "Ada"})
        assert (await ada.call("join", {"room": "lobby"}, timeout=2))["ok"]
        await ada.close()

