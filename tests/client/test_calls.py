"""Queries, mutations, batching and errors, against wirechat and the Node baseline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import orjson
import pytest

from wirechat.client import Client, TRPCClientError

from .conftest import User
from .servers import Server


class Recorder:
    """Counts the HTTP requests a client makes, through httpx's event hooks."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def paths(self) -> list[list[str]]:
        prefix = "/trpc/"
        return [unquote(urlsplit(str(r.url)).path)[len(prefix) :].split(",") for r in self.requests]


@pytest.fixture
async def recorded() -> AsyncIterator[tuple[httpx.AsyncClient, Recorder]]:
    recorder = Recorder()
    async with httpx.AsyncClient(event_hooks={"request": [recorder]}, timeout=30) as http:
        yield http, recorder


async def test_query_and_mutation_return_the_data(server: Server, user: User) -> None:
    async with Client(server.url, headers=user.headers) as client:
        me = await client.query("auth.me")
        room = await client.mutate("rooms.create", {"name": "r"})
    assert me["id"] == user.id
    assert me["username"] == user.username
    assert room["name"] == "r"


async def test_headers_callable_is_called_for_every_request(server: Server, user: User) -> None:
    calls = 0

    async def headers() -> dict[str, str]:
        nonlocal calls
        calls += 1
        return user.headers

    async with Client(server.url, headers=headers) as client:
        await client.query("auth.me")
        await client.query("auth.me")
    assert calls == 2


async def test_calls_in_one_tick_go_in_one_batch_request(
    server: Server, user: User, room: int, recorded: tuple[httpx.AsyncClient, Recorder]
) -> None:
    http, recorder = recorded
    async with Client(server.url, headers=user.headers, http=http) as client:
        me, page, again = await asyncio.gather(
            client.query("auth.me"),
            client.query("messages.list", {"roomId": room, "limit": 5}),
            client.query("auth.me"),
        )
    assert me == again and me["id"] == user.id
    assert page["items"] == []
    assert recorder.paths() == [["auth.me", "messages.list", "auth.me"]]
    request = recorder.requests[0]
    assert request.method == "GET"
    query = parse_qs(urlsplit(str(request.url)).query)
    assert query["batch"] == ["1"]
    # An absent input is left out of the index-keyed object.
    assert orjson.loads(query["input"][0]) == {"1": {"roomId": room, "limit": 5}}


async def test_queries_and_mutations_are_batched_separately(
    server: Server, user: User, recorded: tuple[httpx.AsyncClient, Recorder]
) -> None:
    http, recorder = recorded
    async with Client(server.url, headers=user.headers, http=http) as client:
        rooms = await asyncio.gather(
            client.mutate("rooms.create", {"name": "a"}),
            client.query("auth.me"),
            client.mutate("rooms.create", {"name": "b"}),
        )
    assert [rooms[0]["name"], rooms[2]["name"]] == ["a", "b"]
    methods = sorted(
        (r.method, len(p)) for r, p in zip(recorder.requests, recorder.paths(), strict=True)
    )
    assert methods == [("GET", 1), ("POST", 2)]


async def test_max_batch_size_splits_a_batch(
    server: Server, user: User, recorded: tuple[httpx.AsyncClient, Recorder]
) -> None:
    http, recorder = recorded
    async with Client(server.url, headers=user.headers, http=http, max_batch_size=2) as client:
        results = await asyncio.gather(*(client.query("auth.me") for _ in range(5)))
    assert all(r["id"] == user.id for r in results)
    assert sorted(len(p) for p in recorder.paths()) == [1, 2, 2]


async def test_max_url_length_splits_and_rejects_what_cannot_fit(
    server: Server, user: User, room: int, recorded: tuple[httpx.AsyncClient, Recorder]
) -> None:
    http, recorder = recorded
    async with Client(server.url, headers=user.headers, http=http, max_url_length=200) as client:
        small = [client.query("messages.list", {"roomId": room, "limit": n}) for n in (1, 2, 3)]
        huge = client.query("messages.list", {"roomId": room, "cursor": 1, "pad": "x" * 300})
        results = await asyncio.gather(*small, huge, return_exceptions=True)
    assert all(isinstance(r, dict) for r in results[:3])
    assert isinstance(results[3], TRPCClientError)
    assert "too big" in results[3].message
    assert all(len(str(r.url)) <= 200 for r in recorder.requests)
    assert sum(len(p) for p in recorder.paths()) == 3
    assert len(recorder.requests) >= 2


async def test_unbatched_client_sends_plain_requests(
    server: Server, user: User, recorded: tuple[httpx.AsyncClient, Recorder]
) -> None:
    http, recorder = recorded
    async with Client(server.url, headers=user.headers, http=http, batch=False) as client:
        me = await client.query("auth.me")
        with pytest.raises(TRPCClientError) as caught:
            await client.mutate("rooms.create", {"name": ""})
    assert me["id"] == user.id
    assert caught.value.code == "BAD_REQUEST"
    assert caught.value.http_status == 400
    assert ["batch=1" in str(r.url) for r in recorder.requests] == [False, False]


async def test_error_carries_code_status_and_data(server: Server) -> None:
    async with Client(server.url) as client:
        with pytest.raises(TRPCClientError) as caught:
            await client.query("auth.me")
    error = caught.value
    assert error.code == "UNAUTHORIZED"
    assert error.json_rpc_code == -32001
    assert error.http_status == 401
    assert error.data["code"] == "UNAUTHORIZED"
    assert error.path == "auth.me"
    assert "stack" not in error.data
    assert str(error).startswith("UNAUTHORIZED (401)")


async def test_unknown_procedure_is_not_found(server: Server) -> None:
    async with Client(server.url) as client:
        with pytest.raises(TRPCClientError) as caught:
            await client.query("no.such.thing")
    assert caught.value.code == "NOT_FOUND"
    assert caught.value.http_status == 404


async def test_one_failure_in_a_batch_fails_only_its_call(
    server: Server, user: User, other: User
) -> None:
    owner_room = None
    async with Client(server.url, headers=user.headers) as client:
        owner_room = (await client.mutate("rooms.create", {"name": "p", "isPrivate": True}))["id"]
    async with Client(server.url, headers=other.headers) as client:
        results = await asyncio.gather(
            client.query("auth.me"),
            client.query("messages.list", {"roomId": owner_room}),
            client.query("messages.list", {"roomId": 10**9}),
            return_exceptions=True,
        )
    assert isinstance(results[0], dict) and results[0]["id"] == other.id
    forbidden, missing = results[1], results[2]
    assert isinstance(forbidden, TRPCClientError) and isinstance(missing, TRPCClientError)
    # The batch's HTTP status is 207; each error keeps its own status.
    assert (forbidden.code, forbidden.http_status) == ("FORBIDDEN", 403)
    assert (missing.code, missing.http_status) == ("NOT_FOUND", 404)


async def test_validation_error_keeps_the_servers_data(server: Server, user: User) -> None:
    async with Client(server.url, headers=user.headers) as client:
        with pytest.raises(TRPCClientError) as caught:
            await client.mutate("rooms.create", {"name": 5})
    assert caught.value.code == "BAD_REQUEST"
    assert caught.value.path == "rooms.create"
    issues = caught.value.data.get("issues")
    assert issues and issues[0]["path"] == ["name"]


async def test_transport_failure_is_a_client_error() -> None:
    from support.net import free_port

    async with Client(f"http://127.0.0.1:{free_port()}/trpc") as client:
        with pytest.raises(TRPCClientError) as caught:
            await client.query("auth.me")
    assert caught.value.code is None
    assert isinstance(caught.value.__cause__, httpx.HTTPError | OSError)


async def test_cancelled_caller_does_not_break_the_batch(server: Server, user: User) -> None:
    async with Client(server.url, headers=user.headers) as client:
        doomed = asyncio.ensure_future(client.query("auth.me"))
        kept = asyncio.ensure_future(client.query("auth.me"))
        await asyncio.sleep(0)
        doomed.cancel()
        assert (await kept)["id"] == user.id
        assert (await client.query("auth.me"))["id"] == user.id


async def test_calls_over_websocket(server: Server, user: User, room: int) -> None:
    async with Client(
        server.url, ws_url=server.ws_url, calls="ws", connection_params={"token": user.token}
    ) as client:
        me, sent = await asyncio.gather(
            client.query("auth.me"),
            client.mutate("messages.send", {"roomId": room, "text": "over ws"}),
        )
        with pytest.raises(TRPCClientError) as caught:
            await client.query("messages.list", {"roomId": 10**9})
        assert client.ws.connections == 1
    assert me["id"] == user.id
    assert sent["text"] == "over ws"
    assert caught.value.code == "NOT_FOUND"
    assert caught.value.http_status == 404


async def test_calls_in_flight_on_a_lost_socket_fail(
    server: Server, user: User, relay: Any
) -> None:
    r = await relay(server.ws_port)
    async with Client(
        ws_url=f"ws://127.0.0.1:{r.port}", connection_params={"token": user.token}
    ) as client:
        assert (await client.query("auth.me"))["id"] == user.id
        pending = asyncio.ensure_future(client.query("messages.list", {"roomId": 1, "limit": 100}))
        await asyncio.sleep(0)  # the request is queued on the socket, not yet answered
        r.cut()
        with pytest.raises(TRPCClientError) as caught:
            await pending
        assert caught.value.code is None  # a transport failure, not a server answer
        # The next call opens a new socket.
        assert (await client.query("auth.me"))["id"] == user.id
        assert client.ws.connections == 2


async def test_websocket_can_be_opened_up_front_and_frames_hooked(
    server: Server, user: User
) -> None:
    seen: list[bytes] = []

    def hook(frame: bytes) -> bool:
        seen.append(frame)
        return b'"consume-me"' in frame

    async with Client(
        ws_url=server.ws_url, connection_params={"token": user.token}, frame_hook=hook
    ) as client:
        assert not client.ws.connected
        await asyncio.wait_for(client.ws.connect(), 30)
        assert client.ws.connected and client.ws.connections == 1
        me = await client.query("auth.me")
    assert me["id"] == user.id
    assert any(user.username.encode() in frame for frame in seen)
