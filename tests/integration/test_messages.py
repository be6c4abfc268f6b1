"""``messages.*`` through the wire: idempotent send, history pages, resume after a
deletion, the send rate limit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from .clients import Api, TRPCError, WSClient, issue_paths
from .conftest import Server


async def test_send_retried_20_times_concurrently_over_http_and_ws_stores_one_message(
    api: Api, ws: Callable[..., Any]
) -> None:
    alice = await api.register("idem")
    bob = await api.register("idem")
    room = await api.room(alice, bob)
    watcher: WSClient = await ws(bob.token)
    stream = await watcher.subscribe("messages.onMessage", {"roomId": room["id"]})
    await stream.started()
    senders = [await ws(alice.token) for _ in range(4)]
    input = {"roomId": room["id"], "text": "only once", "clientMessageId": "retry-me"}

    results = await asyncio.gather(
        *(api.call("messages.send", input, alice.token) for _ in range(20)),
        *(senders[i % 4].call("messages.send", input) for i in range(20)),
    )

    assert len({r["id"] for r in results}) == 1, results
    assert {r["createdAt"] for r in results} == {results[0]["createdAt"]}
    assert results[0]["clientMessageId"] == "retry-me"
    event = await stream.data()
    assert event["data"]["type"] == "created"
    assert event["data"]["message"]["id"] == results[0]["id"]
    await stream.silence(0.7)  # no second event
    page = await api.call("messages.list", {"roomId": room["id"]}, bob.token)
    assert [m["id"] for m in page["items"]] == [results[0]["id"]]


async def test_same_client_message_id_from_another_author_is_another_message(
    api: Api,
) -> None:
    alice = await api.register("idem")
    bob = await api.register("idem")
    room = await api.room(alice, bob)
    first = await api.send(alice, room["id"], "a", clientMessageId="same")
    second = await api.send(bob, room["id"], "b", clientMessageId="same")
    again = await api.send(alice, room["id"], "a changed", clientMessageId="same")
    assert first["id"] != second["id"]
    assert again == first


async def test_history_pages_newest_first_skipping_deleted_until_next_cursor_is_null(
    api: Api,
) -> None:
    alice = await api.register("page")
    room = await api.room(alice)
    empty = await api.call("messages.list", {"roomId": room["id"]}, alice.token)
    assert empty == {"items": [], "nextCursor": None}
    ids = [(await api.send(alice, room["id"], f"m{i}"))["id"] for i in range(7)]
    await api.call("messages.delete", {"messageId": ids[2]}, alice.token)
    visible = [i for i in reversed(ids) if i != ids[2]]  # newest first

    pages, cursor = [], None
    while True:
        page = await api.call(
            "messages.list", {"roomId": room["id"], "cursor": cursor, "limit": 3}, alice.token
        )
        pages.append([m["id"] for m in page["items"]])
        cursor = page["nextCursor"]
        if cursor is None:
            break
        assert cursor == page["items"][-1]["id"]  # the smallest id of the page
    assert pages == [visible[:3], visible[3:]]  # the last page is exactly full: no 3rd

    past_the_end = await api.call(
        "messages.list", {"roomId": room["id"], "cursor": min(ids)}, alice.token
    )
    assert past_the_end == {"items": [], "nextCursor": None}
    one = await api.call("messages.list", {"roomId": room["id"], "limit": 1}, alice.token)
    assert [m["id"] for m in one["items"]] == visible[:1]
    assert one["nextCursor"] == visible[0]


async def test_history_default_limit_is_50_and_limit_accepts_1_to_100(api: Api) -> None:
    alice = await api.register("page")
    room = await api.room(alice)
    for i in range(51):
        await api.send(alice, room["id"], f"n{i}")
    page = await api.call("messages.list", {"roomId": room["id"]}, alice.token)
    assert len(page["items"]) == 50
    assert page["nextCursor"] == page["items"][-1]["id"]
    rest = await api.call(
        "messages.list", {"roomId": room["id"], "cursor": page["nextCursor"]}, alice.token
    )
    assert len(rest["items"]) == 1 and rest["nextCursor"] is None
    full = await api.call("messages.list", {"roomId": room["id"], "limit": 100}, alice.token)
    assert len(full["items"]) == 51 and full["nextCursor"] is None
    for limit in (0, 101):
        with pytest.raises(TRPCError) as info:
            await api.call("messages.list", {"roomId": room["id"], "limit": limit}, alice.token)
        assert info.value.code == "BAD_REQUEST"
        assert ["limit"] in issue_paths(info.value)


async def test_resumed_stream_replays_a_since_deleted_message_with_empty_text(
    api: Api, ws: Callable[..., Any]
) -> None:
    alice = await api.register("replay")
    bob = await api.register("replay")
    room = await api.room(alice, bob)
    client: WSClient = await ws(bob.token)
    stream = await client.subscribe("messages.onMessage", {"roomId": room["id"]})
    await stream.started()
    await api.send(alice, room["id"], "before")
    seen = await stream.data()
    client.abort()  # bob drops off

    secret = await api.send(alice, room["id"], "regrettable")
    await api.call("messages.delete", {"messageId": secret["id"]}, alice.token)
    after = await api.send(alice, room["id"], "after")

    again: WSClient = await ws(bob.token)
    resumed = await again.subscribe(
        "messages.onMessage", {"roomId": room["id"]}, last_event_id=seen["id"]
    )
    await resumed.started()
    events = [await resumed.data() for _ in range(3)]
    assert [int(e["id"]) for e in events] == [int(seen["id"]) + n for n in (1, 2, 3)]
    created, deleted, last = (e["data"] for e in events)
    assert created["type"] == "created" and created["message"]["id"] == secret["id"]
    assert created["message"]["text"] == ""
    assert created["message"]["deletedAt"] is not None
    assert deleted["type"] == "deleted" and deleted["message"]["id"] == secret["id"]
    assert deleted["message"]["text"] == "" and deleted["message"]["deletedAt"]
    assert last["message"]["id"] == after["id"] and last["message"]["text"] == "after"
    assert "regrettable" not in str(events)
    await resumed.silence(0.3)


async def test_stream_without_last_event_id_starts_live(api: Api, ws: Callable[..., Any]) -> None:
    alice = await api.register("live")
    room = await api.room(alice)
    await api.send(alice, room["id"], "old")
    client: WSClient = await ws(alice.token)
    stream = await client.subscribe("messages.onMessage", {"roomId": room["id"]})
    await stream.started()
    await api.send(alice, room["id"], "new")
    event = await stream.data()
    assert event["data"]["message"]["text"] == "new"
    assert event["id"] == "2"


async def test_31st_send_within_10_seconds_is_too_many_requests(
    start_server: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    srv = start_server()  # default limit: 30 messages per user per 10 s
    api = Api(srv.trpc_url, http)
    alice = await api.register("rate")
    bob = await api.register("rate")
    room = await api.room(alice, bob)
    for i in range(30):
        await api.send(alice, room["id"], f"ok {i}")
    with pytest.raises(TRPCError) as info:
        await api.send(alice, room["id"], "one too many")
    assert info.value.code == "TOO_MANY_REQUESTS"
    assert info.value.http_status == 429
    await api.send(bob, room["id"], "bob has his own budget")
    page = await api.call("messages.list", {"roomId": room["id"], "limit": 100}, alice.token)
    assert len(page["items"]) == 31


async def test_retry_of_a_stored_send_returns_it_even_when_the_rate_limit_is_spent(
    start_server: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    srv = start_server()  # default limit: 30 messages per user per 10 s
    api = Api(srv.trpc_url, http)
    alice = await api.register("rate")
    room = await api.room(alice)
    first = await api.send(alice, room["id"], "m0", clientMessageId="c0")
    for i in range(1, 30):
        await api.send(alice, room["id"], f"m{i}", clientMessageId=f"c{i}")
    retried = await api.send(alice, room["id"], "m0", clientMessageId="c0")
    assert retried == first
