"""The Connection handle in ``RequestInfo.connection``: swapping a WebSocket's context and
ending a connection's subscriptions, on the WebSocket session and on SSE streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from wirechat.rpc.connection import Connection
from wirechat.rpc.context import RequestInfo
from wirechat.rpc.errors import ErrorCode, RPCError
from wirechat.rpc.init import init_rpc
from wirechat.rpc.router import Router
from wirechat.rpc.sse import SSEConnection
from wirechat.rpc.tracked import tracked
from wirechat.rpc.ws.session import CloseCode, WSSession

from .support import Ctx, make_engine, make_handler, request
from .test_ws_session import Peer, req, settle, text, until

UNAUTHORIZED = RPCError(ErrorCode.UNAUTHORIZED, "session ended")


class App:
    """``whoami`` answers from the context; ``become`` swaps the connection's context;
    ``feed`` yields what the test queues; every connection handle seen is kept."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.connections: list[Connection] = []
        self.closed: list[Connection] = []
        self.feed_closed = 0
        p = init_rpc(Ctx).procedure
        self.router = Router(
            {
                "whoami": p.query(self.whoami),
                "become": p.input(str).mutation(self.become),
                "feed": p.subscription(self.feed),
            }
        )

    async def whoami(self, ctx: Ctx, value: Any) -> Any:
        return ctx.user

    async def become(self, ctx: Ctx, value: str) -> str:
        connection = ctx.info.connection
        assert connection is not None
        connection.replace_context(Ctx(ctx.info, value))
        return value

    async def feed(self, ctx: Ctx, value: Any) -> AsyncIterator[Any]:
        connection = ctx.info.connection
        assert connection is not None
        self.connections.append(connection)
        connection.on_close(lambda: self.closed.append(connection))
        return self._items()

    async def _items(self) -> AsyncIterator[Any]:
        try:
            while True:
                yield await self.queue.get()
        finally:
            self.feed_closed += 1


@pytest.fixture
def app() -> App:
    return App()


def open_ws(app: App) -> tuple[WSSession, Peer]:
    peer = Peer()
    info = RequestInfo("ws", {"authorization": "ann"}, {}, "127.0.0.1:5000")
    session = WSSession(make_engine(app.router), info, peer.send, peer.close)
    session.start()
    return session, peer


# -- WebSocket --------------------------------------------------------------------------------


async def test_ws_calls_see_the_session_as_their_connection(app: App) -> None:
    session, peer = open_ws(app)
    session.receive_text(text(req(1, "subscription", "feed")))
    await until(lambda: len(peer.sent) == 1)
    assert app.connections == [session]
    await session.aclose()


async def test_ws_replace_context_changes_later_calls_and_keeps_subscriptions(
    app: App,
) -> None:
    session, peer = open_ws(app)
    await settle()
    session.receive_text(text(req(1, "subscription", "feed")))
    session.receive_text(text(req(2, "mutation", "become", "bob")))
    await until(lambda: len(peer.for_id(2)) == 1)
    session.receive_text(text(req(3, "query", "whoami")))
    await until(lambda: len(peer.for_id(3)) == 1)
    assert peer.for_id(3)[0]["result"]["data"] == "bob"
    await app.queue.put("after")
    await until(lambda: len(peer.for_id(1)) == 2)
    assert peer.for_id(1) == [
        {"id": 1, "result": {"type": "started"}},
        {"id": 1, "result": {"type": "data", "data": "after"}},
    ]
    await session.aclose()


async def test_ws_end_subscriptions_sends_the_error_then_stopped_and_keeps_the_socket(
    app: App,
) -> None:
    session, peer = open_ws(app)
    session.receive_text(text(req(1, "subscription", "feed")))
    session.receive_text(text(req("b", "subscription", "feed")))
    await until(lambda: len(peer.sent) == 2)
    session.end_subscriptions(UNAUTHORIZED)
    await until(lambda: app.feed_closed == 2)
    for rid in (1, "b"):
        started, error, stopped = peer.for_id(rid)
        assert started == {"id": rid, "result": {"type": "started"}}
        assert error["error"]["data"]["code"] == "UNAUTHORIZED"
        assert error["error"]["data"]["path"] == "feed"
        assert stopped == {"id": rid, "result": {"type": "stopped"}}
    assert session.subscription_count == 0
    assert peer.closed == []
    # The connection still answers.
    session.receive_text(text(req(3, "query", "whoami")))
    await until(lambda: len(peer.for_id(3)) == 1)
    await session.aclose()


async def test_ws_end_subscriptions_without_an_error_closes_the_socket(app: App) -> None:
    session, peer = open_ws(app)
    session.receive_text(text(req(1, "subscription", "feed")))
    await until(lambda: len(peer.sent) == 1)
    session.end_subscriptions()
    assert peer.closed == [(CloseCode.NORMAL, "subscriptions ended")]
    await session.aclose()
    await until(lambda: app.feed_closed == 1)


async def test_ws_close_callbacks_run_once_when_the_socket_is_gone(app: App) -> None:
    session, peer = open_ws(app)
    session.receive_text(text(req(1, "subscription", "feed")))
    await until(lambda: len(peer.sent) == 1)
    assert app.closed == []
    await session.aclose()
    await session.aclose()
    assert app.closed == [session]
    late: list[bool] = []
    session.on_close(lambda: late.append(True))
    assert late == [True]


# -- SSE --------------------------------------------------------------------------------------


async def _open_feed(app: App) -> tuple[AsyncIterator[bytes], SSEConnection]:
    handler = make_handler(app.router)
    response = await request(handler, "GET", "feed", headers={"accept": "text/event-stream"})
    body = response.body
    assert not isinstance(body, bytes)
    assert (await anext(body)).startswith(b"event: connected")
    connection = app.connections[-1]
    assert isinstance(connection, SSEConnection)
    return body, connection


async def test_sse_end_subscriptions_with_an_error_sends_serialized_error_and_closes(
    app: App,
) -> None:
    body, connection = await _open_feed(app)
    await app.queue.put(tracked("1", "one"))
    assert await anext(body) == b'data: "one"\nid: 1\n\n\n'
    connection.end_subscriptions(UNAUTHORIZED)
    rest = await asyncio.wait_for(body_bytes_of(body), 1)
    assert rest.startswith(b"event: serialized-error\n")
    assert b'"code":"UNAUTHORIZED"' in rest
    assert b"event: return" not in rest
    assert app.feed_closed == 1
    assert app.closed == [connection]


async def test_sse_end_without_an_error_asks_for_a_reconnect_and_closes_without_return(
    app: App,
) -> None:
    body, connection = await _open_feed(app)
    connection.end_subscriptions()
    connection.end_subscriptions(UNAUTHORIZED)  # the first ending wins
    # A `connected` with a short reconnectAfterInactivityMs makes httpSubscriptionLink open
    # a new EventSource (fresh connectionParams) before EventSource's own retry would.
    assert await asyncio.wait_for(body_bytes_of(body), 1) == (
        b'event: connected\ndata: {"reconnectAfterInactivityMs":1000}\n\n\n'
    )
    assert app.feed_closed == 1
    assert app.closed == [connection]


async def test_sse_replace_context_is_accepted_and_changes_nothing(app: App) -> None:
    body, connection = await _open_feed(app)
    connection.replace_context(object())
    await app.queue.put("still")
    assert await anext(body) == b'data: "still"\n\n\n'
    await body.aclose()  # type: ignore[attr-defined]
    assert app.closed == [connection]


async def body_bytes_of(body: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in body])
