"""httpBatchStreamLink responses: one JSON value per line, flushed as calls settle.

Byte-for-byte the encoding of tRPC v11's own server (``jsonl.ts``): a head line with
one promise placeholder per call, then chunk lines ``[chunkId, status, payload]``
in completion order. Each call settles as ``{"error": shape}`` inline, or through
the ``result`` and ``data`` promise levels; a call that returns an async iterator
streams its items as iterable chunks. Closing the iterator cancels every call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from .codec import UNDEFINED, dumps
from .context import RequestInfo
from .engine import Engine
from .errors import RPCError
from .push import PushSource, iterate_push
from .tracked import Tracked

if TYPE_CHECKING:
    from .http import PreparedCall

__all__ = ["JSONL_HEADERS", "jsonl_stream"]

JSONL_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-type", "application/json"),
    ("vary", "trpc-accept, accept"),
)

_PROMISE_FULFILLED = 0
_ITERABLE = 1
_ITER_YIELD, _ITER_RETURN, _ITER_ERROR = 1, 0, 2
_PING = b" "


def _encoded(value: Any) -> list[Any]:
    """An EncodedValue: ``[[value]]``, or ``[[]]`` for undefined.

    The value is encoded here, so a value that is not JSON-serializable raises
    TypeError for its own call instead of breaking the whole response.
    """
    if isinstance(value, Tracked):
        value = {"id": value.id, "data": value.data}
    return [[]] if value is UNDEFINED else [[orjson.Fragment(dumps(value))]]


async def jsonl_stream(
    engine: Engine[Any],
    calls: Sequence[PreparedCall],
    info: RequestInfo,
    ping_ms: int | None = None,
) -> AsyncIterator[bytes]:
    """Yield the lines of a streamed batch response."""
    yield dumps({str(c.index): [[0], [None, 0, c.index]] for c in calls}) + b"\n"

    lines: asyncio.Queue[bytes | None] = asyncio.Queue()
    next_chunk = len(calls)

    def allocate() -> int:
        nonlocal next_chunk
        next_chunk += 1
        return next_chunk - 1

    def put(chunk: list[Any]) -> None:
        lines.put_nowait(dumps(chunk) + b"\n")

    context_error: RPCError | None = None
    ctx: Any = None
    try:
        ctx = await engine.create_context(info)
    except RPCError as err:
        context_error = err

    async def run(call: PreparedCall) -> None:
        error = call.error or context_error
        if error is None:
            assert call.procedure is not None
            try:
                result = await engine.call(
                    call.procedure, call.path, ctx, info, call.raw_input, call.index
                )
            except RPCError as err:
                error = err
        if error is not None:
            shape = engine.error_shape(error, call.path)
            put([call.index, _PROMISE_FULFILLED, [[{"error": shape}]]])
            return
        if isinstance(result, PushSource):
            result = iterate_push(result)
        if not hasattr(result, "__aiter__"):
            try:
                value = _encoded(result)
            except TypeError as exc:
                # Not JSON-serializable: a server fault for this call only.
                put(
                    [call.index, _PROMISE_FULFILLED, [[{"error": engine.shape_of(exc, call.path)}]]]
                )
                return
            result_chunk = allocate()
            put([call.index, _PROMISE_FULFILLED, [[{"result": 0}], ["result", 0, result_chunk]]])
            data_chunk = allocate()
            put([result_chunk, _PROMISE_FULFILLED, [[{"data": 0}], ["data", 0, data_chunk]]])
            put([data_chunk, _PROMISE_FULFILLED, value])
            return
        result_chunk = allocate()
        put([call.index, _PROMISE_FULFILLED, [[{"result": 0}], ["result", 0, result_chunk]]])
        data_chunk = allocate()
        put([result_chunk, _PROMISE_FULFILLED, [[{"data": 0}], ["data", 0, data_chunk]]])
        items_chunk = allocate()
        put([data_chunk, _PROMISE_FULFILLED, [[0], [None, _ITERABLE, items_chunk]]])
        try:
            async for item in result:
                put([items_chunk, _ITER_YIELD, _encoded(item)])
        except Exception as exc:
            put([items_chunk, _ITER_ERROR, engine.shape_of(exc, call.path)])
        else:
            put([items_chunk, _ITER_RETURN, _encoded(UNDEFINED)])

    async def run_all() -> None:
        try:
            await asyncio.gather(*(run(call) for call in calls))
        finally:
            lines.put_nowait(None)

    runner = asyncio.ensure_future(run_all())
    timeout = ping_ms / 1000 if ping_ms else None
    try:
        while True:
            try:
                line = await asyncio.wait_for(lines.get(), timeout)
            except TimeoutError:
                yield _PING
                continue
            if line is None:
                break
            yield line
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
