"""The middleware chain: order, context replacement, input validation."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from pydantic import BaseModel

from wirechat.rpc.codec import UNDEFINED, InputSource
from wirechat.rpc.context import RequestInfo
from wirechat.rpc.errors import ErrorCode, RPCError
from wirechat.rpc.init import init_rpc
from wirechat.rpc.middleware import Call, Next, run_chain
from wirechat.rpc.procedure import Procedure

from .support import make_engine

t = init_rpc(dict)


class SendMessage(BaseModel):
    room_id: int
    body: str


def make_call(proc: Procedure, source: InputSource, ctx: Any = None) -> Call[Any]:
    return Call(ctx if ctx is not None else {}, "p", proc.type, RequestInfo("http"), source)


async def run(proc: Procedure, value: Any = UNDEFINED, ctx: Any = None) -> Any:
    return await proc.call(make_call(proc, InputSource.of(value), ctx))


async def echo(ctx: Any, value: Any) -> Any:
    return {"ctx": ctx, "input": value}


def recorder(log: list[str], name: str) -> Any:
    async def middleware(call: Call[Any], next: Next[Any]) -> Any:
        log.append(f"{name} in")
        result = await next(call.ctx)
        log.append(f"{name} out")
        return result

    return middleware


async def require_user(call: Call[Any], next: Next[Any]) -> Any:
    if not call.ctx.get("user"):
        raise RPCError(ErrorCode.UNAUTHORIZED, "login first")
    return await next({**call.ctx, "authed": True})


async def test_middlewares_run_in_the_order_they_were_added_around_the_resolver() -> None:
    log: list[str] = []

    async def resolver(ctx: Any, value: Any) -> str:
        log.append("resolver")
        return "done"

    proc = t.procedure.use(recorder(log, "a")).use(recorder(log, "b")).query(resolver)
    assert await run(proc) == "done"
    assert log == ["a in", "b in", "resolver", "b out", "a out"]


async def test_a_middleware_replaces_the_context_for_the_rest_of_the_chain() -> None:
    seen: list[Any] = []

    async def add_user(call: Call[Any], next: Next[Any]) -> Any:
        return await next({"user": "ann"})

    async def look(call: Call[Any], next: Next[Any]) -> Any:
        seen.append(call.ctx)
        return await next(call.ctx)

    proc = t.procedure.use(look).use(add_user).use(look).query(echo)
    result = await run(proc, ctx={"user": None})
    assert seen == [{"user": None}, {"user": "ann"}]
    assert result["ctx"] == {"user": "ann"}


async def test_a_middleware_may_answer_without_calling_next() -> None:
    async def cached(call: Call[Any], next: Next[Any]) -> Any:
        return "from cache"

    async def resolver(ctx: Any, value: Any) -> str:
        raise AssertionError("resolver must not run")

    assert await run(t.procedure.use(cached).query(resolver)) == "from cache"


async def test_a_middleware_may_transform_the_result() -> None:
    async def upper(call: Call[Any], next: Next[Any]) -> Any:
        return (await next(call.ctx)).upper()

    async def resolver(ctx: Any, value: Any) -> str:
        return "hi"

    assert await run(t.procedure.use(upper).query(resolver)) == "HI"


async def test_a_middleware_sees_the_call_facts() -> None:
    seen: list[Call[Any]] = []

    async def look(call: Call[Any], next: Next[Any]) -> Any:
        seen.append(call)
        return await next(call.ctx)

    proc = t.procedure.use(look).mutation(echo)
    call = Call({}, "rooms.create", "mutation", RequestInfo("ws"), InputSource.of(1), 3)
    await proc.call(call)
    assert (seen[0].path, seen[0].type, seen[0].info.transport, seen[0].batch_index) == (
        "rooms.create",
        "mutation",
        "ws",
        3,
    )


async def test_invalid_input_is_bad_request_with_issues_of_path_and_message() -> None:
    proc = t.procedure.input(SendMessage).mutation(echo)
    with pytest.raises(RPCError) as info:
        await run(proc, {"room_id": "x"})
    err = info.value
    assert err.code is ErrorCode.BAD_REQUEST
    assert err.data is not None
    issues = err.data["issues"]
    assert [issue["path"] for issue in issues] == [["room_id"], ["body"]]
    assert all(set(issue) == {"path", "message"} for issue in issues)
    assert all(isinstance(issue["message"], str) and issue["message"] for issue in issues)
    assert "room_id" in err.message
    assert "body" in err.message


async def test_invalid_top_level_input_has_an_empty_issue_path() -> None:
    proc = t.procedure.input(int).query(echo)
    with pytest.raises(RPCError) as info:
        await run(proc, "abc")
    assert info.value.data is not None
    assert info.value.data["issues"][0]["path"] == []
    assert info.value.message.startswith("input: ")


async def test_the_validated_input_reaches_the_resolver_and_later_middlewares() -> None:
    seen: list[Any] = []

    async def look(call: Call[Any], next: Next[Any]) -> Any:
        seen.append(call.input)
        return await next(call.ctx)

    proc = t.procedure.input(SendMessage).use(look).mutation(echo)
    result = await run(proc, {"room_id": "3", "body": "hi"})
    assert seen == [SendMessage(room_id=3, body="hi")]
    assert result["input"] == SendMessage(room_id=3, body="hi")


async def test_auth_middleware_runs_before_input_validation() -> None:
    """A shared ``authed`` base rejects an anonymous caller before it reads the input."""
    authed = t.procedure.use(require_user)
    proc = authed.input(SendMessage).mutation(echo)
    with pytest.raises(RPCError) as info:
        await run(proc, {"garbage": True}, ctx={"user": None})
    assert info.value.code is ErrorCode.UNAUTHORIZED

    with pytest.raises(RPCError) as info:
        await run(proc, {"garbage": True}, ctx={"user": "ann"})
    assert info.value.code is ErrorCode.BAD_REQUEST


async def test_auth_middleware_does_not_decode_the_input() -> None:
    authed = t.procedure.use(require_user)
    proc = authed.input(SendMessage).mutation(echo)
    call = make_call(proc, InputSource.from_json("notjson"), ctx={"user": None})
    with pytest.raises(RPCError) as info:
        await proc.call(call)
    assert info.value.code is ErrorCode.UNAUTHORIZED


async def test_input_declared_before_use_is_validated_before_that_middleware() -> None:
    log: list[str] = []
    proc = t.procedure.input(int).use(recorder(log, "late")).query(echo)
    with pytest.raises(RPCError):
        await run(proc, "abc")
    assert log == []


async def test_run_chain_with_no_steps_calls_the_resolver() -> None:
    proc = t.procedure.query(echo)
    call = make_call(proc, InputSource.of(1))

    async def resolve(c: Call[Any]) -> str:
        return f"resolved {c.path}"

    assert await run_chain((), call, resolve) == "resolved p"


async def test_a_call_through_the_chain_leaves_no_cyclic_garbage() -> None:
    # Every call's leftovers must be freed by reference counting: cyclic garbage is
    # only freed by the collector, whose full collections pause the event loop.
    log: list[str] = []
    proc = t.procedure.use(recorder(log, "a")).input(int).use(recorder(log, "b")).query(echo)
    await run(proc, 1)  # first-call caches (pydantic, the chain's own) are not garbage
    gc.collect()
    gc.disable()
    try:
        for i in range(50):
            assert (await run(proc, i))["input"] == i
        found = gc.collect()
    finally:
        gc.enable()
    assert found == 0
    assert len(log) == 51 * 4


async def test_the_engine_turns_a_middleware_exception_into_internal_server_error() -> None:
    async def broken(call: Call[Any], next: Next[Any]) -> Any:
        raise KeyError("secret")

    proc = t.procedure.use(broken).query(echo)
    engine = make_engine(t.router({"p": proc}))
    with pytest.raises(RPCError) as info:
        await engine.call(proc, "p", {}, RequestInfo("http"), InputSource.of(UNDEFINED))
    assert info.value.code is ErrorCode.INTERNAL_SERVER_ERROR
    assert info.value.message == "INTERNAL_SERVER_ERROR"
