"""httpSubscriptionLink responses through HTTPHandler: SSE, COVERAGE.md items 54-70."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from wirechat.rpc.context import RequestInfo
from wirechat.rpc.errors import ErrorCode, RPCError
from wirechat.rpc.http import HTTPHandler, HTTPResponse
from wirechat.rpc.init import init_rpc
from wirechat.rpc.router import Router
from wirechat.rpc.sse import SSEOptions, sse_event
from wirechat.rpc.tracked import tracked

from .support import Ctx, body_bytes, body_json, header, make_handler, request

CONNECTED = b"event: connected\ndata: {}\n\n\n"
RETURN = b"event: return\ndata: \n\n\n"
PING = b"event: ping\ndata: \n\n\n"


def build(log: dict[str, Any]) -> Router:
    t = init_rpc(Ctx)
    p = t.procedure

    async def plain(ctx: Ctx, value: Any) -> AsyncIterator[Any]:
        yield {"plain": True}

    async def counter(ctx: Ctx, value: Any) -> AsyncIterator[Any]:
        log["input"] = value
        yield tracked("1", {"n": 1})
        yield tracked("2", {"n": 2})

    async def mixed(ctx: Ctx, value: Any) -> AsyncIterator[Any]:
        yield tracked("3", {"n": 3})
        yield {"plain": 1}
        yield {"plain": 2}
        yield tracked("4", {"n": 4})

    async def forbidden(ctx: Ctx, value: Any) -> AsyncIterator[Any]:
        yield 1
        raise RPCError(ErrorCode.FORBIDDEN, "not a member")

    async def crash(ctx: Ctx, value: Any) -> AsyncIterator[Any]:
        raise RuntimeError("internal detail")
        yield  # pragma: no cover

    async def idle(ctx: Ctx, value: Any) -> AsyncIterator[Any]:
        try:
            await asyncio.Event().wait()
            yield  # pragma: no cover
        finally:
            log["idle_closed"] = True

    async def record(ctx: Ctx, value: Any) -> AsyncIterator[Any]:
        log["input"] = value
        log["ctx"] = ctx
        yield "ok"

    async def hello(ctx: Ctx, value: Any) -> str:
        return "hi"

    async def mut(ctx: Ctx, value: Any) -> str:
        return "m"

    return Router(
        {
            "plain": p.subscription(plain),
            "counter": p.input(Any).subscription(counter),
            "mixed": p.subscription(mixed),
            "forbidden": p.subscription(forbidden),
            "crash": p.subscription(crash),
            "idle": p.subscription(idle),
            "record": p.input(Any).subscription(record),
            "strict": p.input(int).subscription(record),
            "hello": p.query(hello),
            "mut": p.mutation(mut),
        }
    )


@pytest.fixture
def log() -> dict[str, Any]:
    return {}


@pytest.fixture
def handler(log: dict[str, Any]) -> HTTPHandler:
    return make_handler(build(log))


async def subscribe(
    handler: HTTPHandler, path: str, query: str = "", headers: dict[str, str] | None = None
) -> HTTPResponse:
    accept = {"accept": "text/event-stream", "cache-control": "no-cache"}
    return await request(handler, "GET", path, query, headers={**accept, **(headers or {})})


def q(value: Any) -> str:
    return "input=" + quote(orjson.dumps(value).decode(), safe="")


async def test_c54_subscription_get_is_an_event_stream_with_the_sse_headers(
    handler: HTTPHandler,
) -> None:
    response = await subscribe(handler, "plain")
    assert response.status == 200
    assert header(response, "content-type") == "text/event-stream"
    assert header(response, "cache-control") == "no-cache, no-transform"
    assert header(response, "x-accel-buffering") == "no"
    assert header(response, "connection") == "keep-alive"
    assert header(response, "vary") == "trpc-accept, accept"
    assert not isinstance(response.body, bytes)
    await body_bytes(response)


async def test_c55_c56_c58_connected_then_untracked_data_then_return(
    handler: HTTPHandler,
) -> None:
    response = await subscribe(handler, "plain")
    assert await body_bytes(response) == CONNECTED + b'data: {"plain":true}\n\n\n' + RETURN


async def test_c55_connected_is_sent_before_the_procedure_runs(
    handler: HTTPHandler, log: dict[str, Any]
) -> None:
    response = await subscribe(handler, "record")
    assert not isinstance(response.body, bytes)
    assert await anext(response.body) == CONNECTED
    assert "input" not in log
    await response.body.aclose()  # type: ignore[attr-defined]


async def test_c55_connected_carries_reconnect_after_inactivity_ms(log: dict[str, Any]) -> None:
    handler = make_handler(build(log), sse=SSEOptions(reconnect_after_inactivity_ms=5000))
    data = await body_bytes(await subscribe(handler, "plain"))
    assert data.startswith(b'event: connected\ndata: {"reconnectAfterInactivityMs":5000}\n\n\n')


async def test_c57_tracked_values_carry_an_id_line(handler: HTTPHandler) -> None:
    data = await body_bytes(await subscribe(handler, "counter"))
    assert data == (
        CONNECTED + b'data: {"n":1}\nid: 1\n\n\n' + b'data: {"n":2}\nid: 2\n\n\n' + RETURN
    )


async def test_c59_error_during_iteration_is_a_serialized_error_and_no_return(
    handler: HTTPHandler,
) -> None:
    data = await body_bytes(await subscribe(handler, "forbidden"))
    assert data == (
        CONNECTED
        + b"data: 1\n\n\n"
        + b'event: serialized-error\ndata: {"message":"not a member","code":-32003,'
        b'"data":{"code":"FORBIDDEN","httpStatus":403,"path":"forbidden"}}\n\n\n'
    )


async def test_c61_internal_error_is_a_serialized_error_with_the_message_hidden(
    handler: HTTPHandler,
) -> None:
    data = await body_bytes(await subscribe(handler, "crash"))
    assert data == (
        CONNECTED
        + b'event: serialized-error\ndata: {"message":"INTERNAL_SERVER_ERROR","code":-32603,'
        b'"data":{"code":"INTERNAL_SERVER_ERROR","httpStatus":500,"path":"crash"}}\n\n\n'
    )


async def test_c60_create_context_auth_error_is_still_200_connected_then_serialized_error(
    log: dict[str, Any],
) -> None:
    async def deny(info: RequestInfo) -> Any:
        raise RPCError(ErrorCode.UNAUTHORIZED, "token expired")

    handler = make_handler(build(log), deny)
    response = await subscribe(handler, "plain")
    assert response.status == 200
    assert header(response, "content-type") == "text/event-stream"
    assert await body_bytes(response) == (
        CONNECTED + b'event: serialized-error\ndata: {"message":"token expired","code":-32001,'
        b'"data":{"code":"UNAUTHORIZED","httpStatus":401,"path":"plain"}}\n\n\n'
    )


async def test_input_validation_error_is_a_serialized_error(handler: HTTPHandler) -> None:
    data = await body_bytes(await subscribe(handler, "strict", q("abc")))
    assert data.startswith(CONNECTED + b"event: serialized-error\ndata: ")
    shape = orjson.loads(data.split(b"data: ")[2].split(b"\n")[0])
    assert shape["data"]["code"] == "BAD_REQUEST"
    assert shape["data"]["path"] == "strict"


async def test_the_context_is_created_with_the_sse_transport(
    handler: HTTPHandler, log: dict[str, Any]
) -> None:
    await body_bytes(await subscribe(handler, "record", headers={"authorization": "ann"}))
    assert log["ctx"].info.transport == "sse"
    assert log["ctx"].user == "ann"


async def test_c62_last_event_id_header_is_merged_into_object_input(
    handler: HTTPHandler, log: dict[str, Any]
) -> None:
    await body_bytes(await subscribe(handler, "record", q({"x": 1}), {"last-event-id": "2"}))
    assert log["input"] == {"x": 1, "lastEventId": "2"}


async def test_c63_query_last_event_id_overrides_the_one_in_the_input(
    handler: HTTPHandler, log: dict[str, Any]
) -> None:
    await body_bytes(await subscribe(handler, "record", q({"lastEventId": "1"}) + "&lastEventId=2"))
    assert log["input"] == {"lastEventId": "2"}


async def test_c63_header_beats_the_query_parameters(
    handler: HTTPHandler, log: dict[str, Any]
) -> None:
    query = q({}) + "&lastEventId=2&Last-Event-Id=1"
    await body_bytes(await subscribe(handler, "record", query, {"last-event-id": "3"}))
    assert log["input"] == {"lastEventId": "3"}


async def test_c63_query_last_event_id_beats_the_capitalised_query_parameter(
    handler: HTTPHandler, log: dict[str, Any]
) -> None:
    await body_bytes(await subscribe(handler, "record", "lastEventId=2&Last-Event-Id=1"))
    assert log["input"] == {"lastEventId": "2"}


async def test_c63_capitalised_query_parameter_is_the_last_source(
    handler: HTTPHandler, log: dict[str, Any]
) -> None:
    await body_bytes(await subscribe(handler, "record", "Last-Event-Id=1"))
    assert log["input"] == {"lastEventId": "1"}


async def test_c64_no_input_with_last_event_id_becomes_an_object(
    handler: HTTPHandler, log: dict[str, Any]
) -> None:
    await body_bytes(await subscribe(handler, "record", headers={"last-event-id": "5"}))
    assert log["input"] == {"lastEventId": "5"}


async def test_c64_primitive_input_is_unchanged(handler: HTTPHandler, log: dict[str, Any]) -> None:
    await body_bytes(await subscribe(handler, "record", q("text"), {"last-event-id": "5"}))
    assert log["input"] == "text"


async def test_c65_idle_generator_gets_pings_at_the_interval(log: dict[str, Any]) -> None:
    handler = make_handler(build(log), sse=SSEOptions(ping_ms=10))
    response = await subscribe(handler, "idle")
    body = response.body
    assert not isinstance(body, bytes)
    assert await anext(body) == CONNECTED
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert [await anext(body) for _ in range(3)] == [PING] * 3
    assert loop.time() - started >= 0.025
    await body.aclose()  # type: ignore[attr-defined]
    assert log["idle_closed"] is True


async def test_c65_pings_are_not_sent_without_a_ping_interval(log: dict[str, Any]) -> None:
    handler = make_handler(build(log))
    response = await subscribe(handler, "idle")
    body = response.body
    assert not isinstance(body, bytes)
    await anext(body)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(body), 0.05)


def test_ping_interval_above_the_inactivity_reconnect_is_refused() -> None:
    """the reference refuses a ping interval longer than reconnectAfterInactivityMs."""
    with pytest.raises(ValueError):
        SSEOptions(ping_ms=2000, reconnect_after_inactivity_ms=1000)


async def test_c66_connection_params_reach_create_context(
    handler: HTTPHandler, log: dict[str, Any]
) -> None:
    query = "connectionParams=" + quote('{"token":"t"}')
    await body_bytes(await subscribe(handler, "record", query))
    assert log["ctx"].info.connection_params == {"token": "t"}
    assert log["ctx"].user == "t"


async def test_c66_bad_connection_params_are_a_400_json_parse_error(handler: HTTPHandler) -> None:
    response = await subscribe(handler, "record", "connectionParams=" + quote('{"a":1}'))
    assert response.status == 400
    assert header(response, "content-type") == "application/json"
    body = await body_json(response)
    assert body["error"]["data"]["code"] == "PARSE_ERROR"


async def test_c67_unknown_subscription_path_is_a_404_json_response(handler: HTTPHandler) -> None:
    response = await subscribe(handler, "nope")
    assert response.status == 404
    assert header(response, "content-type") == "application/json"
    assert (await body_json(response))["error"]["data"]["code"] == "NOT_FOUND"


async def test_query_path_opened_as_event_source_gets_the_json_result(
    handler: HTTPHandler,
) -> None:
    response = await subscribe(handler, "hello")
    assert await body_json(response) == {"result": {"data": "hi"}}


async def test_mutation_path_opened_as_event_source_gets_a_405(handler: HTTPHandler) -> None:
    response = await subscribe(handler, "mut")
    assert response.status == 405


async def test_c68_closing_the_stream_cancels_the_generator(
    handler: HTTPHandler, log: dict[str, Any]
) -> None:
    response = await subscribe(handler, "idle")
    body = response.body
    assert not isinstance(body, bytes)
    await anext(body)
    pending = asyncio.ensure_future(anext(body))
    await asyncio.sleep(0.01)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    await body.aclose()  # type: ignore[attr-defined]
    assert log["idle_closed"] is True


async def test_c69_max_duration_ends_an_idle_stream_without_return(log: dict[str, Any]) -> None:
    handler = make_handler(build(log), sse=SSEOptions(max_duration_ms=30))
    loop = asyncio.get_running_loop()
    started = loop.time()
    data = await asyncio.wait_for(body_bytes(await subscribe(handler, "idle")), 1)
    assert data == CONNECTED
    assert loop.time() - started >= 0.025
    assert log["idle_closed"] is True


async def test_c69_max_duration_with_pings_ends_without_return(log: dict[str, Any]) -> None:
    handler = make_handler(build(log), sse=SSEOptions(ping_ms=10, max_duration_ms=45))
    data = await asyncio.wait_for(body_bytes(await subscribe(handler, "idle")), 1)
    assert data.startswith(CONNECTED + PING)
    assert data.replace(PING, b"") == CONNECTED


async def test_c70_untracked_value_after_a_tracked_one_blanks_then_restores_the_id(
    handler: HTTPHandler,
) -> None:
    data = await body_bytes(await subscribe(handler, "mixed"))
    restore = b"event: restore-id\ndata: \nid: 3\n\n\n"
    assert data == (
        CONNECTED
        + b'data: {"n":3}\nid: 3\n\n\n'
        + b'data: {"plain":1}\nid: \n\n\n'
        + restore
        + b'data: {"plain":2}\nid: \n\n\n'
        + restore
        + b'data: {"n":4}\nid: 4\n\n\n'
        + RETURN
    )


async def test_c70_the_request_last_event_id_is_the_starting_known_id(
    handler: HTTPHandler,
) -> None:
    data = await body_bytes(await subscribe(handler, "plain", headers={"last-event-id": "9"}))
    assert data == (
        CONNECTED
        + b'data: {"plain":true}\nid: \n\n\n'
        + b"event: restore-id\ndata: \nid: 9\n\n\n"
        + RETURN
    )


async def test_method_override_lets_a_subscription_be_posted(log: dict[str, Any]) -> None:
    handler = make_handler(build(log), allow_method_override=True)
    response = await request(handler, "POST", "record", body=b'{"x":1}')
    assert header(response, "content-type") == "text/event-stream"
    assert await body_bytes(response) == CONNECTED + b'data: "ok"\n\n\n' + RETURN
    assert log["input"] == {"x": 1}


def test_sse_event_orders_event_data_id_and_ends_with_two_blank_lines() -> None:
    assert sse_event(b"{}", event=b"e", id=b"1") == b"event: e\ndata: {}\nid: 1\n\n\n"
    assert sse_event(b"1") == b"data: 1\n\n\n"
