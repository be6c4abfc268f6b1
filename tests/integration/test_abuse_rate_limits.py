"""Issue 11, point 2 and 3: every mutation that writes or fans out is rate limited,
logins and registrations per client address and failed logins per username, and a
flood of logins cannot stall the server (password hashes are bounded, not queued)."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from support.latency import allowed, p99, sample_health

from .clients import PASSWORD, Api, TRPCError, User, WSClient, unique_name
from .conftest import Server

TESTS = Path(__file__).resolve().parents[1]

LOW_LIMITS = {
    "RATE_LIMIT_EDITS": "5/1m",
    "RATE_LIMIT_ROOMS": "4/1m",
    "RATE_LIMIT_TYPING": "3/1m",
    "RATE_LIMIT_LOGIN": "6/1m",
    "RATE_LIMIT_FAILED_LOGINS": "3/1m",
    "RATE_LIMIT_REGISTER": "1000000/1s",
    "FORWARDED_ALLOW_IPS": "",
}

# Short windows, so that a test can watch a limit reset; long enough that the calls
# filling one fit in it on a loaded machine.
SESSION_LIMITS = {**LOW_LIMITS, "RATE_LIMIT_REFRESH": "3/4s", "RATE_LIMIT_CHANGE_PASSWORD": "2/4s"}

Call = Callable[[str, Any], Awaitable[Any]]


async def _too_many(call: Any) -> TRPCError:
    with pytest.raises(TRPCError) as info:
        await call
    assert info.value.code == "TOO_MANY_REQUESTS", info.value.shape
    assert info.value.http_status == 429
    return info.value


async def test_edit_and_delete_flood_is_too_many_requests_after_the_limit(
    start_server: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    srv = start_server(**LOW_LIMITS)
    api = Api(srv.trpc_url, http)
    alice = await api.register("edit")
    room = await api.room(alice)
    messages = [await api.send(alice, room["id"], f"m{i}") for i in range(3)]
    for i in range(4):
        await api.call(
            "messages.edit", {"messageId": messages[0]["id"], "text": f"e{i}"}, alice.token
        )
    await api.call("messages.delete", {"messageId": messages[1]["id"]}, alice.token)

    error = await _too_many(
        api.call("messages.edit", {"messageId": messages[0]["id"], "text": "x"}, alice.token)
    )
    assert error.shape["data"]["retryAfterMs"] > 0
    await _too_many(api.call("messages.delete", {"messageId": messages[2]["id"]}, alice.token))
    page = await api.call("messages.list", {"roomId": room["id"]}, alice.token)
    texts = {m["id"]: m["text"] for m in page["items"]}
    assert texts[messages[0]["id"]] == "e3"  # the refused edit changed nothing
    assert texts[messages[2]["id"]] == "m2"  # nor the refused delete
    # Sending has its own budget.
    await api.send(alice, room["id"], "still allowed")


async def test_typing_is_throttled_per_user_and_room(
    start_server: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    srv = start_server(**LOW_LIMITS)
    api = Api(srv.trpc_url, http)
    alice = await api.register("typing")
    first, second = await api.room(alice), await api.room(alice)
    ws = await WSClient.connect(srv.ws_url, alice.token)
    try:
        for _ in range(3):
            await ws.call("typing.set", {"roomId": first["id"], "isTyping": True})
        with pytest.raises(TRPCError) as info:
            await ws.call("typing.set", {"roomId": first["id"], "isTyping": True})
        assert info.value.code == "TOO_MANY_REQUESTS"
        # Another room is another budget.
        await ws.call("typing.set", {"roomId": second["id"], "isTyping": True})
    finally:
        await ws.close()


async def test_room_calls_are_limited_per_user(
    start_server: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    srv = start_server(**LOW_LIMITS)
    api = Api(srv.trpc_url, http)
    alice, bob = await api.register("rooms"), await api.register("rooms")
    room = await api.room(alice)  # 1
    await api.call("rooms.openDirect", {"userId": bob.id}, alice.token)  # 2
    await api.call("rooms.addMember", {"roomId": room["id"], "userId": bob.id}, alice.token)  # 3
    await api.call("rooms.leave", {"roomId": room["id"]}, alice.token)  # 4
    await _too_many(api.room(alice))
    await _too_many(api.call("rooms.join", {"roomId": room["id"]}, alice.token))
    await api.room(bob)  # bob's own budget


async def test_login_flood_from_one_address_is_too_many_requests_whatever_it_forwards(
    start_server: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    srv = start_server(**LOW_LIMITS)  # FORWARDED_ALLOW_IPS="": no peer is a trusted proxy
    codes = []
    for i in range(8):
        response = await http.post(
            f"{srv.trpc_url}/auth.login",
            content=orjson.dumps({"username": unique_name("nobody"), "password": PASSWORD}),
            headers={"content-type": "application/json", "x-forwarded-for": f"10.0.0.{i}"},
        )
        codes.append(orjson.loads(response.content)["error"]["data"]["code"])
    assert codes == ["UNAUTHORIZED"] * 6 + ["TOO_MANY_REQUESTS"] * 2


async def test_a_trusted_proxy_s_forwarded_address_is_the_client_on_both_ports(
    start_server: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    srv = start_server(**{**LOW_LIMITS, "FORWARDED_ALLOW_IPS": "127.0.0.1"})

    async def login_over_http(client: str) -> str:
        response = await http.post(
            f"{srv.trpc_url}/auth.login",
            content=orjson.dumps({"username": unique_name("nobody"), "password": PASSWORD}),
            headers={"content-type": "application/json", "x-forwarded-for": client},
        )
        return str(orjson.loads(response.content)["error"]["data"]["code"])

    first = [await login_over_http("203.0.113.7") for _ in range(7)]
    assert first == ["UNAUTHORIZED"] * 6 + ["TOO_MANY_REQUESTS"]
    assert await login_over_http("203.0.113.8") == "UNAUTHORIZED"  # another client

    # The WebSocket port reads the same header of the upgrade request.
    ws = await WSClient.connect(srv.ws_url, headers={"x-forwarded-for": "203.0.113.7"})
    try:
        with pytest.raises(TRPCError) as info:
            await ws.call("auth.login", {"username": unique_name("nobody"), "password": "x" * 8})
        assert info.value.code == "TOO_MANY_REQUESTS"
    finally:
        await ws.close()


async def test_failed_logins_lock_the_username_not_the_others(
    start_server: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    srv = start_server(**{**LOW_LIMITS, "RATE_LIMIT_LOGIN": "1000/1m"})
    api = Api(srv.trpc_url, http)
    victim, other = await api.register("victim"), await api.register("other")
    for _ in range(3):
        with pytest.raises(TRPCError) as info:
            await api.call("auth.login", {"username": victim.username, "password": "wrong-pass"})
        assert info.value.code == "UNAUTHORIZED"
    # Locked for the window, even with the right password (any case of the name).
    await _too_many(
        api.call("auth.login", {"username": victim.username.upper(), "password": PASSWORD})
    )
    result = await api.call("auth.login", {"username": other.username, "password": PASSWORD})
    assert result["user"]["id"] == other.id


async def test_registrations_are_limited_per_address(
    start_server: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    srv = start_server(**{**LOW_LIMITS, "RATE_LIMIT_REGISTER": "3/1h"})
    api = Api(srv.trpc_url, http)
    for _ in range(3):
        await api.register("reg")
    await _too_many(api.register("reg"))


@contextlib.asynccontextmanager
async def _calls_as(user: User, transport: str, srv: Server, api: Api) -> AsyncIterator[Call]:
    """``call(path, input)`` for ``user``, over HTTP or over one WebSocket of theirs."""
    if transport == "http":
        yield lambda path, input: api.call(path, input, user.token)
        return
    ws = await WSClient.connect(srv.ws_url, user.token)
    try:
        yield ws.call
    finally:
        await ws.close()


async def _wait_out(error: TRPCError) -> None:
    """Sleep until the refused call's ``retryAfterMs`` has passed."""
    retry_after_ms = error.shape["data"]["retryAfterMs"]
    assert 0 < retry_after_ms <= 4000
    await asyncio.sleep(retry_after_ms / 1000 + 0.2)


@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_refresh_is_limited_per_address_and_allowed_again_after_the_window(
    transport: str, start_server: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    srv = start_server(**SESSION_LIMITS)
    api = Api(srv.trpc_url, http)
    alice, bob = await api.register("refresh"), await api.register("refresh")
    async with _calls_as(alice, transport, srv, api) as call:
        refresh_token = alice.refresh_token
        for _ in range(3):
            refresh_token = (await call("auth.refresh", {"refreshToken": refresh_token}))[
                "refreshToken"
            ]
        error = await _too_many(call("auth.refresh", {"refreshToken": refresh_token}))
        # The budget is the address's: another user calling from it is refused too.
        await _too_many(api.call("auth.refresh", {"refreshToken": bob.refresh_token}))
        await _wait_out(error)
        # The refused call did not spend the token; after the window it is accepted.
        renewed = await call("auth.refresh", {"refreshToken": refresh_token})
        assert renewed["user"]["id"] == alice.id


@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_change_password_is_limited_per_session_right_password_or_not(
    transport: str, start_server: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    """A thief with an access token guessing the password gets RATE_LIMIT_CHANGE_PASSWORD
    tries per window; once over, even the right password is refused and nothing changes.
    The owner, signed in elsewhere, is not locked out: their session has its own tries."""
    srv = start_server(**SESSION_LIMITS)
    api = Api(srv.trpc_url, http)
    alice, bob = await api.register("chpw"), await api.register("chpw")
    right = {"currentPassword": PASSWORD, "newPassword": "new password 1"}
    wrong = {"currentPassword": "guess number 9", "newPassword": "new password 1"}
    async with _calls_as(alice, transport, srv, api) as call:
        for i in range(2):
            with pytest.raises(TRPCError) as info:
                await call(
                    "auth.changePassword",
                    {"currentPassword": f"guess number {i}", "newPassword": "new password 1"},
                )
            assert info.value.code == "FORBIDDEN"
        error = await _too_many(call("auth.changePassword", right))
        # The password did not change, and the limit is this session's alone.
        owner = await api.call("auth.login", {"username": alice.username, "password": PASSWORD})
        await api.call("auth.changePassword", right, bob.token)
        with pytest.raises(TRPCError) as info:
            await api.call("auth.changePassword", wrong, owner["token"])
        assert info.value.code == "FORBIDDEN"
        await _wait_out(error)
        result = await call("auth.changePassword", right)
        assert result["user"]["id"] == alice.id
        # The change ended every other session of alice's.
        with pytest.raises(TRPCError) as info:
            await api.call("auth.changePassword", wrong, owner["token"])
        assert info.value.code == "UNAUTHORIZED"
    await api.call("auth.login", {"username": alice.username, "password": "new password 1"})


async def test_login_flood_leaves_health_and_sends_responsive(
    db: tuple[str, str | None], start_server: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    """Unknown users, 50 logins per HTTP batch, 4 batches in parallel, again and again,
    with production Argon2 costs and per-address limits out of the way (a distributed
    attack): /health and a member's sends keep answering. Before the hash bound, /health
    took up to 1.2 s and a login 20 s. The target is /health within 100 ms at p99 and a
    send within 200 ms; on a quiet 2-core machine this measures about 95 ms, but the
    attacker shares the cores and a loaded machine adds its own noise, so the assertion
    is 500 ms / 1 s and the figures are printed (docs/reliability.md)."""
    if db[0] != "sqlite":
        pytest.skip("CPU-bound; the database plays no part")
    srv = start_server(
        ARGON2_TIME_COST="3",
        ARGON2_MEMORY_COST="65536",
        ARGON2_PARALLELISM="4",
        RATE_LIMIT_LOGIN="1000000/1s",
        RATE_LIMIT_FAILED_LOGINS="1000000/1s",
        MAX_QUEUED_HASHES="16",
        RATE_LIMIT_MESSAGES="100000",
    )
    api = Api(srv.trpc_url, http)
    alice = await api.register("member")
    room = await api.room(alice)
    async with httpx.AsyncClient(timeout=10) as probe:
        quiet = await sample_health(probe, srv.http_url, 3)
        quiet_sends = []
        for i in range(10):
            started = time.perf_counter()
            await Api(srv.trpc_url, probe).send(alice, room["id"], f"before {i}")
            quiet_sends.append(time.perf_counter() - started)
    attacker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "support.attack",
        "login-flood",
        srv.http_url,
        "9",
        cwd=TESTS,
        stdout=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(1.0)
    health: list[float] = []
    sends: list[float] = []
    async with httpx.AsyncClient(timeout=10) as probe:
        deadline = time.monotonic() + 7
        while time.monotonic() < deadline:
            started = time.perf_counter()
            assert (await probe.get(f"{srv.http_url}/health")).status_code == 200
            health.append(time.perf_counter() - started)
            if len(health) % 5 == 0:
                started = time.perf_counter()
                await Api(srv.trpc_url, probe).send(alice, room["id"], f"during {len(sends)}")
                sends.append(time.perf_counter() - started)
            await asyncio.sleep(0.005)  # many samples: p99 is not the single worst one
    out, _ = await asyncio.wait_for(attacker.communicate(), 120)
    codes = orjson.loads(out)
    refused = codes.get("TOO_MANY_REQUESTS", 0)
    answered = sum(codes.values())
    assert set(codes) <= {"UNAUTHORIZED", "TOO_MANY_REQUESTS"}, codes
    srv.assert_alive()
    print(
        f"\nlogin flood: {answered} logins answered ({refused} TOO_MANY_REQUESTS); "
        f"/health p50 {statistics.median(health) * 1000:.1f} ms "
        f"p99 {p99(health) * 1000:.1f} ms over {len(health)}; "
        f"send p50 {statistics.median(sends) * 1000:.1f} ms max {max(sends) * 1000:.1f} ms "
        f"over {len(sends)}"
    )
    assert refused > 0, "the flood never met the bound on concurrent hashes"
    print(
        f"quiet machine: /health p99 {p99(quiet) * 1000:.1f} ms, send max "
        f"{max(quiet_sends) * 1000:.1f} ms"
    )
    assert p99(health) < allowed(0.500, p99(quiet))
    assert max(sends) < allowed(1.0, max(quiet_sends))
