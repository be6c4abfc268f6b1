"""httpBatchStreamLink responses through HTTPHandler: JSONL streaming, COVERAGE.md items 41-53."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from wirechat.rpc.codec import UNDEFINED
from wirechat.rpc.context import RequestInfo
from wirechat.rpc.errors import ErrorCode, RPCError
from wirechat.rpc.http import HTTPHandler, HTTPResponse
from wirechat.rpc.init import init_rpc
from wirechat.rpc.router import Router
from wirechat.rpc.tracked import tracked

from .app import build_router
from .support import body_bytes, body_json, header, make_handler, request

STREAM = {"trpc-accept": "application/jsonl"}


@pytest.fixture
def log() -> dict[str, Any]:
    return {}


@pytest.fixture
def handler(log: dict[str, Any]) -> HTTPHandler:
    return make_handler(build_router(log))


async def stream(handler: HTTPHandler, paths: str, query: str = "", **kw: Any) -> HTTPResponse:
    headers = kw.pop("headers", STREAM)
    return await request(handler, "GET", paths, "batch=1" + query, headers=headers, **kw)


def lines_of(data: bytes) -> list[Any]:
    """Every line is one JSON value ended by ``\\n`` (pings are leading spaces)."""
    assert data.endswith(b"\n")
    return [orjson.loads(line) for line in data.split(b"\n")[:-1]]


@dataclass
class Iterated:
    """An async iterable as the client sees it once consumed."""

    items: list[Any] = field(default_factory=list)
    returned: Any = None
    error: Any = None


def decode(data: bytes) -> dict[int, Any]:
    """Resolve a JSONL body like the client's ``jsonlStreamConsumer``."""
    head, *chunk_lines = lines_of(data.replace(b"\n ", b"\n").lstrip(b" "))
    chunks: dict[int, list[tuple[int, Any]]] = {}
    for chunk_id, status, payload in chunk_lines:
        chunks.setdefault(chunk_id, []).append((status, payload))

    def value(encoded: list[Any]) -> Any:
        result = encoded[0][0] if encoded[0] else UNDEFINED
        for key, kind, chunk_id in encoded[1:]:
            resolved = chunk(kind, chunk_id)
            if key is None:
                result = resolved
            else:
                result[key] = resolved
        return result

    def chunk(kind: int, chunk_id: int) -> Any:
        entries = chunks.pop(chunk_id)
        if kind == 0:
            [(status, payload)] = entries
            assert status == 0, "the server settles call promises as fulfilled"
            return value(payload)
        iterated = Iterated()
        for status, payload in entries:
            if status == 1:
                iterated.items.append(value(payload))
            elif status == 0:
                iterated.returned = value(payload)
            else:
                iterated.error = payload
        assert entries[-1][0] in (0, 2), "an iterable chunk ends with return or error"
        return iterated

    resolved = {int(index): value(encoded) for index, encoded in head.items()}
    assert chunks == {}, f"unreferenced chunks: {chunks}"
    return resolved


# -- tRPC's reference JSONL example ------------------------------------------------------------

REFERENCE = b"""\
{"0":[[0],[null,0,0]],"1":[[0],[null,0,1]],"2":[[0],[null,0,2]],"3":[[0],[null,0,3]]}
[2,0,[[{"error":{"message":"nope","code":-32001,"data":{"code":"UNAUTHORIZED","httpStatus":401,"path":"fail"}}}]]]
[3,0,[[{"result":0}],["result",0,4]]]
[4,0,[[{"data":0}],["data",0,5]]]
[5,0,[[]]]
[1,0,[[{"result":0}],["result",0,6]]]
[6,0,[[{"data":0}],["data",0,7]]]
[7,0,[[{"hello":"z"}]]]
[0,0,[[{"result":0}],["result",0,8]]]
[8,0,[[{"data":0}],["data",0,9]]]
[9,0,[["slow"]]]
"""


def reference_router() -> Router:
    """``slow,hello,fail,undef`` settling in the observed order: fail, undef, hello, slow."""
    t = init_rpc(dict)
    undef_done, hello_done = asyncio.Event(), asyncio.Event()

    async def slow(ctx: Any, value: Any) -> str:
        await hello_done.wait()
        return "slow"

    async def hello(ctx: Any, value: Any) -> dict[str, str]:
        await undef_done.wait()
        hello_done.set()
        return {"hello": "z"}

    async def fail(ctx: Any, value: Any) -> None:
        raise RPCError(ErrorCode.UNAUTHORIZED, "nope")

    async def undef(ctx: Any, value: Any) -> Any:
        undef_done.set()
        return UNDEFINED

    p = t.procedure
    return Router(
        {
            "slow": p.query(slow),
            "hello": p.query(hello),
            "fail": p.query(fail),
            "undef": p.query(undef),
        }
    )


async def test_c41_c43_stream_matches_the_reference_output_byte_for_byte() -> None:
    handler = make_handler(reference_router())
    response = await stream(handler, "slow,hello,fail,undef")
    assert response.status == 200
    assert not isinstance(response.body, bytes)
    assert await body_bytes(response) == REFERENCE


async def test_c41_streaming_response_headers() -> None:
    response = await stream(make_handler(reference_router()), "undef")
    assert response.status == 200
    assert header(response, "content-type") == "application/json"
    assert header(response, "vary") == "trpc-accept, accept"
    await body_bytes(response)


async def test_c41_head_is_keyed_by_batch_index(handler: HTTPHandler) -> None:
    response = await stream(handler, "a,b,a", "&input=%7B%7D")
    head = lines_of(await body_bytes(response))[0]
    assert head == {
        "0": [[0], [None, 0, 0]],
        "1": [[0], [None, 0, 1]],
        "2": [[0], [None, 0, 2]],
    }


@pytest.mark.parametrize(
    "headers",
    [
        {"accept": "text/html, application/jsonl"},
        {"accept": "application/jsonl;q=0.9"},
        {"trpc-accept": "application/jsonl", "accept": "text/html"},
    ],
)
async def test_c42_stream_is_chosen_by_trpc_accept_or_accept(
    handler: HTTPHandler, headers: dict[str, str]
) -> None:
    response = await stream(handler, "a", headers=headers)
    assert not isinstance(response.body, bytes)
    assert decode(await body_bytes(response)) == {0: {"result": {"data": None}}}


@pytest.mark.parametrize(
    "headers",
    [{}, {"accept": "application/json"}, {"trpc-accept": "json", "accept": "application/jsonl"}],
)
async def test_c42_without_the_stream_header_the_batch_is_a_json_array(
    handler: HTTPHandler, headers: dict[str, str]
) -> None:
    response = await stream(handler, "a", headers=headers)
    assert await body_json(response) == [{"result": {"data": None}}]


async def test_c43_decoded_stream_equals_the_plain_batch_response(handler: HTTPHandler) -> None:
    query = "&input=" + "%7B%220%22%3A1%2C%222%22%3A%22q%22%7D"
    plain = await body_json(await stream(handler, "a,fail,hello,nope,undef", query, headers={}))
    streamed = decode(await body_bytes(await stream(handler, "a,fail,hello,nope,undef", query)))
    expected = []
    for item in plain:
        if "result" in item and "data" not in item["result"]:
            item = {"result": {"data": UNDEFINED}}
        expected.append(item)
    assert [streamed[i] for i in range(5)] == expected


async def test_c44_fast_call_is_written_before_the_slow_call_completes() -> None:
    t = init_rpc(dict)
    release = asyncio.Event()

    async def slow(ctx: Any, value: Any) -> str:
        await release.wait()
        return "slow"

    async def fast(ctx: Any, value: Any) -> str:
        return "fast"

    handler = make_handler(
        Router({"slow": t.procedure.query(slow), "fast": t.procedure.query(fast)})
    )
    response = await stream(handler, "slow,fast")
    body = response.body
    assert not isinstance(body, bytes)
    received = [await anext(body) for _ in range(4)]
    assert [orjson.loads(line)[0] for line in received[1:]] == [1, 2, 3]
    assert orjson.loads(received[3]) == [3, 0, [["fast"]]]
    assert not release.is_set()
    release.set()
    rest = b"".join([chunk async for chunk in body])
    assert decode(b"".join(received) + rest) == {
        0: {"result": {"data": "slow"}},
        1: {"result": {"data": "fast"}},
    }


async def test_c45_error_call_is_an_inline_error_chunk_and_others_resolve(
    handler: HTTPHandler,
) -> None:
    data = await body_bytes(await stream(handler, "fail,a", "&input=%7B%7D"))
    assert orjson.loads(data.split(b"\n")[1]) == [
        0,
        0,
        [
            [
                {
                    "error": {
                        "message": "nope",
                        "code": -32001,
                        "data": {"code": "UNAUTHORIZED", "httpStatus": 401, "path": "fail"},
                    }
                }
            ]
        ],
    ]
    assert decode(data)[1] == {"result": {"data": None}}


async def test_c46_all_calls_failing_is_still_200(handler: HTTPHandler) -> None:
    response = await stream(handler, "fail,nope,boom")
    assert response.status == 200
    decoded = decode(await body_bytes(response))
    assert [decoded[i]["error"]["data"]["code"] for i in range(3)] == [
        "UNAUTHORIZED",
        "NOT_FOUND",
        "INTERNAL_SERVER_ERROR",
    ]


async def test_c46_create_context_failure_is_an_error_chunk_per_call(log: dict[str, Any]) -> None:
    async def deny(info: RequestInfo) -> Any:
        raise RPCError(ErrorCode.UNAUTHORIZED)

    handler = make_handler(build_router(log), deny)
    response = await stream(handler, "a,b")
    assert response.status == 200
    decoded = decode(await body_bytes(response))
    assert [decoded[i]["error"]["data"]["path"] for i in range(2)] == ["a", "b"]
    assert "raw" not in log


async def test_c47_streaming_without_batch_is_a_400_json_object(handler: HTTPHandler) -> None:
    response = await request(handler, "GET", "a", headers=STREAM)
    assert response.status == 400
    assert isinstance(response.body, bytes)
    body = orjson.loads(response.body)
    assert body["error"]["data"]["code"] == "BAD_REQUEST"
    assert (
        body["error"]["message"] == "Streaming requests must be batched (you can do a batch of 1)"
    )


async def test_c48_top_level_failure_while_streaming_is_a_non_2xx_json_object(
    handler: HTTPHandler,
) -> None:
    response = await stream(handler, "hello,mut")
    assert response.status == 400
    assert isinstance(response.body, bytes)
    assert header(response, "content-type") == "application/json"
    assert orjson.loads(response.body)["error"]["message"] == (
        "Cannot mix procedure types in call: query, mutation"
    )


async def test_c49_undefined_result_is_encoded_as_empty_brackets(handler: HTTPHandler) -> None:
    lines = lines_of(await body_bytes(await stream(handler, "undef")))
    assert lines[-1] == [2, 0, [[]]]
    assert decode(await body_bytes(await stream(handler, "undef"))) == {
        0: {"result": {"data": UNDEFINED}}
    }


async def test_c50_async_generator_query_streams_yields_then_return(handler: HTTPHandler) -> None:
    data = await body_bytes(await stream(handler, "gen"))
    chunk_lines = lines_of(data)[1:]
    iterable_chunk = chunk_lines[-1][0]
    statuses = [status for chunk_id, status, _ in chunk_lines if chunk_id == iterable_chunk]
    assert statuses == [1, 1, 0]
    iterated = decode(data)[0]["result"]["data"]
    assert iterated == Iterated(items=[1, 2], returned=UNDEFINED)


async def test_c50_async_generator_stream_matches_the_reference_byte_for_byte(
    handler: HTTPHandler,
) -> None:
    data = await body_bytes(await stream(handler, "gen"))
    assert data == (
        b'{"0":[[0],[null,0,0]]}\n'
        b'[0,0,[[{"result":0}],["result",0,1]]]\n'
        b'[1,0,[[{"data":0}],["data",0,2]]]\n'
        b"[2,0,[[0],[null,1,3]]]\n"
        b"[3,1,[[1]]]\n"
        b"[3,1,[[2]]]\n"
        b"[3,0,[[]]]\n"
    )


async def test_c50_tracked_yields_are_id_and_data_objects() -> None:
    t = init_rpc(dict)

    async def events(ctx: Any, value: Any) -> AsyncIterator[Any]:
        yield tracked("7", {"n": 1})

    handler = make_handler(Router({"events": t.procedure.query(events)}))
    iterated = decode(await body_bytes(await stream(handler, "events")))[0]["result"]["data"]
    assert iterated.items == [{"id": "7", "data": {"n": 1}}]


async def test_c51_generator_raising_midway_ends_with_a_status_2_error_chunk(
    handler: HTTPHandler,
) -> None:
    data = await body_bytes(await stream(handler, "genFail"))
    last = lines_of(data)[-1]
    assert last[1] == 2
    assert last[2] == {
        "message": "no more",
        "code": -32003,
        "data": {"code": "FORBIDDEN", "httpStatus": 403, "path": "genFail"},
    }
    iterated = decode(data)[0]["result"]["data"]
    assert iterated.items == [1]
    assert iterated.error["data"]["code"] == "FORBIDDEN"


async def test_c52_closing_the_stream_cancels_the_remaining_procedures(
    handler: HTTPHandler, log: dict[str, Any]
) -> None:
    response = await stream(handler, "hang,a", "&input=%7B%7D")
    body = response.body
    assert not isinstance(body, bytes)
    await anext(body)  # head
    await anext(body)  # call 1 settled: the procedures are running
    assert "hang_cancelled" not in log
    await body.aclose()  # type: ignore[attr-defined]
    assert log["hang_cancelled"] is True


async def test_c53_idle_stream_sends_single_space_pings(log: dict[str, Any]) -> None:
    handler = make_handler(build_router(log), jsonl_ping_ms=10)
    response = await stream(handler, "slow", "&input=%7B%220%22%3A0.08%7D")
    assert not isinstance(response.body, bytes)
    chunks = [chunk async for chunk in response.body]
    assert b" " in chunks
    assert all(chunk == b" " or chunk.endswith(b"\n") for chunk in chunks)
    assert decode(b"".join(chunks)) == {0: {"result": {"data": "slow"}}}


async def test_c53_no_pings_without_a_ping_interval(log: dict[str, Any]) -> None:
    handler = make_handler(build_router(log))
    response = await stream(handler, "slow", "&input=%7B%220%22%3A0.03%7D")
    assert b" " not in await body_bytes(response)


async def test_unserializable_result_fails_only_its_own_call(handler: HTTPHandler) -> None:
    response = await stream(handler, "unserializable,slow", "&input=%7B%221%22%3A0.01%7D")
    decoded = decode(await body_bytes(response))
    assert decoded[0]["error"]["data"]["code"] == "INTERNAL_SERVER_ERROR"
    assert decoded[1] == {"result": {"data": "slow"}}
