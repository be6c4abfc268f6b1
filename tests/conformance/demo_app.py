import asyncio
from typing import Any
from pydantic import BaseModel
from wirechat.rpc import init_rpc, Engine, RPCError, ErrorCode, tracked, RequestInfo, UNDEFINED
from wirechat.server import Application

class Ctx(BaseModel):
    token: str | None = None

t = init_rpc(Ctx)
p = t.procedure

async def hello(ctx, inp): return {"hello": inp}
async def mut(ctx, inp): return {"got": inp}
async def undef(ctx, inp): return UNDEFINED
async def fail(ctx, inp): raise RPCError(ErrorCode.UNAUTHORIZED, "nope")
async def boom(ctx, inp): raise ValueError("secret detail")
async def slow(ctx, inp):
    await asyncio.sleep(0.3); return "slow"
async def gen(ctx, inp):
    for i in range(3):
        yield i
class SubIn(BaseModel):
    lastEventId: str | None = None
async def ticks(ctx, inp):
    start = int(inp.lastEventId or 0) + 1
    for i in range(start, start + 3):
        await asyncio.sleep(0.05)
        yield tracked(str(i), {"n": i})

router = t.router({
    "hello": p.input(str | None).query(hello),
    "mut": p.input(Any).mutation(mut),
    "undef": p.query(undef),
    "fail": p.query(fail),
    "boom": p.query(boom),
    "slow": p.query(slow),
    "gen": p.query(gen),
    "ticks": p.input(SubIn | None).subscription(ticks),
    "nested": t.router({"deep": p.query(hello)}),
})

async def create_context(info: RequestInfo) -> Ctx:
    return Ctx(token=(info.connection_params or {}).get("token"))

async def build(settings) -> Application:
    return Application(Engine(router, create_context))
