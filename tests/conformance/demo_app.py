"""The router the conformance suite talks to: one procedure per protocol behaviour.

Run it as ``wirechat serve --app demo_app:build`` (PYTHONPATH=tests/conformance),
or behind handler options the CLI does not expose with ``alt_server.py``.

Test-only hooks (never in a real app):

- ``events`` reads what procedures recorded under a tag (cancellations, the
  ``lastEventId`` a subscription was resumed with, context creations);
- ``ws.killMe`` / ``ws.reconnectMe`` reach the caller's own picows connection,
  found by peer address in the :class:`WSServer` instances recorded below. The
  engine gives a procedure no handle on its connection (see COVERAGE.md, test-only hooks).
- createContext reads ``token`` from connectionParams (or the ``x-token``
  header): ``bad`` → UNAUTHORIZED, ``slow`` → 300 ms delay.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections import defaultdict
from typing import Any

from pydantic import BaseModel

from wirechat.rpc import (
    UNDEFINED,
    Engine,
    ErrorCode,
    RequestInfo,
    RPCError,
    WSServer,
    init_rpc,
    tracked,
)
from wirechat.rpc.ws.protocol import RECONNECT
from wirechat.server import Application

__all__ = ["build", "make_engine"]

# -- test-only reach into the standalone WebSocket server ---------------------------

WS_SERVERS: list[WSServer] = []
_ws_init = WSServer.__init__


def _recording_init(self: WSServer, *args: Any, **kwargs: Any) -> None:
    _ws_init(self, *args, **kwargs)
    WS_SERVERS.append(self)


WSServer.__init__ = _recording_init  # type: ignore[method-assign]

EVENTS: defaultdict[str, list[Any]] = defaultdict(list)
_context_ids = itertools.count(1)


def record(tag: str | None, event: Any) -> None:
    if tag:
        EVENTS[tag].append(event)


@dataclasses.dataclass(frozen=True)
class Ctx:
    token: str | None = None
    context_id: int = 0
    transport: str = "http"
    peer: str | None = None
    params: Any = None
    last_event_id_header: str | None = None
    batch_index: int = 0


t = init_rpc(Ctx)


async def _capture_batch_index(call: Any, next: Any) -> Any:
    return await next(dataclasses.replace(call.ctx, batch_index=call.batch_index))


p = t.procedure.use(_capture_batch_index)


# -- queries and mutations ------------------------------------------------------------


async def hello(ctx: Ctx, inp: str | None) -> Any:
    return {"hello": inp}


async def echo(ctx: Ctx, inp: Any) -> Any:
    return {"input": inp}


async def mut(ctx: Ctx, inp: Any) -> Any:
    return {"got": inp}


async def undef(ctx: Ctx, inp: Any) -> Any:
    return UNDEFINED


async def none(ctx: Ctx, inp: Any) -> Any:
    return None


async def fail(ctx: Ctx, inp: Any) -> Any:
    raise RPCError(ErrorCode.UNAUTHORIZED, "nope")


async def boom(ctx: Ctx, inp: Any) -> Any:
    raise ValueError("secret detail")


async def error_of(ctx: Ctx, key: str) -> Any:
    raise RPCError(ErrorCode[key], f"error {key}")


async def teapot(ctx: Ctx, inp: Any) -> Any:
    raise RPCError(ErrorCode.FORBIDDEN, "I'm a teapot")


async def slow(ctx: Ctx, inp: Any) -> Any:
    await asyncio.sleep(0.3)
    return "slow"


async def sleep_ms(ctx: Ctx, ms: int) -> Any:
    await asyncio.sleep(ms / 1000)
    return ms


async def gen(ctx: Ctx, inp: Any) -> Any:
    for i in range(3):
        yield i


async def gen_fail(ctx: Ctx, inp: Any) -> Any:
    yield 1
    await asyncio.sleep(0.01)
    raise RPCError(ErrorCode.FORBIDDEN, "stream forbidden")


async def hang(ctx: Ctx, tag: str) -> Any:
    record(tag, "started")
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        record(tag, "cancelled")
        raise
    return "finished"


async def ctx_info(ctx: Ctx, inp: Any) -> Any:
    return {
        "contextId": ctx.context_id,
        "batchIndex": ctx.batch_index,
        "transport": ctx.transport,
        "token": ctx.token,
        "params": ctx.params,
    }


async def events(ctx: Ctx, tag: str) -> Any:
    return EVENTS.get(tag, [])


# -- subscriptions --------------------------------------------------------------------


class TicksIn(BaseModel):
    lastEventId: str | None = None
    count: int = 3
    delayMs: int = 50
    tag: str | None = None


async def ticks(ctx: Ctx, inp: TicksIn | None) -> Any:
    """Tracked ``{"n": i}`` events with ids 1..count (count < 0: forever); a resume
    continues after lastEventId."""
    inp = inp or TicksIn()
    record(
        inp.tag,
        {
            "lastEventId": inp.lastEventId,
            "header": ctx.last_event_id_header,
            "transport": ctx.transport,
        },
    )
    start = int(inp.lastEventId or 0) + 1
    stop = inp.count + 1 if inp.count >= 0 else None
    try:
        for i in itertools.count(start):
            if stop is not None and i >= stop:
                break
            await asyncio.sleep(inp.delayMs / 1000)
            yield tracked(str(i), {"n": i})
    finally:
        record(inp.tag, "closed")


async def plain(ctx: Ctx, n: int | None) -> Any:
    for i in range(n if n is not None else 2):
        yield {"plain": i}


async def echo_sub(ctx: Ctx, inp: Any) -> Any:
    """Yields its (merged) input once, then returns."""
    yield {"input": inp, "token": ctx.token, "params": ctx.params}


async def sub_fail(ctx: Ctx, inp: Any) -> Any:
    yield "before"
    await asyncio.sleep(0.01)
    raise RPCError(ErrorCode.FORBIDDEN, "not for you")


async def sub_reject(ctx: Ctx, inp: Any) -> Any:
    """Fails before returning an iterator: no started/stopped over WS."""
    raise RPCError(ErrorCode.BAD_REQUEST, "rejected before iteration")


_flaky_attempts: defaultdict[str, int] = defaultdict(int)


async def flaky(ctx: Ctx, tag: str) -> Any:
    """First connection: INTERNAL_SERVER_ERROR before any value; later ones yield and return."""
    _flaky_attempts[tag] += 1
    attempt = _flaky_attempts[tag]
    record(tag, attempt)
    if attempt == 1:
        raise ValueError("transient")
    yield {"attempt": attempt}


async def idle(ctx: Ctx, tag: str) -> Any:
    """Never yields; records when it is cancelled."""
    record(tag, "started")
    try:
        await asyncio.sleep(3600)
        yield "never"
    finally:
        record(tag, "cancelled")


async def mixed(ctx: Ctx, tag: str) -> Any:
    """tracked "3", an untracked value, then idle (ended by maxDurationMs on the alt server)."""
    record(tag, {"header": ctx.last_event_id_header})
    if ctx.last_event_id_header is not None:
        yield "resumed"
        return
    yield tracked("3", "tracked")
    yield "untracked"
    await asyncio.sleep(3600)


class FloodIn(BaseModel):
    tag: str
    size: int = 256 * 1024
    count: int = 400


async def flood(ctx: Ctx, inp: FloodIn) -> Any:
    """Large payloads as fast as the loop allows (slow-reader protection)."""
    chunk = "x" * inp.size
    started = time.monotonic()
    sent = 0
    try:
        for _ in range(inp.count):
            yield chunk
            sent += 1
            await asyncio.sleep(0)
    finally:
        record(inp.tag, {"sent": sent, "seconds": time.monotonic() - started})


async def who_sub(ctx: Ctx, inp: Any) -> Any:
    yield {"token": ctx.token, "params": ctx.params, "transport": ctx.transport}


# -- WebSocket hooks (test-only) ------------------------------------------------------


def _own_connection(ctx: Ctx) -> Any:
    for server in WS_SERVERS:
        for conn in list(server.connections):
            if conn.peer == ctx.peer:
                return conn
    raise RPCError(ErrorCode.NOT_FOUND, "no standalone WebSocket connection for this caller")


class HookIn(BaseModel):
    delayMs: int = 20
    all: bool = False


async def kill_me(ctx: Ctx, inp: HookIn | None) -> Any:
    """Drop the caller's socket without a close frame (the client sees 1006)."""
    inp = inp or HookIn()
    conn = _own_connection(ctx)
    asyncio.get_running_loop().call_later(
        inp.delayMs / 1000, lambda: conn.transport.disconnect(graceful=False)
    )
    return "killing"


async def reconnect_me(ctx: Ctx, inp: HookIn | None) -> Any:
    """Send ``{"id":null,"method":"reconnect"}`` to the caller (or to every connection)."""
    inp = inp or HookIn()
    if inp.all:
        sessions = [c.session for s in WS_SERVERS for c in list(s.connections) if c.session]
    else:
        sessions = [_own_connection(ctx).session]

    def send() -> None:
        for session in sessions:
            session.send(RECONNECT)

    asyncio.get_running_loop().call_later(inp.delayMs / 1000, send)
    return len(sessions)


async def ws_stats(ctx: Ctx, inp: Any) -> Any:
    return {"connections": sum(len(s.connections) for s in WS_SERVERS)}


router = t.router(
    {
        "hello": p.input(str | None).query(hello),
        "echo": p.input(Any).query(echo),
        "mut": p.input(Any).mutation(mut),
        "undef": p.query(undef),
        "none": p.query(none),
        "fail": p.query(fail),
        "boom": p.query(boom),
        "errorOf": p.input(str).query(error_of),
        "teapot": p.query(teapot),
        "slow": p.query(slow),
        "sleep": p.input(int).query(sleep_ms),
        "gen": p.query(gen),
        "genFail": p.query(gen_fail),
        "hang": p.input(str).query(hang),
        "ctxInfo": p.query(ctx_info),
        "events": p.input(str).query(events),
        "ticks": p.input(TicksIn | None).subscription(ticks),
        "plain": p.input(int | None).subscription(plain),
        "echoSub": p.input(Any).subscription(echo_sub),
        "subFail": p.subscription(sub_fail),
        "subReject": p.subscription(sub_reject),
        "flaky": p.input(str).subscription(flaky),
        "idle": p.input(str).subscription(idle),
        "mixed": p.input(str).subscription(mixed),
        "flood": p.input(FloodIn).subscription(flood),
        "whoSub": p.subscription(who_sub),
        "nested": t.router({"deep": p.input(str | None).query(hello)}),
        "ws": t.router(
            {
                "killMe": p.input(HookIn | None).mutation(kill_me),
                "reconnectMe": p.input(HookIn | None).mutation(reconnect_me),
                "stats": p.query(ws_stats),
            }
        ),
    }
)


async def create_context(info: RequestInfo) -> Ctx:
    params = info.connection_params
    token = (params or {}).get("token") or info.headers.get("x-token")
    context_id = next(_context_ids)
    record(token and f"ctx:{token}", {"id": context_id, "transport": info.transport})
    if token == "bad":
        raise RPCError(ErrorCode.UNAUTHORIZED, "bad token")
    if token == "slow":
        await asyncio.sleep(0.3)
    return Ctx(
        token=token,
        context_id=context_id,
        transport=info.transport,
        peer=info.peer,
        params=params,
        last_event_id_header=info.headers.get("last-event-id"),
    )


def error_formatter(shape: Any, err: RPCError) -> Any:
    """A custom formatter (c22): the ``teapot`` path answers HTTP 418."""
    if shape.get("data", {}).get("path") == "teapot":
        shape["data"]["httpStatus"] = 418
    return shape


def make_engine(is_dev: bool = False) -> Engine[Ctx]:
    return Engine(router, create_context, is_dev=is_dev, error_formatter=error_formatter)


async def build(settings: Any) -> Application:
    return Application(make_engine(is_dev=settings.dev_mode))
