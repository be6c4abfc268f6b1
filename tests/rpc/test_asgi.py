"""The ASGI adapter, driven through the ASGI interface itself (receive and send)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from wirechat.rpc.asgi import TRPCASGIApp
from wirechat.rpc.init import init_rpc
from wirechat.rpc.limits import Limits
from wirechat.rpc.router import Router
from wirechat.rpc.sse import SSEOptions
from wirechat.rpc.tracked import tracked
from wirechat.rpc.ws.session import CloseCode

from .support import make_handler

t = init_rpc(dict)

Message = dict[str, Any]


def build_router(state: dict[str, Any]) -> Router:
    async def echo(ctx: Any, value: Any) -> Any:
        return value

    async def ticks(ctx: Any, value: Any) -> AsyncIterator[Any]:
        try:
            for i in range(1_000_000):
                state["produced"] = i
                yield tracked(str(i), "x" * 4096)
                await asyncio.sleep(0)
        finally:
            state["ticks_closed"] = True

    return Router(
        {
            "echo": t.procedure.input(Any).query(echo),
            "ticks": t.procedure.subscription(ticks),
        }
    )


def make_app(state: dict[str, Any], **limits: Any) -> TRPCASGIApp:
    handler = make_handler(build_router(state), sse=SSEOptions(), limits=Limits(**limits))
    return TRPCASGIApp(handler, max_body_bytes=100)


def http_scope(method: str, path: str, query: bytes = b"", **headers: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000),
    }


class Client:
    """The server's end of one ASGI connection: scripted messages in, messages out."""

    def __init__(self, *incoming: Message) -> None:
        self.incoming: asyncio.Queue[Message] = asyncio.Queue()
        for message in incoming:
            self.incoming.put_nowait(message)
        self.sent: list[Message] = []
        self.block_sends = False

    async def receive(self) -> Message:
        return await self.incoming.get()

    async def send(self, message: Message) -> None:
        if self.block_sends and message["type"] in ("http.response.body", "websocket.send"):
            await asyncio.Event().wait()  # a client that never reads
        self.sent.append(message)

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    def status(self) -> int:
        status: int = self.sent[0]["status"]
        return status


async def run(app: TRPCASGIApp, scope: dict[str, Any], client: Client) -> None:
    await asyncio.wait_for(app(scope, client.receive, client.send), 5)


async def until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def test_a_query_gets_its_body_with_a_content_length() -> None:
    client = Client({"type": "http.request", "body": b""})
    await run(make_app({}), http_scope("GET", "/echo", b"input=%221%22"), client)
    assert client.status() == 200
    assert (b"content-length", b"23") in client.sent[0]["headers"]
    assert orjson.loads(client.body()) == {"result": {"data": "1"}}


async def test_a_body_announced_over_the_limit_is_413_before_it_is_read() -> None:
    client = Client()  # nothing to receive: the body is never read
    scope = http_scope("POST", "/echo", content_type="application/json", content_length="101")
    await run(make_app({}), scope, client)
    assert client.status() == 413
    assert orjson.loads(client.body())["error"]["data"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_chunked_body_over_the_limit_is_413() -> None:
    client = Client(
        {"type": "http.request", "body": b"[" + b"1," * 30, "more_body": True},
        {"type": "http.request", "body": b"1," * 30 + b"1]", "more_body": False},
    )
    await run(make_app({}), http_scope("POST", "/echo", content_type="application/json"), client)
    assert client.status() == 413


async def test_a_streamed_response_stops_its_producer_when_the_client_goes() -> None:
    state: dict[str, Any] = {}
    client = Client({"type": "http.request", "body": b""})
    task = asyncio.ensure_future(run(make_app(state), http_scope("GET", "/ticks"), client))
    await until(lambda: state.get("produced", 0) > 3)
    client.incoming.put_nowait({"type": "http.disconnect"})
    await task
    assert state["ticks_closed"]
    assert client.body().startswith(b"event: connected")


async def test_a_slow_sse_reader_is_cut_at_the_buffer_limit_and_production_stops() -> None:
    state: dict[str, Any] = {}
    client = Client({"type": "http.request", "body": b""})
    client.block_sends = True
    app = make_app(state, max_buffered_bytes=64 * 1024)
    task = asyncio.ensure_future(app(http_scope("GET", "/ticks"), client.receive, client.send))
    await until(lambda: bool(state.get("ticks_closed")))
    produced = state["produced"]
    assert produced < 100  # about 64 KiB of 4 KiB events, not a million
    await asyncio.sleep(0.1)
    assert state["produced"] == produced
    client.incoming.put_nowait({"type": "http.disconnect"})
    await asyncio.wait_for(task, 5)


async def test_aclose_ends_streamed_responses_properly() -> None:
    state: dict[str, Any] = {}
    client = Client({"type": "http.request", "body": b""})
    app = make_app(state)
    task = asyncio.ensure_future(run(app, http_scope("GET", "/ticks"), client))
    await until(lambda: state.get("produced", 0) > 3)
    await app.aclose()
    await task
    assert state["ticks_closed"]
    assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert b"event: return" not in client.body()  # so the client resumes elsewhere


async def test_a_stream_begun_after_aclose_ends_at_once_the_same_way() -> None:
    """A request already on its way when shutdown began: no stream that outlives the
    application, and no ``return``, so the client resumes elsewhere."""
    state: dict[str, Any] = {}
    client = Client({"type": "http.request", "body": b""})
    app = make_app(state)
    await app.aclose()
    await run(app, http_scope("GET", "/ticks"), client)
    assert client.status() == 200
    assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert b"event: return" not in client.body()
    assert state.get("produced", 0) < 2  # cancelled before it got going


def ws_scope(query: bytes = b"") -> dict[str, Any]:
    return {
        "type": "websocket",
        "path": "/",
        "query_string": query,
        "headers": [],
        "client": ("127.0.0.1", 5001),
    }


def text(value: Any) -> Message:
    return {"type": "websocket.receive", "text": orjson.dumps(value).decode()}


async def test_websocket_answers_a_query_and_closes_on_disconnect() -> None:
    client = Client(
        {"type": "websocket.connect"},
        text({"id": 1, "method": "query", "params": {"path": "echo", "input": 5}}),
    )
    task = asyncio.ensure_future(run(make_app({}), ws_scope(), client))
    await until(lambda: any(m["type"] == "websocket.send" for m in client.sent))
    client.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await task
    assert client.sent[0] == {"type": "websocket.accept"}
    replies = [orjson.loads(m["text"]) for m in client.sent if m["type"] == "websocket.send"]
    assert replies == [{"id": 1, "result": {"type": "data", "data": 5}}]


async def test_websocket_message_over_the_limit_closes_1009() -> None:
    client = Client(
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "x" * 2000},
    )
    await run(make_app({}, max_message_bytes=1000), ws_scope(), client)
    assert client.sent[-1] == {
        "type": "websocket.close",
        "code": CloseCode.MESSAGE_TOO_BIG,
        "reason": "message too big",
    }


async def test_websocket_binary_over_the_limit_closes_1009() -> None:
    client = Client(
        {"type": "websocket.connect"}, {"type": "websocket.receive", "bytes": b"x" * 2000}
    )
    await run(make_app({}, max_message_bytes=1000), ws_scope(), client)
    assert client.sent[-1]["code"] == CloseCode.MESSAGE_TOO_BIG


async def test_websocket_slow_reader_is_cut_and_its_subscription_stops() -> None:
    state: dict[str, Any] = {}
    client = Client(
        {"type": "websocket.connect"},
        text({"id": 1, "method": "subscription", "params": {"path": "ticks"}}),
    )
    client.block_sends = True
    app = make_app(state, max_buffered_bytes=64 * 1024)
    task = asyncio.ensure_future(app(ws_scope(), client.receive, client.send))
    await until(lambda: bool(state.get("ticks_closed")))
    produced = state["produced"]
    assert produced < 100
    await asyncio.sleep(0.1)
    assert state["produced"] == produced
    client.incoming.put_nowait({"type": "websocket.disconnect", "code": 1006})
    await asyncio.wait_for(task, 5)


async def test_websocket_connection_params_reach_the_context() -> None:
    client = Client(
        {"type": "websocket.connect"},
        text({"method": "connectionParams", "data": {"token": "abc"}}),
        text({"id": 1, "method": "query", "params": {"path": "echo", "input": 1}}),
    )
    task = asyncio.ensure_future(run(make_app({}), ws_scope(b"connectionParams=1"), client))
    await until(lambda: any(m["type"] == "websocket.send" for m in client.sent))
    client.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await task
    sent = [orjson.loads(m["text"]) for m in client.sent if m["type"] == "websocket.send"]
    assert sent == [{"id": 1, "result": {"type": "data", "data": 1}}]


async def test_a_websocket_opened_after_aclose_is_told_to_reconnect() -> None:
    client = Client(
        {"type": "websocket.connect"},
        text({"id": 1, "method": "query", "params": {"path": "echo", "input": 5}}),
    )
    app = make_app({})
    await app.aclose()
    await run(app, ws_scope(), client)
    assert client.sent == [
        {"type": "websocket.accept"},
        {
            "type": "websocket.close",
            "code": CloseCode.SERVICE_RESTART,
            "reason": "server shutting down",
        },
    ]


async def test_a_non_connect_first_message_ends_the_websocket_quietly() -> None:
    client = Client({"type": "websocket.disconnect", "code": 1000})
    await run(make_app({}), ws_scope(), client)
    assert client.sent == []
