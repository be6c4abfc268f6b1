"""Sessions across processes (docs/api.md "Ending a session"): a session ended on one
process ends its open streams on another within a second, and its tokens are refused on
both; ``rooms.removeMember`` on one process ends the removed user's streams on another."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from integration.clients import PASSWORD, Subscription, WSClient, sse_events, sse_url
from integration.clients import TRPCError as WSError

from .clients import Api, Proc, TRPCError

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

STREAMS = ("messages.onMessage", "typing.onTyping", "presence.onPresence")


async def _subscribe_all(client: WSClient, room_id: int) -> list[Subscription]:
    subs = [await client.subscribe(path, {"roomId": room_id}) for path in STREAMS]
    for sub in subs:
        await sub.started()
    return subs


async def _last_frame(sub: Subscription, within: float) -> tuple[dict[str, Any], float]:
    """The frame that ends ``sub`` (skipping data frames) and when it came (monotonic)."""
    while True:
        frame = await sub.next(within)
        if frame.get("result", {}).get("type") != "data":
            return frame, time.monotonic()


async def _refused(api: Api, proc: Proc, token: str) -> str:
    with pytest.raises(TRPCError) as info:
        await api.call(proc, "auth.me", None, token)
    return info.value.code


async def test_logout_all_on_one_process_ends_the_users_streams_on_another_within_a_second(
    cluster: Callable[..., list[Proc]], api: Api, http: httpx.AsyncClient
) -> None:
    a, b = cluster(2)
    alice, bob = await api.register(a), await api.register(b)
    room_id = await api.room(a, alice, [bob])
    second = await api.call(b, "auth.login", {"username": alice.username, "password": PASSWORD})
    on_b = await WSClient.connect(f"{b.ws_url}/", alice.token)
    bystander = await WSClient.connect(f"{b.ws_url}/", bob.token)
    try:
        subs = await _subscribe_all(on_b, room_id)
        kept = await bystander.subscribe("messages.onMessage", {"roomId": room_id})
        await kept.started()
        url = sse_url(
            f"{b.http_url}/trpc", "messages.onMessage", {"roomId": room_id}, second["token"]
        )
        async with http.stream("GET", url) as response:
            events = sse_events(response)
            assert (await anext(events))["event"] == "connected"

            called = time.monotonic()
            await api.call(a, "auth.logoutAll", None, alice.token)
            replied = time.monotonic()
            sse_event = await asyncio.wait_for(anext(events), 5)
            sse_seconds = time.monotonic() - replied
            ends = [await _last_frame(sub, 5) for sub in subs]

        ws_seconds = max(at for _, at in ends) - replied
        print(
            f"\n[scaleout sessions] logoutAll on A (call {(replied - called) * 1000:.0f} ms) -> "
            f"alice's {len(subs)} WebSocket streams on B ended {ws_seconds * 1000:.0f} ms "
            f"after the reply, her SSE stream on B {sse_seconds * 1000:.0f} ms after it"
        )
        for frame, _ in ends:
            assert frame["error"]["data"]["code"] == "UNAUTHORIZED", frame
        assert sse_event["event"] == "serialized-error"
        assert orjson.loads(sse_event["data"])["data"]["code"] == "UNAUTHORIZED"
        assert ws_seconds < 1.0 and sse_seconds < 1.0
        # Both sessions' tokens are refused on both processes, on every transport.
        for proc in (a, b):
            for token in (alice.token, second["token"]):
                assert await _refused(api, proc, token) == "UNAUTHORIZED"
        with pytest.raises(WSError) as ws_info:
            await on_b.call("auth.me")
        assert ws_info.value.code == "UNAUTHORIZED"
        # Bob, on the same process and room, is untouched.
        sent = await api.call(a, "messages.send", {"roomId": room_id, "text": "hi"}, bob.token)
        assert (await kept.data())["data"]["message"]["id"] == sent["id"]
    finally:
        await on_b.close()
        await bystander.close()


async def test_refresh_reuse_on_one_process_ends_the_session_on_another(
    cluster: Callable[..., list[Proc]], api: Api
) -> None:
    a, b = cluster(2)
    alice = await api.register(a)
    room_id = await api.room(a, alice, [])
    renewed = await api.call(b, "auth.refresh", {"refreshToken": alice.refresh_token})
    on_b = await WSClient.connect(f"{b.ws_url}/", renewed["token"])
    try:
        (live,) = [await on_b.subscribe("messages.onMessage", {"roomId": room_id})]
        await live.started()
        assert (await api.call(b, "auth.me", None, alice.token))["id"] == alice.id  # cached live
        with pytest.raises(TRPCError) as info:
            await api.call(a, "auth.refresh", {"refreshToken": alice.refresh_token})
        assert info.value.code == "UNAUTHORIZED"
        replied = time.monotonic()
        frame, at = await _last_frame(live, 5)
        print(
            f"\n[scaleout sessions] refresh reuse on A -> the session's stream on B ended "
            f"{(at - replied) * 1000:.0f} ms after the reply"
        )
        assert frame["error"]["data"]["code"] == "UNAUTHORIZED"
        assert at - replied < 1.0
        for proc in (a, b):
            for token in (alice.token, renewed["token"]):
                assert await _refused(api, proc, token) == "UNAUTHORIZED"
        with pytest.raises(TRPCError):
            await api.call(b, "auth.refresh", {"refreshToken": renewed["refreshToken"]})
    finally:
        await on_b.close()


async def test_remove_member_on_one_process_ends_their_streams_on_another_within_a_second(
    cluster: Callable[..., list[Proc]], api: Api
) -> None:
    a, b = cluster(2)
    owner, bob = await api.register(a), await api.register(b)
    room_id = await api.room(a, owner, [bob])
    on_b = await WSClient.connect(f"{b.ws_url}/", bob.token)
    try:
        subs = await _subscribe_all(on_b, room_id)
        called = time.monotonic()
        await api.call(a, "rooms.removeMember", {"roomId": room_id, "userId": bob.id}, owner.token)
        replied = time.monotonic()
        ends = [await _last_frame(sub, 5) for sub in subs]
        seconds = max(at for _, at in ends) - replied
        print(
            f"\n[scaleout sessions] removeMember on A (call {(replied - called) * 1000:.0f} ms) "
            f"-> the removed user's {len(subs)} streams on B completed "
            f"{seconds * 1000:.0f} ms after the reply"
        )
        for (frame, _), sub in zip(ends, subs, strict=True):
            assert frame == {"id": sub.id, "result": {"type": "stopped"}}, frame
        assert seconds < 1.0
        again = await on_b.subscribe("messages.onMessage", {"roomId": room_id})
        assert (await again.next())["error"]["data"]["code"] == "FORBIDDEN"
        for proc in (a, b):
            with pytest.raises(TRPCError) as info:
                await api.call(proc, "messages.list", {"roomId": room_id}, bob.token)
            assert info.value.code == "FORBIDDEN"
    finally:
        await on_b.close()
