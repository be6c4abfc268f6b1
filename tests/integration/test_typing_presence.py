"""``typing.*`` (ephemeral, expires after 5 s) and ``presence.onPresence`` (snapshots)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .clients import Api, Subscription, WSClient


async def test_typing_true_reaches_subscribers_then_false_about_5_seconds_later_once(
    api: Api, ws: Callable[..., Any]
) -> None:
    alice = await api.register("typing", display_name="Alice T")
    bob = await api.register("typing")
    room = await api.room(alice, bob)
    client: WSClient = await ws(bob.token)
    sub = await client.subscribe("typing.onTyping", {"roomId": room["id"]})
    await sub.started()

    started = time.monotonic()
    assert await api.call("typing.set", {"roomId": room["id"], "isTyping": True}, alice.token) == {
        "ok": True
    }
    on = await sub.data()
    assert on == {
        "roomId": room["id"],
        "user": {"id": alice.id, "username": alice.username, "displayName": "Alice T"},
        "isTyping": True,
    }
    off = await sub.data(within=8)
    elapsed = time.monotonic() - started
    assert off == {**on, "isTyping": False}
    assert 4.5 <= elapsed <= 7.0, elapsed
    await sub.silence(1.0)  # expired once, not repeated


async def test_typing_false_is_delivered_at_once(api: Api, ws: Callable[..., Any]) -> None:
    alice = await api.register("typing")
    room = await api.room(alice)
    client: WSClient = await ws(alice.token)
    sub = await client.subscribe("typing.onTyping", {"roomId": room["id"]})
    await sub.started()
    await api.call("typing.set", {"roomId": room["id"], "isTyping": True}, alice.token)
    assert (await sub.data())["isTyping"] is True
    await api.call("typing.set", {"roomId": room["id"], "isTyping": False}, alice.token)
    assert (await sub.data(within=1.0))["isTyping"] is False


def _online(snapshot: dict[str, Any]) -> list[int]:
    return [u["id"] for u in snapshot["online"]]


async def test_presence_starts_with_a_snapshot_and_sends_a_new_one_on_each_change(
    api: Api, ws: Callable[..., Any]
) -> None:
    alice = await api.register("pres")
    bob = await api.register("pres")
    carol = await api.register("pres")
    room = await api.room(alice, bob, carol)
    rid = {"roomId": room["id"]}
    watcher: WSClient = await ws(carol.token)
    presence: Subscription = await watcher.subscribe("presence.onPresence", rid)
    await presence.started()
    first = await presence.data()
    assert first == {"roomId": room["id"], "online": []}

    bob_ws: WSClient = await ws(bob.token)
    bob_stream = await bob_ws.subscribe("messages.onMessage", rid)
    await bob_stream.started()
    snap = await presence.data()
    assert _online(snap) == [bob.id]
    assert set(snap["online"][0]) == {"id", "username", "displayName", "createdAt"}

    alice_ws: WSClient = await ws(alice.token)
    alice_stream = await alice_ws.subscribe("messages.onMessage", rid)
    await alice_stream.started()
    assert _online(await presence.data()) == sorted([alice.id, bob.id])

    # a second stream of an online user changes nothing
    alice_second = await alice_ws.subscribe("messages.onMessage", rid)
    await alice_second.started()
    await presence.silence(0.4)

    # a newcomer's first event is the current snapshot
    late: Subscription = await alice_ws.subscribe("presence.onPresence", rid)
    await late.started()
    assert _online(await late.data()) == sorted([alice.id, bob.id])

    await bob_stream.stop()
    assert _online(await presence.data()) == [alice.id]

    await alice_second.stop()
    await presence.silence(0.4)  # alice still holds one stream
    alice_ws.abort()  # the last one goes with the connection
    assert _online(await presence.data()) == []
