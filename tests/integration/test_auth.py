"""Authentication through the wire: the token's sources, invalid and expired tokens."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from .clients import Api, TRPCError, WSClient
from .conftest import Server


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


async def test_token_claims_carry_user_id_and_sub(api: Api) -> None:
    alice = await api.register("claims")
    claims = _claims(alice.token)
    assert claims["userId"] == alice.id
    assert claims["sub"] == str(alice.id)
    assert claims["exp"] - claims["iat"] == 7 * 86400


@pytest.mark.parametrize("source", ["header", "query", "connectionParams"])
async def test_websocket_reads_the_token_from_each_source(
    api: Api, ws: Callable[..., Any], source: str
) -> None:
    alice = await api.register("src")
    kw: dict[str, Any] = {
        "header": {},
        "query": {"query_token": True},
        "connectionParams": {"connection_params": {"token": alice.token}},
    }[source]
    client: WSClient = await ws(alice.token, **kw)
    me = await client.call("auth.me")
    assert me["id"] == alice.id


async def test_invalid_token_is_anonymous_and_keeps_the_connection_open(
    api: Api, ws: Callable[..., Any]
) -> None:
    client: WSClient = await ws("not.a.token")
    with pytest.raises(TRPCError) as info:
        await client.call("auth.me")
    assert info.value.code == "UNAUTHORIZED"
    result = await client.call(
        "auth.register", {"username": "anon_ok_" + str(time.time_ns())[-8:], "password": "12345678"}
    )
    assert result["token"]
    assert not client.closed.is_set()
    with pytest.raises(TRPCError) as http_info:
        await api.call("auth.me", None, "not.a.token")
    assert http_info.value.code == "UNAUTHORIZED" and http_info.value.http_status == 401


async def test_websocket_token_works_through_the_grace_then_its_subscriptions_end_unauthorized(
    start_server: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    srv = start_server(JWT_EXPIRES_IN="3s", TOKEN_GRACE_SECONDS="2")
    api = Api(srv.trpc_url, http)
    alice = await api.register("exp")
    room = await api.room(alice)
    exp = _claims(alice.token)["exp"]
    client = await WSClient.connect(srv.ws_url, alice.token)
    try:
        assert (await client.call("auth.me"))["id"] == alice.id
        live = await client.subscribe("messages.onMessage", {"roomId": room["id"]})
        await live.started()
        assert time.time() < exp, "setup took longer than the token's lifetime"

        # Expired, but within the grace: calls keep working, the stream stays open.
        await asyncio.sleep(max(0.0, exp - time.time()) + 0.3)
        assert (await client.call("auth.me"))["id"] == alice.id
        with pytest.raises(TRPCError) as http_info:
            await api.call("auth.me", None, alice.token)  # HTTP has no grace
        assert http_info.value.code == "UNAUTHORIZED"

        # After the grace: the subscription ends with UNAUTHORIZED, then `stopped`.
        frame = await live.next(within=exp + 2 - time.time() + 2)
        assert frame["error"]["data"]["code"] == "UNAUTHORIZED", frame
        assert time.time() >= exp + 2 - 0.1
        assert (await live.next())["result"]["type"] == "stopped"
        for path, input in (
            ("auth.me", None),
            ("rooms.list", None),
            ("messages.send", {"roomId": room["id"], "text": "too late"}),
        ):
            with pytest.raises(TRPCError) as info:
                await client.call(path, input)
            assert info.value.code == "UNAUTHORIZED", path
        refused = await client.subscribe("typing.onTyping", {"roomId": room["id"]})
        frame = await refused.next()
        assert frame["error"]["data"]["code"] == "UNAUTHORIZED"
        await refused.silence(0.2)
        assert not client.closed.is_set()  # an expired token never closes the socket
    finally:
        await client.close()
