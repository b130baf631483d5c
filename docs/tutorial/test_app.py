"""The tutorial's tests (docs/TUTORIAL.md, step 5): the app's handlers through in-memory
clients (rtio.testing and its pytest plugin), no port, no network.

    pytest docs/tutorial
"""

from __future__ import annotations

from typing import Any

import app  # the module beside this file (pytest puts its directory on sys.path)
import pytest

import rtio
from rtio.client import ConnectError
from rtio.testing import test_client


# --8<-- [start:fixture]
@pytest.fixture
def rtio_server() -> rtio.Server:
    """The server the plugin's fixtures (rtio_client, rtio_clients, ...) connect to."""
    return app.sio
# --8<-- [end:fixture]


# --8<-- [start:auth]
async def test_an_unknown_token_is_refused() -> None:
    with pytest.raises(ConnectError) as refused:
        async with test_client(app.sio, auth={"token": "nope"}):
            pass
    assert refused.value.message == "unknown token"
    assert refused.value.data == {"retry": False}
# --8<-- [end:auth]


# --8<-- [start:rooms]
async def test_joining_tells_the_others_and_answers_the_members(
    rtio_clients: Any, rtio_events: Any
) -> None:
    ada, bob = await rtio_clients(2, auth=[{"token": "t-ada"}, {"token": "t-bob"}])
    ada_log = rtio_events(ada)
    assert await ada.call("join", "general") == {"ok": True, "members": ["ada"]}
    assert await bob.call("join", "general") == {"ok": True, "members": ["ada", "bob"]}
    assert await ada_log.next("joined", timeout=1) == ("general", "bob")
    assert (await ada.call("join", "nowhere"))["ok"] is False
# --8<-- [end:rooms]


# --8<-- [start:say]
async def test_a_message_reaches_the_room_but_not_its_sender(
    rtio_clients: Any, rtio_events: Any
) -> None:
    ada, bob, cy = await rtio_clients(
        3, auth=[{"token": "t-ada"}, {"token": "t-bob"}, {"token": "t-cy"}]
    )
    logs = {name: rtio_events(c) for name, c in (("ada", ada), ("bob", bob), ("cy", cy))}
    for client in (ada, bob):
        await client.call("join", "ops")
    receipt = await ada.call("say", "ops", "deploying now")
    assert receipt["ok"] is True
    said = await logs["bob"].next("said", timeout=1)
    assert said == {"id": receipt["id"], "room": "ops", "from": "ada", "text": "deploying now"}
    await logs["ada"].nothing("said")  # not echoed to the sender
    await logs["cy"].nothing("said")   # not in the room
    assert (await cy.call("say", "ops", "hi"))["error"] == "join the room first"
# --8<-- [end:say]


# --8<-- [start:poll]
async def test_a_poll_counts_the_votes_of_the_room(rtio_clients: Any) -> None:
    ada, bob, cy = await rtio_clients(
        3, auth=[{"token": "t-ada"}, {"token": "t-bob"}, {"token": "t-cy"}]
    )
    bob.on("vote", lambda question: "yes")  # a handler's return value answers the ack
    cy.on("vote", lambda question: "no")
    for client in (ada, bob, cy):
        await client.call("join", "random")
    answer = await ada.call("poll", "random", "pizza?")
    assert answer == {"ok": True, "votes": {"yes": 1, "no": 1}, "silent": 0}
# --8<-- [end:poll]


async def test_leaving_is_announced(rtio_clients: Any, rtio_events: Any) -> None:
    ada, bob = await rtio_clients(2, auth=[{"token": "t-ada"}, {"token": "t-bob"}])
    ada_log = rtio_events(ada)
    for client in (ada, bob):
        await client.call("join", "general")
    await bob.disconnect()
    assert await ada_log.next("left", timeout=1) == ("general", "bob")
