"""The immutable ProcedureBuilder and built procedures, subscriptions included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from wirechat.rpc.codec import UNDEFINED, InputSource
from wirechat.rpc.context import RequestInfo
from wirechat.rpc.errors import ErrorCode, RPCError
from wirechat.rpc.init import init_rpc
from wirechat.rpc.middleware import Call, Next
from wirechat.rpc.procedure import Procedure, ProcedureBuilder
from wirechat.rpc.router import Router

t = init_rpc(dict)


def make_call(proc: Procedure, value: Any = UNDEFINED, ctx: Any = None, **kw: Any) -> Call[Any]:
    source = kw.pop("source", None) or InputSource.of(value)
    return Call(ctx or {}, kw.pop("path", "p"), proc.type, RequestInfo("http"), source, **kw)


async def run(proc: Procedure, value: Any = UNDEFINED, ctx: Any = None, **kw: Any) -> Any:
    return await proc.call(make_call(proc, value, ctx, **kw))


async def tag(call: Call[Any], next: Next[Any]) -> Any:
    return await next({**call.ctx, "tag": True})


async def echo(ctx: Any, value: Any) -> Any:
    return {"ctx": ctx, "input": value}


def test_init_rpc_gives_an_empty_procedure_builder() -> None:
    assert isinstance(t.procedure, ProcedureBuilder)
    assert isinstance(t.router({}), Router)


async def test_use_returns_a_new_builder_and_leaves_the_base_unchanged() -> None:
    base = t.procedure
    tagged = base.use(tag)
    assert tagged is not base
    assert (await run(base.query(echo)))["ctx"] == {}
    assert (await run(tagged.query(echo)))["ctx"] == {"tag": True}


async def test_a_shared_base_is_not_changed_by_procedures_derived_from_it() -> None:
    order: list[str] = []

    def recorder(name: str) -> Any:
        async def middleware(call: Call[Any], next: Next[Any]) -> Any:
            order.append(name)
            return await next(call.ctx)

        return middleware

    authed = t.procedure.use(recorder("auth"))
    first = authed.use(recorder("first")).input(int).query(echo)
    second = authed.query(echo)
    third = authed.output(str).query(lambda ctx, value: _value("x"))

    await run(second)
    assert order == ["auth"]
    order.clear()
    await run(first, 3)
    assert order == ["auth", "first"]
    order.clear()
    # `second` neither validates input nor output: the derived builders did not leak into it.
    assert await run(second, "not an int") == {"ctx": {}, "input": None}
    assert order == ["auth"]
    assert await run(third) == "x"


async def _value(value: Any) -> Any:
    return value


def test_input_and_output_return_new_builders() -> None:
    base = t.procedure
    assert base.input(int) is not base
    assert base.output(int) is not base


@pytest.mark.parametrize(
    ("build", "kind"),
    [
        (lambda b: b.query(echo), "query"),
        (lambda b: b.mutation(echo), "mutation"),
        (lambda b: b.subscription(echo), "subscription"),
    ],
)
def test_the_terminal_methods_set_the_procedure_type(build: Any, kind: str) -> None:
    assert build(t.procedure).type == kind


def test_the_resolver_docstring_becomes_the_description() -> None:
    async def documented(ctx: Any, value: Any) -> None:
        """Says hello."""

    assert t.procedure.query(documented).description == "Says hello."


async def test_a_procedure_without_input_schema_gets_none_and_never_reads_input() -> None:
    """input is parsed lazily, so bad JSON does not fail a procedure that ignores it."""
    proc = t.procedure.query(echo)
    result = await run(proc, source=InputSource.from_json("notjson"))
    assert result["input"] is None


async def test_a_procedure_with_input_schema_validates_and_coerces_the_input() -> None:
    class Point(BaseModel):
        x: int
        y: int = 0

    proc = t.procedure.input(Point).query(echo)
    result = await run(proc, {"x": "4"})
    assert result["input"] == Point(x=4, y=0)


async def test_a_procedure_with_input_schema_fails_on_bad_json_with_bad_request() -> None:
    """c17: ?input=notjson is BAD_REQUEST for a procedure that reads its input."""
    proc = t.procedure.input(str).query(echo)
    with pytest.raises(RPCError) as info:
        await run(proc, source=InputSource.from_json("notjson"))
    assert info.value.code is ErrorCode.BAD_REQUEST


async def test_absent_input_is_validated_as_none() -> None:
    assert (await run(t.procedure.input(int | None).query(echo)))["input"] is None
    with pytest.raises(RPCError) as info:
        await run(t.procedure.input(int).query(echo))
    assert info.value.code is ErrorCode.BAD_REQUEST


async def test_undefined_result_passes_through() -> None:
    """c3: a resolver returning UNDEFINED gives {"result":{}} on the wire."""
    proc = t.procedure.output(int).query(lambda ctx, value: _value(UNDEFINED))
    assert await run(proc) is UNDEFINED


async def test_output_schema_coerces_the_result() -> None:
    proc = t.procedure.output(int).query(lambda ctx, value: _value("12"))
    assert await run(proc) == 12


async def test_output_validation_failure_is_internal_server_error() -> None:
    proc = t.procedure.output(int).query(lambda ctx, value: _value("twelve"))
    with pytest.raises(RPCError) as info:
        await run(proc)
    assert info.value.code is ErrorCode.INTERNAL_SERVER_ERROR
    assert info.value.message == "Output validation failed"


async def test_a_synchronous_resolver_result_is_accepted() -> None:
    proc = t.procedure.query(lambda ctx, value: 5)  # type: ignore[arg-type,return-value]
    assert await run(proc) == 5


async def test_subscription_resolver_may_be_an_async_generator_function() -> None:
    async def numbers(ctx: Any, value: Any) -> AsyncIterator[int]:
        yield 1
        yield 2

    iterator = await run(t.procedure.subscription(numbers))
    assert [item async for item in iterator] == [1, 2]


async def test_subscription_resolver_may_be_a_coroutine_returning_an_iterator() -> None:
    """The setup before ``return`` has finished when the procedure call returns."""
    steps: list[str] = []

    async def numbers(ctx: Any, value: Any) -> AsyncIterator[int]:
        steps.append("setup")

        async def stream() -> AsyncIterator[int]:
            yield 3

        return stream()

    iterator = await run(t.procedure.subscription(numbers))
    assert steps == ["setup"]
    assert [item async for item in iterator] == [3]


@pytest.mark.parametrize("returned", [[1, 2], 5, None])
async def test_subscription_returning_no_async_iterator_is_internal_server_error(
    returned: Any,
) -> None:
    """`Subscription <path> did not return an observable or a AsyncGenerator`."""
    proc = t.procedure.subscription(lambda ctx, value: _value(returned))
    with pytest.raises(RPCError) as info:
        await run(proc, path="rooms.events")
    assert info.value.code is ErrorCode.INTERNAL_SERVER_ERROR
    assert info.value.message == (
        "Subscription rooms.events did not return an observable or a AsyncGenerator"
    )


async def test_subscription_input_gets_the_last_event_id_merged() -> None:
    """Only subscription procedures see lastEventId in their input."""
    source = InputSource.of({"room": 1}, last_event_id="4")
    sub = t.procedure.input(dict).subscription(lambda ctx, value: _value(_once(value)))
    iterator = await run(sub, source=source)
    assert [item async for item in iterator] == [{"room": 1, "lastEventId": "4"}]

    query = t.procedure.input(dict).query(echo)
    source = InputSource.of({"room": 1}, last_event_id="4")
    assert (await run(query, source=source))["input"] == {"room": 1}


async def _once(value: Any) -> AsyncIterator[Any]:
    yield value


async def test_resolver_exceptions_propagate_from_the_procedure() -> None:
    async def fail(ctx: Any, value: Any) -> None:
        raise RPCError(ErrorCode.CONFLICT, "taken")

    with pytest.raises(RPCError) as info:
        await run(t.procedure.mutation(fail))
    assert info.value.code is ErrorCode.CONFLICT
