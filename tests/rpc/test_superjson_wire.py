"""An engine with the superjson transformer, on every transport's wire format."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from pydantic import BaseModel

from wirechat.rpc.context import RequestInfo
from wirechat.rpc.errors import ErrorCode, RPCError
from wirechat.rpc.init import init_rpc
from wirechat.rpc.router import Router
from wirechat.rpc.tracked import Tracked, tracked
from wirechat.rpc.transformer import SuperJSON
from wirechat.rpc.ws.session import WSSession

from .support import body_bytes, make_handler, request

t = init_rpc(dict)
WHEN = datetime(2026, 1, 31, 12, 0, 0, 123000, tzinfo=UTC)
DATE = {"values": {"at": ["Date"]}, "v": 1}


class Stamp(BaseModel):
    at: datetime


def build() -> Router:
    async def echo(ctx: Any, value: Any) -> Any:
        return {"got": value}

    async def stamp(ctx: Any, _: Any) -> Stamp:
        return Stamp(at=WHEN)

    async def nothing(ctx: Any, _: Any) -> Any:
        from wirechat.rpc.codec import UNDEFINED

        return UNDEFINED

    async def denied(ctx: Any, _: Any) -> Any:
        raise RPCError(ErrorCode.FORBIDDEN, "no")

    async def stamps(ctx: Any, _: Any) -> AsyncIterator[Tracked[Stamp]]:
        yield tracked("1", Stamp(at=WHEN))

    return Router(
        {
            "echo": t.procedure.input(Any).query(echo),
            "stamp": t.procedure.query(stamp),
            "nothing": t.procedure.query(nothing),
            "denied": t.procedure.query(denied),
            "stamps": t.procedure.subscription(stamps),
            "stampStream": t.procedure.query(stamps),
        }
    )


def handler() -> Any:
    return make_handler(build(), engine_options={"transformer": SuperJSON()})


def q(value: Any) -> str:
    return "input=" + quote(orjson.dumps(value).decode())


async def test_http_reads_a_superjson_input_and_wraps_the_result() -> None:
    envelope = {
        "json": {"when": "2026-01-31T12:00:00.123Z"},
        "meta": {"values": {"when": ["Date"]}, "v": 1},
    }
    response = await request(handler(), "GET", "/echo", q(envelope))
    assert orjson.loads(await body_bytes(response)) == {
        "result": {
            "data": {
                "json": {"got": {"when": "2026-01-31T12:00:00.123Z"}},
                "meta": {"values": {"got.when": ["Date"]}, "v": 1},
            }
        }
    }


async def test_http_result_dates_come_from_the_model() -> None:
    response = await request(handler(), "GET", "/stamp")
    assert orjson.loads(await body_bytes(response)) == {
        "result": {"data": {"json": {"at": "2026-01-31T12:00:00.123Z"}, "meta": DATE}}
    }


async def test_an_undefined_result_is_sent_as_superjson_undefined() -> None:
    response = await request(handler(), "GET", "/nothing")
    assert orjson.loads(await body_bytes(response)) == {
        "result": {"data": {"json": None, "meta": {"values": ["undefined"], "v": 1}}}
    }


async def test_errors_are_wrapped_and_keep_their_status() -> None:
    response = await request(handler(), "GET", "/denied")
    assert response.status == 403
    body = orjson.loads(await body_bytes(response))
    assert set(body["error"]) == {"json"}
    assert body["error"]["json"]["data"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    "envelope",
    [
        {"no": "json"},
        [1],
        {"json": 1, "meta": {"values": {"x": ["Date"]}, "v": 1}},
        {"json": "x", "meta": {"values": ["Date"], "v": 1}},
    ],
)
async def test_a_bad_envelope_is_bad_request_not_500(envelope: Any) -> None:
    response = await request(handler(), "GET", "/echo", q(envelope))
    assert response.status == 400
    body = orjson.loads(await body_bytes(response))
    assert body["error"]["json"]["data"]["code"] == "BAD_REQUEST"


async def test_a_batch_reads_each_input_through_the_transformer() -> None:
    inputs = {"0": {"json": 1}, "1": {"json": None, "meta": {"values": ["undefined"], "v": 1}}}
    response = await request(handler(), "GET", "/echo,echo", "batch=1&" + q(inputs))
    body = orjson.loads(await body_bytes(response))
    assert body[0]["result"]["data"] == {"json": {"got": 1}}
    assert body[1]["result"]["data"] == {"json": {"got": None}}


async def test_sse_wraps_each_event_and_the_tracked_data() -> None:
    response = await request(handler(), "GET", "/stamps")
    text = (await body_bytes(response)).decode()
    assert (
        'data: {"json":{"at":"2026-01-31T12:00:00.123Z"},'
        '"meta":{"values":{"at":["Date"]},"v":1}}\nid: 1\n' in text
    )
    assert "event: return" in text


async def test_jsonl_wraps_every_line_with_paths_into_the_chunk() -> None:
    headers = {"trpc-accept": "application/jsonl"}
    response = await request(handler(), "GET", "/stampStream", "batch=1", headers=headers)
    lines = [
        orjson.loads(line) for line in (await body_bytes(response)).splitlines() if line.strip()
    ]
    assert all(set(line) <= {"json", "meta"} for line in lines)
    item = next(line for line in lines if "meta" in line)
    assert item["json"][1] == 1  # a yielded item
    assert item["json"][2] == [[{"id": "1", "data": {"at": "2026-01-31T12:00:00.123Z"}}]]
    assert item["meta"] == {"values": {"2.0.0.data.at": ["Date"]}, "v": 1}


async def test_websocket_tracked_data_is_the_transformed_id_and_data() -> None:
    sent: list[bytes] = []
    engine = handler().engine
    session = WSSession(engine, RequestInfo("ws"), sent.append, lambda code, reason: None)
    session.start()
    await asyncio.sleep(0.01)
    session.receive_text(
        orjson.dumps(
            {
                "id": 1,
                "method": "subscription",
                "params": {"path": "stamps", "input": {"json": None}},
            }
        )
    )
    for _ in range(100):
        if len(sent) >= 3:
            break
        await asyncio.sleep(0.01)
    frames = [orjson.loads(f) for f in sent]
    assert frames[1] == {
        "id": 1,
        "result": {
            "type": "data",
            "data": {
                "json": {"id": "1", "data": {"at": "2026-01-31T12:00:00.123Z"}},
                "meta": {"values": {"data.at": ["Date"]}, "v": 1},
            },
            "id": "1",
        },
    }
    await session.aclose()
