"""A small tRPC app shared by the HTTP, JSONL, SSE and WebSocket tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from wirechat.rpc.codec import UNDEFINED
from wirechat.rpc.errors import ErrorCode, RPCError
from wirechat.rpc.init import init_rpc
from wirechat.rpc.middleware import Call, Next
from wirechat.rpc.router import Router
from wirechat.rpc.tracked import tracked

__all__ = ["build_router"]

t = init_rpc(dict)


def build_router(log: dict[str, Any] | None = None) -> Router:
    """The procedures the protocol tests call; ``log`` receives what they observed."""
    seen: dict[str, Any] = log if log is not None else {}

    async def observe(call: Call[Any], next: Next[Any]) -> Any:
        seen.setdefault("raw", []).append(call.raw_input.raw())
        seen.setdefault("batch_index", []).append(call.batch_index)
        seen.setdefault("ctx", []).append(call.ctx)
        return await next(call.ctx)

    p = t.procedure.use(observe)

    async def hello(ctx: Any, value: Any) -> Any:
        return {"hello": value}

    async def echo(ctx: Any, value: Any) -> Any:
        return value

    async def undef(ctx: Any, value: Any) -> Any:
        return UNDEFINED

    async def none(ctx: Any, value: Any) -> Any:
        return None

    async def fail(ctx: Any, value: Any) -> Any:
        raise RPCError(ErrorCode.UNAUTHORIZED, "nope")

    async def missing(ctx: Any, value: Any) -> Any:
        raise RPCError(ErrorCode.NOT_FOUND, "no such room")

    async def boom(ctx: Any, value: Any) -> Any:
        raise RuntimeError("secret internals")

    async def code(ctx: Any, value: Any) -> Any:
        raise RPCError(ErrorCode[value], f"raised {value}")

    async def gen(ctx: Any, value: Any) -> AsyncIterator[int]:
        yield 1
        yield 2

    async def gen_fail(ctx: Any, value: Any) -> AsyncIterator[int]:
        yield 1
        raise RPCError(ErrorCode.FORBIDDEN, "no more")

    async def slow(ctx: Any, value: Any) -> Any:
        await asyncio.sleep(value or 0.05)
        return "slow"

    async def hang(ctx: Any, value: Any) -> Any:
        try:
            await asyncio.Event().wait()
        finally:
            seen["hang_cancelled"] = True

    async def unserializable(ctx: Any, value: Any) -> Any:
        return object()

    async def sub(ctx: Any, value: Any) -> AsyncIterator[Any]:
        yield {"n": 1}
        yield tracked("2", {"n": 2})

    async def whoami(ctx: Any, value: Any) -> Any:
        return ctx.get("user")

    return Router(
        {
            "hello": p.input(Any).query(hello),
            "echo": p.input(Any).query(echo),
            "a": p.input(Any).query(echo),
            "b": p.input(Any).query(echo),
            "noinput": t.procedure.query(echo),
            "undef": p.query(undef),
            "none": p.query(none),
            "mut": p.input(Any).mutation(echo),
            "m": p.input(Any).mutation(echo),
            "fail": p.query(fail),
            "missing": p.query(missing),
            "boom": p.query(boom),
            "code": p.input(str).query(code),
            "gen": p.query(gen),
            "genFail": p.query(gen_fail),
            "slow": p.input(Any).query(slow),
            "hang": p.query(hang),
            "unserializable": p.query(unserializable),
            "sub": p.input(Any).subscription(sub),
            "whoami": p.query(whoami),
            "nested": {"deep": p.query(hello)},
        }
    )
