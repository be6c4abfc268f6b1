"""Sessions through the wire (docs/api.md "Sessions"): refresh and its rotation,
logout, logoutAll, password change, in-band refresh on a WebSocket, open streams ended
by revocation or expiry, and ``rooms.removeMember`` on open streams."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from .clients import PASSWORD, Api, Subscription, TRPCError, User, WSClient, sse_events, sse_url
from .conftest import Server


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return claims


async def _refused(api: Api, token: str, path: str = "auth.me") -> str:
    with pytest.raises(TRPCError) as info:
        await api.call(path, None, token)
    return info.value.code


async def _ended_within(sub: Subscription, within: float) -> tuple[dict[str, Any], float]:
    """The error frame that ends ``sub`` (then its ``stopped``), and how long it took;
    data frames before it (presence snapshots) are skipped."""
    started = time.monotonic()
    frame = await sub.next(within)
    while frame.get("result", {}).get("type") == "data":
        frame = await sub.next(within)
    took = time.monotonic() - started
    assert "error" in frame, frame
    assert (await sub.next())["result"]["type"] == "stopped"
    return frame, took


async def test_register_and_login_return_a_refresh_token_and_a_token_naming_the_session(
    api: Api,
) -> None:
    alice = await api.register("ses")
    logged_in = await api.call("auth.login", {"username": alice.username, "password": PASSWORD})
    assert alice.refresh_token and logged_in["refreshToken"]
    assert alice.refresh_token != logged_in["refreshToken"]
    first, second = _claims(alice.token), _claims(logged_in["token"])
    assert isinstance(first["sid"], int) and first["sid"] != second["sid"]
    assert first["userId"] == second["userId"] == alice.id


async def test_refresh_rotates_keeps_the_session_and_the_old_access_token(api: Api) -> None:
    alice = await api.register("ses")
    renewed = await api.call("auth.refresh", {"refreshToken": alice.refresh_token})
    assert renewed["user"]["id"] == alice.id
    assert renewed["refreshToken"] != alice.refresh_token
    assert _claims(renewed["token"])["sid"] == _claims(alice.token)["sid"]
    for token in (alice.token, renewed["token"]):
        assert (await api.call("auth.me", None, token))["id"] == alice.id
    again = await api.call("auth.refresh", {"refreshToken": renewed["refreshToken"]})
    assert (await api.call("auth.me", None, again["token"]))["id"] == alice.id


async def test_reusing_a_rotated_refresh_token_ends_the_session(api: Api) -> None:
    alice = await api.register("ses")
    other = await api.call("auth.login", {"username": alice.username, "password": PASSWORD})
    renewed = await api.call("auth.refresh", {"refreshToken": alice.refresh_token})
    with pytest.raises(TRPCError) as info:
        await api.call("auth.refresh", {"refreshToken": alice.refresh_token})
    assert info.value.code == "UNAUTHORIZED"
    # Every token of that session is refused now; the user's other session is not.
    assert await _refused(api, alice.token) == "UNAUTHORIZED"
    assert await _refused(api, renewed["token"]) == "UNAUTHORIZED"
    with pytest.raises(TRPCError) as info:
        await api.call("auth.refresh", {"refreshToken": renewed["refreshToken"]})
    assert info.value.code == "UNAUTHORIZED"
    assert (await api.call("auth.me", None, other["token"]))["id"] == alice.id


async def test_an_unknown_refresh_token_is_unauthorized(api: Api) -> None:
    with pytest.raises(TRPCError) as info:
        await api.call("auth.refresh", {"refreshToken": "x" * 43})
    assert info.value.code == "UNAUTHORIZED"


async def test_logout_ends_only_the_callers_session(api: Api) -> None:
    alice = await api.register("ses")
    other = await api.call("auth.login", {"username": alice.username, "password": PASSWORD})
    assert await api.call("auth.logout", None, alice.token) == {"ok": True}
    assert await _refused(api, alice.token) == "UNAUTHORIZED"
    assert await _refused(api, alice.token, "auth.logout") == "UNAUTHORIZED"
    with pytest.raises(TRPCError):
        await api.call("auth.refresh", {"refreshToken": alice.refresh_token})
    assert (await api.call("auth.me", None, other["token"]))["id"] == alice.id


async def test_logout_all_ends_every_session_of_the_caller_and_no_one_elses(api: Api) -> None:
    alice, bob = await api.register("ses"), await api.register("ses")
    other = await api.call("auth.login", {"username": alice.username, "password": PASSWORD})
    assert await api.call("auth.logoutAll", None, other["token"]) == {"ok": True}
    for token in (alice.token, other["token"]):
        assert await _refused(api, token) == "UNAUTHORIZED"
    assert (await api.call("auth.me", None, bob.token))["id"] == bob.id
    fresh = await api.call("auth.login", {"username": alice.username, "password": PASSWORD})
    assert (await api.call("auth.me", None, fresh["token"]))["id"] == alice.id


async def test_change_password_needs_the_current_one_and_ends_every_other_session(
    api: Api,
) -> None:
    alice = await api.register("ses")
    with pytest.raises(TRPCError) as info:
        await api.call(
            "auth.changePassword",
            {"currentPassword": "wrong password", "newPassword": "new password 1"},
            alice.token,
        )
    assert info.value.code == "FORBIDDEN"
    assert (await api.call("auth.me", None, alice.token))["id"] == alice.id

    result = await api.call(
        "auth.changePassword",
        {"currentPassword": PASSWORD, "newPassword": "new password 1"},
        alice.token,
    )
    assert set(result) == {"token", "refreshToken", "user"}
    assert await _refused(api, alice.token) == "UNAUTHORIZED"
    assert (await api.call("auth.me", None, result["token"]))["id"] == alice.id
    with pytest.raises(TRPCError) as info:
        await api.call("auth.login", {"username": alice.username, "password": PASSWORD})
    assert info.value.code == "UNAUTHORIZED"
    await api.call("auth.login", {"username": alice.username, "password": "new password 1"})


async def test_use_token_over_http_checks_the_token(api: Api) -> None:
    alice = await api.register("ses")
    assert (await api.call("auth.useToken", {"token": alice.token}))["user"]["id"] == alice.id
    await api.call("auth.logout", None, alice.token)
    with pytest.raises(TRPCError) as info:
        await api.call("auth.useToken", {"token": alice.token})
    assert info.value.code == "UNAUTHORIZED"


# ---- WebSocket: in-band refresh ------------------------------------------------------------


async def test_refresh_over_the_socket_switches_it_and_keeps_its_subscription(
    api: Api, ws: Callable[..., Any]
) -> None:
    alice = await api.register("ses")
    room = await api.room(alice)
    client: WSClient = await ws(alice.token)
    live = await client.subscribe("messages.onMessage", {"roomId": room["id"]})
    await live.started()
    renewed = await client.call("auth.refresh", {"refreshToken": alice.refresh_token})
    # Same session; that the socket now runs on the new token's expiry is shown with short
    # tokens by the official client (tests/conformance/node/chat/sessions.test.mjs).
    assert _claims(renewed["token"])["sid"] == _claims(alice.token)["sid"]
    sent = await api.send(alice, room["id"], "after refresh")
    assert (await live.data())["data"]["message"]["id"] == sent["id"]
    assert (await client.call("auth.me"))["id"] == alice.id


async def test_use_token_over_the_socket_switches_to_another_session_of_the_same_user(
    api: Api, ws: Callable[..., Any]
) -> None:
    alice = await api.register("ses")
    room = await api.room(alice)
    other = await api.call("auth.login", {"username": alice.username, "password": PASSWORD})
    client: WSClient = await ws(alice.token)
    live = await client.subscribe("messages.onMessage", {"roomId": room["id"]})
    await live.started()
    assert (await client.call("auth.useToken", {"token": other["token"]}))["user"]["id"] == (
        alice.id
    )
    # The first session ending no longer touches this connection...
    await api.call("auth.logout", None, alice.token)
    await live.silence(0.5)
    assert (await client.call("auth.me"))["id"] == alice.id
    # ...the second one's does.
    await api.call("auth.logout", None, other["token"])
    frame, _ = await _ended_within(live, 2)
    assert frame["error"]["data"]["code"] == "UNAUTHORIZED"


async def test_use_token_of_another_user_over_the_socket_is_forbidden(
    api: Api, ws: Callable[..., Any]
) -> None:
    alice, bob = await api.register("ses"), await api.register("ses")
    client: WSClient = await ws(alice.token)
    with pytest.raises(TRPCError) as info:
        await client.call("auth.useToken", {"token": bob.token})
    assert info.value.code == "FORBIDDEN"
    with pytest.raises(TRPCError) as info:
        await client.call("auth.refresh", {"refreshToken": bob.refresh_token})
    assert info.value.code == "FORBIDDEN"
    assert (await client.call("auth.me"))["id"] == alice.id
    # bob's refresh token was not spent by the refused call.
    await api.call("auth.refresh", {"refreshToken": bob.refresh_token})


async def test_an_anonymous_socket_can_sign_in_with_use_token(
    api: Api, ws: Callable[..., Any]
) -> None:
    alice = await api.register("ses")
    client: WSClient = await ws()
    with pytest.raises(TRPCError):
        await client.call("auth.me")
    await client.call("auth.useToken", {"token": alice.token})
    assert (await client.call("auth.me"))["id"] == alice.id


# ---- revocation of open streams ------------------------------------------------------------


async def test_logout_all_ends_the_users_websocket_and_sse_streams_with_unauthorized(
    api: Api, ws: Callable[..., Any], http: httpx.AsyncClient, server: Server
) -> None:
    alice, bob = await api.register("ses"), await api.register("ses")
    room = await api.room(alice, bob)
    client: WSClient = await ws(alice.token)
    subs = [
        await client.subscribe(path, {"roomId": room["id"]})
        for path in ("messages.onMessage", "typing.onTyping", "presence.onPresence")
    ]
    for sub in subs:
        await sub.started()
    await subs[2].data()  # the presence snapshot
    bystander: WSClient = await ws(bob.token)
    kept = await bystander.subscribe("messages.onMessage", {"roomId": room["id"]})
    await kept.started()
    url = sse_url(server.trpc_url, "messages.onMessage", {"roomId": room["id"]}, alice.token)
    async with http.stream("GET", url) as response:
        events = sse_events(response)
        assert (await anext(events))["event"] == "connected"
        await api.call("auth.logoutAll", None, alice.token)
        ended = time.monotonic()
        rest = [e async for e in events]
        sse_took = time.monotonic() - ended
    assert [e["event"] for e in rest] == ["serialized-error"]
    assert orjson.loads(rest[0]["data"])["data"]["code"] == "UNAUTHORIZED"
    for sub in subs:
        frame, _ = await _ended_within(sub, 2)
        assert frame["error"]["data"]["code"] == "UNAUTHORIZED"
    assert sse_took < 1.0
    with pytest.raises(TRPCError) as info:
        await client.call("auth.me")
    assert info.value.code == "UNAUTHORIZED"
    # Another user's stream goes on.
    sent = await api.send(bob, room["id"], "still here")
    assert (await kept.data())["data"]["message"]["id"] == sent["id"]


async def test_reusing_a_refresh_token_ends_the_sessions_open_socket(
    api: Api, ws: Callable[..., Any]
) -> None:
    alice = await api.register("ses")
    room = await api.room(alice)
    client: WSClient = await ws(alice.token)
    live = await client.subscribe("messages.onMessage", {"roomId": room["id"]})
    await live.started()
    await api.call("auth.refresh", {"refreshToken": alice.refresh_token})
    with pytest.raises(TRPCError):
        await api.call("auth.refresh", {"refreshToken": alice.refresh_token})
    frame, took = await _ended_within(live, 2)
    assert frame["error"]["data"]["code"] == "UNAUTHORIZED"
    assert took < 1.0


# ---- expiry of an SSE stream ------------------------------------------------------------------


async def test_sse_stream_is_closed_without_return_after_its_token_and_the_grace_expired(
    start_server: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    srv = start_server(JWT_EXPIRES_IN="2s", TOKEN_GRACE_SECONDS="1", SSE_PING_MS="200")
    api = Api(srv.trpc_url, http)
    alice = await api.register("ses")
    room = await api.room(alice)
    exp = _claims(alice.token)["exp"]
    url = sse_url(srv.trpc_url, "messages.onMessage", {"roomId": room["id"]}, alice.token)
    async with http.stream("GET", url) as response:
        events = [e["event"] async for e in sse_events(response)]
    closed_at = time.time()
    # No `return`, no error: a last `connected` asks httpSubscriptionLink to reconnect
    # at once (with fresh connectionParams), then the stream closes.
    assert events[0] == "connected" and events[-1] == "connected"
    assert set(events[1:-1]) <= {"ping"}
    assert exp + 1 - 0.2 <= closed_at <= exp + 1 + 2.0


# ---- removal from a room ---------------------------------------------------------------------


async def test_remove_member_ends_their_streams_of_the_room_and_refuses_resume_and_history(
    api: Api, ws: Callable[..., Any]
) -> None:
    owner, bob = await api.register("own"), await api.register("rm")
    room = await api.room(owner, bob)
    elsewhere = await api.room(owner, bob)
    first = await api.send(owner, room["id"], "before")
    client: WSClient = await ws(bob.token)
    subs = [
        await client.subscribe(path, {"roomId": room["id"]})
        for path in ("messages.onMessage", "typing.onTyping", "presence.onPresence")
    ]
    other = await client.subscribe("messages.onMessage", {"roomId": elsewhere["id"]})
    for sub in [*subs, other]:
        await sub.started()
    await subs[2].data()

    result = await api.call(
        "rooms.removeMember", {"roomId": room["id"], "userId": bob.id}, owner.token
    )
    removed_at = time.monotonic()
    assert result["memberCount"] == 1
    for sub in subs:
        frame = await sub.next(2)
        while frame.get("result", {}).get("type") == "data":  # a last presence snapshot
            frame = await sub.next(2)
        assert frame == {"id": sub.id, "result": {"type": "stopped"}}  # completed, as a leave
    took = time.monotonic() - removed_at
    assert took < 1.0, took

    again = await client.subscribe("messages.onMessage", {"roomId": room["id"]}, last_event_id="0")
    assert (await again.next())["error"]["data"]["code"] == "FORBIDDEN"
    for path, input in (
        ("messages.list", {"roomId": room["id"]}),
        ("messages.send", {"roomId": room["id"], "text": "hi"}),
    ):
        with pytest.raises(TRPCError) as info:
            await api.call(path, input, bob.token)
        assert info.value.code == "FORBIDDEN"
        assert "before" not in str(info.value.shape)
    # Their other room is untouched, and a public room can be joined again.
    sent = await api.send(owner, elsewhere["id"], "other room")
    assert (await other.data())["data"]["message"]["id"] == sent["id"]
    await api.call("rooms.join", {"roomId": room["id"]}, bob.token)
    page = await api.call("messages.list", {"roomId": room["id"]}, bob.token)
    assert [m["id"] for m in page["items"]] == [first["id"]]


async def test_remove_member_refusals(api: Api) -> None:
    owner, bob, carol = (await api.register("own"), await api.register("rm"), await api.register())
    room = await api.room(owner, bob)
    direct = await api.call("rooms.openDirect", {"userId": bob.id}, owner.token)
    cases: list[tuple[User, dict[str, Any], str]] = [
        (owner, {"roomId": room["id"], "userId": owner.id}, "BAD_REQUEST"),
        (owner, {"roomId": room["id"], "userId": carol.id}, "BAD_REQUEST"),
        (owner, {"roomId": direct["id"], "userId": bob.id}, "BAD_REQUEST"),
        (bob, {"roomId": room["id"], "userId": owner.id}, "FORBIDDEN"),
        (carol, {"roomId": room["id"], "userId": bob.id}, "FORBIDDEN"),
        (owner, {"roomId": 2**40, "userId": bob.id}, "NOT_FOUND"),
    ]
    for caller, input, code in cases:
        with pytest.raises(TRPCError) as info:
            await api.call("rooms.removeMember", input, caller.token)
        assert info.value.code == code, (input, info.value.shape)
    members = await api.call("rooms.members", {"roomId": room["id"]}, owner.token)
    assert [m["id"] for m in members] == [owner.id, bob.id]
