"""The call runner shared by every transport: context once, call, refuse, encode, close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from wirechat.rpc.codec import InputSource
from wirechat.rpc.context import RequestInfo
from wirechat.rpc.errors import ErrorCode, RPCError
from wirechat.rpc.init import init_rpc
from wirechat.rpc.push import Emit, PushSource
from wirechat.rpc.router import Router
from wirechat.rpc.runner import PreparedCall, Runner

from .support import make_engine

t = init_rpc(dict)


def build(state: dict[str, Any]) -> Router:
    gate = asyncio.Event()
    state["gate"] = gate

    async def value(ctx: Any, _: Any) -> Any:
        return {"v": 1}

    async def stream(ctx: Any, _: Any) -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            state["stream_closed"] = True

    async def slow_setup(ctx: Any, _: Any) -> AsyncIterator[int]:
        state["setting_up"] = state.get("setting_up", 0) + 1
        state["most_at_once"] = max(state.get("most_at_once", 0), state["setting_up"])
        try:
            await gate.wait()
        finally:
            state["setting_up"] -= 1
        return stream(ctx, _)

    class Pushes(PushSource):
        async def run(self, emit: Emit) -> None:
            emit("a")
            emit("b")

    async def pushes(ctx: Any, _: Any) -> PushSource:
        return Pushes()

    async def broken(ctx: Any, _: Any) -> AsyncIterator[int]:
        yield 1
        raise ValueError("internal detail")

    return Router(
        {
            "value": t.procedure.query(value),
            "stream": t.procedure.query(stream),
            "slowSetup": t.procedure.subscription(slow_setup),
            "pushes": t.procedure.subscription(pushes),
            "broken": t.procedure.subscription(broken),
        }
    )


async def open_runner(state: dict[str, Any], **options: Any) -> Runner[Any]:
    runner = Runner(make_engine(build(state)), RequestInfo("http"), **options)
    await runner.open()
    return runner


def prepared(runner: Runner[Any], path: str) -> PreparedCall:
    return PreparedCall(0, path, runner.engine.lookup(path), InputSource.of(None))


async def test_unary_encodes_a_value() -> None:
    runner = await open_runner({})
    assert await runner.unary(prepared(runner, "value"), "no streams") == b'{"v":1}'


async def test_unary_refuses_a_stream_and_closes_it() -> None:
    state: dict[str, Any] = {}
    runner = await open_runner(state)
    with pytest.raises(RPCError) as caught:
        await runner.unary(prepared(runner, "stream"), "no streams here")
    assert caught.value.code is ErrorCode.UNSUPPORTED_MEDIA_TYPE
    assert caught.value.message == "no streams here"


async def test_a_failed_context_fails_every_call_with_its_error() -> None:
    async def deny(info: RequestInfo) -> Any:
        raise RPCError(ErrorCode.UNAUTHORIZED, "who are you")

    runner = Runner(make_engine(build({}), deny), RequestInfo("http"))
    await runner.open()
    with pytest.raises(RPCError) as caught:
        await runner.call(prepared(runner, "value"))
    assert caught.value.code is ErrorCode.UNAUTHORIZED


async def test_pump_feeds_an_iterator_and_a_push_source_alike() -> None:
    state: dict[str, Any] = {}
    runner = await open_runner(state)
    seen: list[Any] = []
    await runner.pump("stream", await runner.call(prepared(runner, "stream")), seen.append)
    await runner.pump("pushes", await runner.call(prepared(runner, "pushes")), seen.append)
    assert seen == [1, 2, "a", "b"]
    assert state["stream_closed"]


async def test_pump_raises_a_stream_failure_as_a_hidden_internal_error() -> None:
    runner = await open_runner({})
    seen: list[Any] = []
    with pytest.raises(RPCError) as caught:
        await runner.pump("broken", await runner.call(prepared(runner, "broken")), seen.append)
    assert seen == [1]
    assert caught.value.code is ErrorCode.INTERNAL_SERVER_ERROR
    assert "internal detail" not in caught.value.message


async def test_stream_setups_beyond_the_limit_wait_their_turn() -> None:
    state: dict[str, Any] = {}
    runner = await open_runner(state, max_stream_setups=2)
    calls = [asyncio.ensure_future(runner.call(prepared(runner, "slowSetup"))) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert state["setting_up"] == 2
    state["gate"].set()
    for task in calls:
        await (await asyncio.wait_for(task, 1)).aclose()
    assert state["most_at_once"] == 2


async def test_stream_setups_past_a_long_line_get_too_many_requests() -> None:
    state: dict[str, Any] = {}
    runner = await open_runner(state, max_stream_setups=2)
    line = [asyncio.ensure_future(runner.call(prepared(runner, "slowSetup"))) for _ in range(22)]
    await asyncio.sleep(0.01)
    with pytest.raises(RPCError) as caught:
        await runner.call(prepared(runner, "slowSetup"))
    assert caught.value.code is ErrorCode.TOO_MANY_REQUESTS
    assert "limit 2" in caught.value.message
    state["gate"].set()
    for task in line:
        await (await asyncio.wait_for(task, 1)).aclose()
