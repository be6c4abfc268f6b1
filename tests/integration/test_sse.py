"""``messages.onMessage`` over Server-Sent Events (httpSubscriptionLink), raw."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from .clients import Api, WSClient, sse_events, sse_url
from .conftest import Server


async def test_sse_stream_with_connection_params_token_resumes_after_last_event_id(
    api: Api, http: httpx.AsyncClient, server: Server
) -> None:
    alice = await api.register("sse")
    room = await api.room(alice)
    for text in ("a", "b", "c"):
        await api.send(alice, room["id"], text)
    url = sse_url(
        server.trpc_url,
        "messages.onMessage",
        {"roomId": room["id"], "lastEventId": "1"},
        alice.token,
    )
    async with http.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
        assert (await anext(events))["event"] == "connected"
        replayed = [await anext(events) for _ in range(2)]
    assert [e["id"] for e in replayed] == ["2", "3"]
    assert [orjson.loads(e["data"])["message"]["text"] for e in replayed] == ["b", "c"]


async def test_sse_refusal_is_a_serialized_error_event(
    api: Api, http: httpx.AsyncClient, server: Server
) -> None:
    alice = await api.register("sse")
    mallory = await api.register("sse")
    room = await api.room(alice, private=True)
    url = sse_url(server.trpc_url, "messages.onMessage", {"roomId": room["id"]}, mallory.token)
    async with http.stream("GET", url) as response:
        events = [e async for e in sse_events(response)]
    assert [e["event"] for e in events] == ["connected", "serialized-error"]
    assert orjson.loads(events[1]["data"])["data"]["code"] == "FORBIDDEN"


async def test_message_sent_after_sse_connected_is_delivered(
    api: Api, http: httpx.AsyncClient, server: Server
) -> None:
    alice = await api.register("sse")
    room = await api.room(alice)
    url = sse_url(server.trpc_url, "messages.onMessage", {"roomId": room["id"]}, alice.token)
    for attempt in range(400):
        async with http.stream("GET", url) as response:
            events = sse_events(response)
            assert (await anext(events))["event"] == "connected"
            await api.send(alice, room["id"], f"first {attempt}")
            await asyncio.sleep(0.02)
            await api.send(alice, room["id"], f"second {attempt}")
            first = orjson.loads((await anext(events))["data"])
        assert first["message"]["text"] == f"first {attempt}", f"lost at attempt {attempt}"


async def test_an_sse_stream_counts_for_presence_until_it_is_closed(
    api: Api, http: httpx.AsyncClient, server: Server, ws: Callable[..., Any]
) -> None:
    alice = await api.register("sse")
    bob = await api.register("sse")
    room = await api.room(alice, bob)
    watcher: WSClient = await ws(alice.token)
    presence = await watcher.subscribe("presence.onPresence", {"roomId": room["id"]})
    await presence.started()
    assert (await presence.data())["online"] == []
    url = sse_url(server.trpc_url, "messages.onMessage", {"roomId": room["id"]}, bob.token)
    async with http.stream("GET", url) as response:
        events = sse_events(response)
        assert (await anext(events))["event"] == "connected"
        online = await presence.data()
        assert [u["id"] for u in online["online"]] == [bob.id]
    assert (await presence.data())["online"] == []
