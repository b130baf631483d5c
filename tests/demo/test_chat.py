"""rtio/demo/chat.py through a real Socket.IO client (python-socketio) on a real port: names
(required, one person each), rooms and their counts, presence, history, messages and their
acks, images as binary, typing, leaving and disconnecting, and the web app's static files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import socketio

from rtio.demo import chat

from .conftest import INDEX, User, counts, names

People = Callable[..., Awaitable[User]]

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # bytes no text encoding survives


async def test_a_name_is_required(url: str) -> None:
    for auth in ({}, {"name": "   "}, {"name": 42}):
        client = socketio.AsyncClient(reconnection=False)
        refusals: list[Any] = []
        client.on("connect_error", refusals.append)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(url, auth=auth, transports=["websocket"], wait_timeout=5)
        assert refusals == [{"message": "Pick a name to come in."}]
        await client.disconnect()


async def refusal(url: str, auth: dict[str, Any]) -> Any:
    """The connect_error a connection with ``auth`` gets (it must be refused)."""
    client = socketio.AsyncClient(reconnection=False)
    refusals: list[Any] = []
    client.on("connect_error", refusals.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(url, auth=auth, transports=["websocket"], wait_timeout=5)
    await client.disconnect()
    assert len(refusals) == 1
    return refusals[0]


async def test_a_name_in_use_is_refused_whatever_its_case(url: str, people: People) -> None:
    await people("alice")
    for name in ("alice", " ALICE ", "Alice"):
        refused = await refusal(url, {"name": name})
        assert refused == {"message": f"The name {name.strip()} is taken: pick another."}
    for token in ("tab-2", ""):  # a token is no pass to another tab's name
        assert "taken" in (await refusal(url, {"name": "alice", "token": token}))["message"]


async def test_a_name_is_free_again_once_its_holder_left(url: str, people: People) -> None:
    alice = await people("alice")
    await alice.close()
    again = await people("alice")
    assert (await again.join("lobby"))["members"] == [{"id": again.id, "name": "alice"}]


async def test_the_same_tab_reconnecting_keeps_its_name(url: str) -> None:
    """A tab whose old connection the server still holds (not yet timed out) comes back."""
    tabs = [socketio.AsyncClient(reconnection=False) for _ in range(2)]
    try:
        for tab in tabs:
            await tab.connect(url, auth={"name": "alice", "token": "tab-1"},
                              transports=["websocket"], wait_timeout=5)
        assert all(tab.connected for tab in tabs)
        refused = await refusal(url, {"name": "alice", "token": "tab-2"})
        assert refused == {"message": "The name alice is taken: pick another."}
    finally:
        for tab in tabs:
            await tab.disconnect()


async def test_names_are_trimmed_and_cut(people: People) -> None:
    user = await people("  " + "x" * 40 + "  ")
    reply = await user.join("lobby")
    assert names(reply["members"]) == ["x" * chat.MAX_NAME]


async def test_connecting_sends_the_room_list(people: People) -> None:
    alice = await people("alice")
    assert counts(await alice.next("rooms")) == {"lobby": 0}


async def test_join_answers_members_and_history_and_tells_the_others(people: People) -> None:
    alice = await people("alice")
    reply = await alice.join("lobby")
    assert reply == {"ok": True, "room": "lobby", "history": [],
                     "members": [{"id": alice.id, "name": "alice"}]}
    assert counts(await alice.until("rooms", lambda r: counts(r)["lobby"] == 1)) == {"lobby": 1}

    bob = await people("bob")
    reply = await bob.join("lobby")
    assert names(reply["members"]) == ["alice", "bob"]
    presence = await alice.next("presence")
    assert presence == {"room": "lobby", "joined": "bob", "members": reply["members"]}
    for user in (alice, bob):
        await user.until("rooms", lambda r: counts(r) == {"lobby": 2})
    assert await bob.quiet("presence") == []  # the joiner learns the members from the ack


async def test_joining_twice_changes_nothing(people: People) -> None:
    alice = await people("alice")
    bob = await people("bob")
    await alice.join("lobby")
    await bob.join("lobby")
    await alice.next("presence")
    alice.drain("rooms")
    reply = await bob.join("lobby")
    assert names(reply["members"]) == ["alice", "bob"]
    assert await alice.quiet("presence") == []
    assert await alice.quiet("rooms", 0) == []


async def test_a_rejoin_after_a_reconnection_updates_members_without_a_greeting(
    people: People,
) -> None:
    alice = await people("alice")
    await alice.join("lobby")
    bob = await people("bob")
    await bob.join("lobby", rejoin=True)
    presence = await alice.next("presence")
    assert "joined" not in presence
    assert names(presence["members"]) == ["alice", "bob"]


@pytest.mark.parametrize("room", ["", "a b", "x" * 25, "<b>", "room/1", None, 7])
async def test_bad_room_names_are_refused(people: People, room: Any) -> None:
    alice = await people("alice")
    reply = await alice.call("join", {"room": room})
    assert reply["ok"] is False
    assert "room name" in reply["error"]


async def test_room_names_are_lowercased(people: People) -> None:
    alice = await people("alice")
    reply = await alice.join("  Design ")
    assert reply["room"] == "design"


async def test_rooms_are_created_listed_and_counted(people: People) -> None:
    alice = await people("alice")
    bob = await people("bob")
    await alice.join("lobby")
    await bob.join("lobby")
    await alice.join("design")
    await bob.until("rooms", lambda r: counts(r) == {"lobby": 2, "design": 1})
    rooms = await alice.until("rooms", lambda r: counts(r) == {"lobby": 2, "design": 1})
    assert [r["name"] for r in rooms] == ["lobby", "design"]  # the lobby first

    await bob.join("design")
    await alice.until("rooms", lambda r: counts(r) == {"lobby": 2, "design": 2})
    assert await bob.call("leave", {"room": "design"}) == {"ok": True}
    left = await alice.until("presence", lambda p: p["room"] == "design" and "left" in p)
    assert left == {"room": "design", "left": "bob",
                    "members": [{"id": alice.id, "name": "alice"}]}
    await alice.until("rooms", lambda r: counts(r) == {"lobby": 2, "design": 1})
    # Leaving a room one is not in is harmless and tells nobody.
    assert await bob.call("leave", {"room": "design"}) == {"ok": True}
    assert await bob.call("leave", {"room": ["lobby"]}) == {"ok": True}
    assert await alice.quiet("presence") == []


async def test_empty_rooms_are_forgotten_when_there_are_too_many(
    people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat, "MAX_ROOMS", 3)
    alice = await people("alice")
    await alice.join("a")
    await alice.join("b")
    reply = await alice.call("join", {"room": "c"})  # lobby, a, b: full, none empty
    assert reply == {"ok": False, "error": "Too many rooms: join one that exists."}
    await alice.call("leave", {"room": "a"})
    await alice.join("c")  # "a" was empty: it goes
    rooms = await alice.until("rooms", lambda r: "c" in counts(r))
    assert counts(rooms) == {"lobby": 0, "b": 1, "c": 1}


async def test_a_message_is_acked_to_its_sender_and_sent_to_the_others(people: People) -> None:
    alice = await people("alice")
    bob = await people("bob")
    carol = await people("carol")  # in no room: hears nothing
    await alice.join("lobby")
    await bob.join("lobby")
    reply = await alice.call("message", {"room": "lobby", "text": "  hello bob  "})
    assert reply["ok"] is True
    message = await bob.next("message")
    assert message == {"id": reply["id"], "ts": reply["ts"], "room": "lobby", "from": "alice",
                       "senderId": alice.id, "text": "hello bob"}
    assert isinstance(reply["ts"], int) and reply["ts"] > 1_700_000_000_000  # milliseconds
    assert await alice.quiet("message") == []  # the sender shows it from the ack
    assert await carol.quiet("message", 0) == []


async def test_message_ids_are_unique(people: People) -> None:
    alice = await people("alice")
    await alice.join("lobby")
    ids = {(await alice.call("message", {"room": "lobby", "text": str(i)}))["id"]
           for i in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize(("request_", "error"), [
    ({"room": "design", "text": "hi"}, "Join the room first."),
    ({"room": "lobby", "text": "   "}, "An empty message was not sent."),
    ({"room": "lobby", "text": None}, "An empty message was not sent."),
    ({"room": "lobby", "text": "x" * 2001}, "A message is 2000 characters at most."),
    ("lobby", "Join the room first."),
    ({"room": ["lobby"], "text": "hi"}, "Join the room first."),
    ({"room": {"a": 1}, "text": "hi"}, "Join the room first."),
])
async def test_messages_are_checked(people: People, request_: Any, error: str) -> None:
    alice = await people("alice")
    bob = await people("bob")
    await alice.join("lobby")
    await bob.join("lobby")
    assert await alice.call("message", request_) == {"ok": False, "error": error}
    assert await bob.quiet("message") == []


async def test_joining_shows_the_last_messages(people: People) -> None:
    alice = await people("alice")
    await alice.join("lobby")
    for i in range(chat.HISTORY + 5):
        await alice.call("message", {"room": "lobby", "text": f"message {i}"})
    bob = await people("bob")
    history = (await bob.join("lobby"))["history"]
    assert [m["text"] for m in history] == [f"message {i}" for i in range(5, chat.HISTORY + 5)]
    assert {m["from"] for m in history} == {"alice"}


async def test_an_image_travels_as_binary_to_the_others_and_into_history(
    people: People,
) -> None:
    alice = await people("alice")
    bob = await people("bob", transport="polling")
    await alice.join("lobby")
    await bob.join("lobby")
    image = {"room": "lobby", "name": "dot.png", "mime": "image/png", "data": PNG}
    reply = await alice.call("image", image)
    assert reply["ok"] is True
    message = await bob.next("message")
    assert message["image"] == {"name": "dot.png", "mime": "image/png", "data": PNG}
    assert message["from"] == "alice"
    assert "text" not in message

    carol = await people("carol")
    history = (await carol.join("lobby"))["history"]
    assert history[-1]["image"]["data"] == PNG


@pytest.mark.parametrize(("change", "error"), [
    ({"mime": "image/svg+xml"}, "Share a PNG, JPEG, GIF, WebP, AVIF or BMP image."),
    ({"data": "not bytes"}, "Share a PNG, JPEG, GIF, WebP, AVIF or BMP image."),
    ({"mime": ["image/png"]}, "Share a PNG, JPEG, GIF, WebP, AVIF or BMP image."),
    ({"room": ["lobby"]}, "Join the room first."),
    ({"data": b"\0" * (512 * 1024 + 1)}, "An image is 512 KB at most."),
    ({"room": "elsewhere"}, "Join the room first."),
])
async def test_images_are_checked(people: People, change: dict[str, Any], error: str) -> None:
    alice = await people("alice")
    await alice.join("lobby")
    image = {"room": "lobby", "name": "x.png", "mime": "image/png", "data": PNG, **change}
    assert await alice.call("image", image) == {"ok": False, "error": error}


async def test_history_keeps_a_bounded_amount_of_images(
    people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat, "HISTORY_IMAGE_BYTES", 3 * len(PNG))
    alice = await people("alice")
    await alice.join("lobby")
    await alice.call("message", {"room": "lobby", "text": "first"})
    for i in range(4):
        image = {"room": "lobby", "name": f"{i}.png", "mime": "image/png", "data": PNG}
        assert (await alice.call("image", image))["ok"]
    bob = await people("bob")
    history = (await bob.join("lobby"))["history"]
    assert [m["image"]["name"] for m in history] == ["1.png", "2.png", "3.png"]


async def test_typing_reaches_the_others_in_the_room_only(people: People) -> None:
    alice = await people("alice")
    bob = await people("bob")
    carol = await people("carol")
    for user in (alice, bob):
        await user.join("lobby")
    await carol.join("design")
    await alice.client.emit("typing", {"room": "lobby", "typing": True})
    assert await bob.next("typing") == {"room": "lobby", "id": alice.id, "name": "alice",
                                        "typing": True}
    await alice.client.emit("typing", {"room": "lobby", "typing": False})
    assert (await bob.next("typing"))["typing"] is False
    await alice.client.emit("typing", {"room": "design", "typing": True})  # not her room
    await alice.client.emit("typing", {"room": ["lobby"], "typing": True})  # not a room
    await alice.client.emit("typing", "lobby")
    assert await carol.quiet("typing") == []
    assert await bob.quiet("typing", 0) == []
    assert await alice.quiet("typing", 0) == []


async def test_disconnecting_updates_presence_and_counts(people: People) -> None:
    alice = await people("alice")
    bob = await people("bob", transport="polling")
    for room in ("lobby", "design"):
        await alice.join(room)
        await bob.join(room)
    await alice.until("rooms", lambda r: counts(r) == {"lobby": 2, "design": 2})
    alice.drain("presence")
    await bob.close()
    left = [await alice.next("presence") for _ in range(2)]
    assert sorted(p["room"] for p in left) == ["design", "lobby"]
    for presence in left:
        assert presence["left"] == "bob"
        assert names(presence["members"]) == ["alice"]
    await alice.until("rooms", lambda r: counts(r) == {"lobby": 1, "design": 1})


async def test_the_web_app_serves_the_browser_bundle(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/") as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-cache"
            assert await response.text() == INDEX
        async with http.get(url + "/assets/app.js") as response:
            assert response.status == 200
            assert await response.text() == "console.log('chat');\n"
        async with http.get(url + "/favicon.svg") as response:
            assert response.status == 200
        async with http.get(url + "/assets/../../secret") as response:
            assert response.status in (403, 404)
