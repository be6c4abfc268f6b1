"""docs/api.md "Errors" and docs/api.md "Limits" through the wire, plus edit/delete events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from .clients import Api, TRPCError, WSClient
from .conftest import Server


async def test_unknown_procedure_is_not_found(api: Api) -> None:
    with pytest.raises(TRPCError) as info:
        await api.call("rooms.explode", {"roomId": 1})
    assert info.value.code == "NOT_FOUND" and info.value.http_status == 404


async def test_mutation_called_as_a_query_is_method_not_supported(api: Api) -> None:
    alice = await api.register("kind")
    response = await api.raw("rooms.create", {"name": "x"}, alice.token, kind="query")
    assert response.status_code == 405
    assert response.json()["error"]["data"]["code"] == "METHOD_NOT_SUPPORTED"


async def test_body_over_1_mib_is_payload_too_large(api: Api) -> None:
    alice = await api.register("big")
    room = await api.room(alice)
    body = orjson.dumps({"roomId": room["id"], "text": "x" * (1024 * 1024 + 10)})
    response = await api.http.post(
        f"{api.trpc_url}/messages.send",
        content=body,
        headers={"content-type": "application/json", "authorization": f"Bearer {alice.token}"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["data"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_batch_of_51_calls_is_bad_request(api: Api) -> None:
    alice = await api.register("batch")
    paths = ",".join(["auth.me"] * 51)
    response = await api.http.get(
        f"{api.trpc_url}/{paths}?batch=1&input={quote('{}')}",
        headers={"authorization": f"Bearer {alice.token}"},
    )
    body = response.json()
    codes = (
        {item["error"]["data"]["code"] for item in body}
        if isinstance(body, list)
        else {body["error"]["data"]["code"]}
    )
    assert codes == {"BAD_REQUEST"}
    ok = await api.http.get(
        f"{api.trpc_url}/{','.join(['auth.me'] * 50)}?batch=1&input={quote('{}')}",
        headers={"authorization": f"Bearer {alice.token}"},
    )
    assert ok.status_code == 200 and len(ok.json()) == 50


async def test_101st_subscription_on_one_connection_is_bad_request(
    api: Api, ws: Callable[..., Any]
) -> None:
    alice = await api.register("subs")
    room = await api.room(alice)
    client: WSClient = await ws(alice.token)
    subs = [await client.subscribe("typing.onTyping", {"roomId": room["id"]}) for _ in range(101)]
    for sub in subs[:100]:
        await sub.started()
    frame = await subs[100].next()
    assert frame["error"]["data"]["code"] == "BAD_REQUEST"


async def test_websocket_message_over_1_mib_closes_with_1009(
    api: Api, ws: Callable[..., Any]
) -> None:
    client: WSClient = await ws()
    big = {"id": 1, "method": "query", "params": {"path": "auth.me", "input": "x" * 1048600}}
    await client.send_json(big)
    await asyncio.wait_for(client.closed.wait(), 5)
    assert client.close_code == 1009


async def test_cors_preflight_allows_the_configured_origin_with_credentials(
    http: httpx.AsyncClient, server: Server
) -> None:
    response = await http.options(
        f"{server.trpc_url}/auth.me",
        headers={
            "origin": "http://localhost:5173",
            "access-control-request-method": "GET",
            "access-control-request-headers": "authorization,content-type",
        },
    )
    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert response.headers["access-control-allow-credentials"] == "true"
    other = await http.get(f"{server.http_url}/health", headers={"origin": "http://evil.test"})
    assert "access-control-allow-origin" not in other.headers


async def test_edit_and_delete_reach_the_stream_and_only_the_author_or_owner_may(
    api: Api, ws: Callable[..., Any]
) -> None:
    owner = await api.register("edit")
    author = await api.register("edit")
    room = await api.room(owner, author)
    client: WSClient = await ws(owner.token)
    stream = await client.subscribe("messages.onMessage", {"roomId": room["id"]})
    await stream.started()
    message = await api.send(author, room["id"], "draft")
    edited = await api.call(
        "messages.edit", {"messageId": message["id"], "text": "  final  "}, author.token
    )
    assert edited["text"] == "final" and edited["editedAt"] is not None
    deleted = await api.call("messages.delete", {"messageId": message["id"]}, owner.token)
    assert deleted["text"] == "" and deleted["deletedAt"] is not None
    assert deleted["id"] == message["id"] and deleted["roomId"] == room["id"]
    events = [(await stream.data())["data"] for _ in range(3)]
    assert [e["type"] for e in events] == ["created", "edited", "deleted"]
    assert events[1]["message"] == edited
    assert events[2]["message"] == deleted
    with pytest.raises(TRPCError) as info:
        await api.call("messages.edit", {"messageId": message["id"], "text": "x"}, author.token)
    assert info.value.code in ("NOT_FOUND", "BAD_REQUEST", "FORBIDDEN")
    history = await api.call("messages.list", {"roomId": room["id"]}, owner.token)
    assert history["items"] == []


async def test_user_output_never_carries_the_password(api: Api) -> None:
    alice = await api.register("shape")
    bob = await api.register("shape")
    user = await api.call("users.get", {"userId": alice.id}, bob.token)
    assert set(user) == {"id", "username", "displayName", "createdAt"}
    assert user == alice.raw
