"""Subscriptions over WebSocket and SSE, against wirechat and the Node baseline:
tracked ids, resume after an id, forced disconnects, server restarts, fresh credentials."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from wirechat.client import Client, Event, Subscription, TRPCClientError

from .conftest import User, make_room, register
from .proxy import Relay
from .servers import Server

TRANSPORTS = ["ws", "sse"]


def subscriber(url: str, ws_url: str, transport: str, token: str, **kw: Any) -> Client:
    """A client that sends the token the way each transport allows: connectionParams
    on the WebSocket, the Authorization header on SSE (both servers read both)."""
    if transport == "ws":
        return Client(url, ws_url=ws_url, connection_params={"token": token}, **kw)
    return Client(url, subscriptions="sse", headers={"authorization": f"Bearer {token}"}, **kw)


async def collect(sub: Subscription, count: int, within: float = 60.0) -> list[Event]:
    events: list[Event] = []

    async def read() -> None:
        async for event in sub:
            events.append(event)
            if len(events) == count:
                return

    await asyncio.wait_for(read(), within)
    return events


async def send(server: Server, user: User, room: int, texts: list[str]) -> list[dict[str, Any]]:
    async with Client(server.url, headers=user.headers) as client:
        return [await client.mutate("messages.send", {"roomId": room, "text": t}) for t in texts]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_subscription_yields_tracked_events_in_order(
    server: Server, user: User, other: User, room: int, transport: str
) -> None:
    client = subscriber(server.url, server.ws_url, transport, other.token)
    async with client, client.subscribe("messages.onMessage", {"roomId": room}) as sub:
        await asyncio.wait_for(sub.started(), 30)
        sent = await send(server, user, room, ["one", "two", "three"])
        events = await collect(sub, 3)
    assert [e.data["message"]["text"] for e in events] == ["one", "two", "three"]
    assert [e.data["message"]["id"] for e in events] == [m["id"] for m in sent]
    assert all(e.data["type"] == "created" for e in events)
    ids = [int(e.id) for e in events if e.id is not None]
    assert len(ids) == 3 and ids == sorted(ids) and len(set(ids)) == 3
    assert sub.last_event_id == events[-1].id


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_last_event_id_resumes_after_that_event(
    server: Server, user: User, room: int, transport: str
) -> None:
    await send(server, user, room, [f"m{i}" for i in range(5)])
    async with subscriber(server.url, server.ws_url, transport, user.token) as client:
        first = client.subscribe("messages.onMessage", {"roomId": room}, last_event_id="0")
        async with first:
            backlog = await collect(first, 5)
        resumed = client.subscribe(
            "messages.onMessage", {"roomId": room}, last_event_id=backlog[1].id
        )
        async with resumed:
            rest = await collect(resumed, 3)
    assert [e.data["message"]["text"] for e in backlog] == [f"m{i}" for i in range(5)]
    assert [e.id for e in rest] == [e.id for e in backlog[2:]]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_subscription_error_is_raised_from_the_loop(
    server: Server, user: User, transport: str
) -> None:
    outsider = await register(server.url, "x")
    private = await make_room(server.url, user)
    async with subscriber(server.url, server.ws_url, transport, outsider.token) as client:
        sub = client.subscribe("messages.onMessage", {"roomId": private})
        with pytest.raises(TRPCClientError) as caught:
            async for _ in sub:
                pass
    assert caught.value.code == "FORBIDDEN"
    assert caught.value.http_status == 403
    assert not sub.active


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_unauthenticated_subscription_fails_without_retrying(
    server: Server, room: int, transport: str
) -> None:
    async with subscriber(server.url, server.ws_url, transport, "not-a-token") as client:
        sub = client.subscribe("messages.onMessage", {"roomId": room})
        with pytest.raises(TRPCClientError) as caught:
            await asyncio.wait_for(collect(sub, 1), 30)
    assert caught.value.code == "UNAUTHORIZED"
    assert caught.value.http_status == 401


async def _reader(sub: Subscription, into: list[Event], done: asyncio.Event, n: int) -> None:
    async for event in sub:
        into.append(event)
        if len({e.id for e in into}) >= n:
            done.set()
            return


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_thousand_messages_with_forced_disconnects_lose_and_duplicate_nothing(
    server: Server,
    user: User,
    other: User,
    room: int,
    transport: str,
    relay: Callable[[int], Any],
) -> None:
    """The client sits behind a relay whose sockets are killed every 50 messages while a
    sender writes 1,000 messages; the client must reconnect and resume after its last
    tracked id each time, so it yields every message exactly once, in order."""
    total = 1000
    r: Relay = await relay(server.ws_port if transport == "ws" else server.port)
    ws_url = f"ws://127.0.0.1:{r.port}"
    url = f"http://127.0.0.1:{r.port}/trpc" if transport == "sse" else server.url
    events: list[Event] = []
    done = asyncio.Event()
    async with subscriber(url, ws_url, transport, other.token) as client:
        sub = client.subscribe("messages.onMessage", {"roomId": room})
        async with sub:
            await asyncio.wait_for(sub.started(), 30)
            reader = asyncio.ensure_future(_reader(sub, events, done, total))
            async with Client(server.url, headers=user.headers) as sender:
                for i in range(total):
                    await sender.mutate("messages.send", {"roomId": room, "text": f"n{i}"})
                    if i % 50 == 25:
                        r.cut()
            try:
                await asyncio.wait_for(done.wait(), 120)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
    texts = [e.data["message"]["text"] for e in events]
    assert texts == [f"n{i}" for i in range(total)]
    assert len({e.id for e in events}) == total
    assert r.cuts == 20
    assert sub.starts > 10  # it really did come back after the cuts


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_server_restart_resumes_the_stream(
    fresh_server: Callable[..., Server], transport: str
) -> None:
    """SIGTERM (the server tells WebSocket clients to reconnect, then goes away), start
    again on the same ports and data: the subscription resumes with nothing lost."""
    srv = fresh_server()
    owner, reader_user = await register(srv.url), await register(srv.url)
    room = await make_room(srv.url, owner, reader_user)
    fast = {"retry_delay": lambda attempt: 0.2}
    events: list[Event] = []
    done = asyncio.Event()
    async with subscriber(srv.url, srv.ws_url, transport, reader_user.token, **fast) as client:
        sub = client.subscribe("messages.onMessage", {"roomId": room})
        async with sub:
            await asyncio.wait_for(sub.started(), 30)
            reader = asyncio.ensure_future(_reader(sub, events, done, 6))
            await send(srv, owner, room, ["a", "b", "c"])
            await asyncio.wait_for(_until(lambda: len(events) == 3), 30)
            await asyncio.to_thread(srv.restart)
            await send(srv, owner, room, ["d", "e", "f"])
            try:
                await asyncio.wait_for(done.wait(), 60)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
    assert [e.data["message"]["text"] for e in events] == list("abcdef")
    assert sub.starts >= 2


async def _until(predicate: Callable[[], bool]) -> None:
    """Poll a counter the client keeps (it offers no event for it)."""
    while not predicate():  # noqa: ASYNC110
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_credentials_are_fetched_again_on_reconnect(
    server: Server,
    user: User,
    other: User,
    room: int,
    transport: str,
    relay: Callable[[int], Any],
) -> None:
    r: Relay = await relay(server.ws_port if transport == "ws" else server.port)
    fetched = 0

    async def params() -> dict[str, str]:
        nonlocal fetched
        fetched += 1
        return {"token": other.token}

    def headers() -> dict[str, str]:
        nonlocal fetched
        fetched += 1
        return other.headers

    if transport == "ws":
        client = Client(ws_url=f"ws://127.0.0.1:{r.port}", connection_params=params)
    else:
        client = Client(f"http://127.0.0.1:{r.port}/trpc", headers=headers)
    async with client, client.subscribe("messages.onMessage", {"roomId": room}) as sub:
        await asyncio.wait_for(sub.started(), 30)
        r.cut()
        await asyncio.wait_for(_until(lambda: sub.starts == 2), 30)
        await send(server, user, room, ["after"])
        (event,) = await collect(sub, 1)
    assert event.data["message"]["text"] == "after"
    assert fetched == 2


async def test_several_ws_subscriptions_share_one_socket(
    server: Server, user: User, other: User, room: int
) -> None:
    async with Client(
        server.url, ws_url=server.ws_url, connection_params={"token": other.token}
    ) as c:
        subs = [c.subscribe("messages.onMessage", {"roomId": room}) for _ in range(3)]
        for sub in subs:
            await asyncio.wait_for(sub.started(), 30)
        await send(server, user, room, ["x"])
        got = [await collect(sub, 1) for sub in subs]
        await subs[0].aclose()
        await send(server, user, room, ["y"])
        rest = [await collect(sub, 1) for sub in subs[1:]]
        assert c.ws.connections == 1
    assert {e[0].data["message"]["text"] for e in got} == {"x"}
    assert {e[0].data["message"]["text"] for e in rest} == {"y"}
