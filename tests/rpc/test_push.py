"""Push subscriptions: PushSource.run(emit) on every transport (wirechat.rpc.push)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wirechat.rpc.codec import UNDEFINED
from wirechat.rpc.errors import ErrorCode, RPCError
from wirechat.rpc.init import init_rpc
from wirechat.rpc.push import Emit, PushSource, iterate_push
from wirechat.rpc.router import Router
from wirechat.rpc.tracked import tracked

from .support import body_bytes, make_handler, request


class Source(PushSource):
    """Emits ``values`` synchronously, then waits for ``release``, then ends or raises."""

    def __init__(self, values: list[Any], error: BaseException | None = None) -> None:
        self.values = values
        self.error = error
        self.release = asyncio.Event()
        self.emit: Emit | None = None
        self.cancelled = False

    async def run(self, emit: Emit) -> None:
        self.emit = emit
        for value in self.values:
            emit(value)
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error is not None:
            raise self.error


def test_an_object_with_an_async_run_method_is_a_push_source() -> None:
    assert isinstance(Source([]), PushSource)
    assert not isinstance(object(), PushSource)


async def test_iterate_push_yields_the_emitted_values_then_ends() -> None:
    source = Source([1, 2])
    source.release.set()
    assert [item async for item in iterate_push(source)] == [1, 2]


async def test_iterate_push_raises_the_source_error_after_its_values() -> None:
    source = Source([1], RPCError(ErrorCode.FORBIDDEN))
    source.release.set()
    seen: list[Any] = []
    with pytest.raises(RPCError):
        async for item in iterate_push(source):
            seen.append(item)
    assert seen == [1]


async def test_closing_the_iterator_cancels_the_source() -> None:
    source = Source([1])
    iterator = iterate_push(source)
    assert await anext(iterator) == 1
    await iterator.aclose()  # type: ignore[attr-defined]
    assert source.cancelled


def router_for(source: Source) -> Router:
    t = init_rpc(dict)

    async def events(ctx: Any, value: Any) -> Source:
        return source

    async def as_query(ctx: Any, value: Any) -> Source:
        return source

    return Router({"events": t.procedure.subscription(events), "q": t.procedure.query(as_query)})


async def test_sse_streams_a_push_source() -> None:
    source = Source([{"a": 1}, tracked("5", 2)])
    source.release.set()
    response = await request(make_handler(router_for(source)), "GET", "events")
    assert await body_bytes(response) == (
        b"event: connected\ndata: {}\n\n\n"
        b'data: {"a":1}\n\n\n'
        b"data: 2\nid: 5\n\n\n"
        b"event: return\ndata: \n\n\n"
    )


async def test_jsonl_streams_a_push_source_returned_by_a_query() -> None:
    source = Source([1, UNDEFINED])
    source.release.set()
    handler = make_handler(router_for(source))
    response = await request(
        handler, "GET", "q", "batch=1", headers={"trpc-accept": "application/jsonl"}
    )
    lines = (await body_bytes(response)).splitlines()
    assert lines[-3:] == [b"[3,1,[[1]]]", b"[3,1,[[]]]", b"[3,0,[[]]]"]


async def test_push_source_from_a_non_stream_request_is_415() -> None:
    response = await request(make_handler(router_for(Source([]))), "GET", "q")
    assert response.status == 415


async def test_iterate_push_stops_a_source_that_runs_ahead_of_its_reader() -> None:
    produced: list[int] = []

    class Flood(PushSource[int]):
        async def run(self, emit: Emit) -> None:
            for i in range(1000):
                produced.append(i)
                emit(i)

    values = iterate_push(Flood(), max_pending=10)
    assert await anext(values) == 0
    with pytest.raises(OverflowError):
        async for _ in values:
            pass
    assert len(produced) <= 12  # stopped at the bound, not after a thousand
