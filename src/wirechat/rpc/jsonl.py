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
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from .codec import dumps
from .errors import RPCError
from .limits import Outbox
from .push import StreamClosed, is_stream
from .runner import PreparedCall, Runner
from .tracked import Tracked

__all__ = ["JSONL_HEADERS", "jsonl_stream"]

JSONL_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-type", "application/json"),
    ("vary", "trpc-accept, accept"),
)

logger = logging.getLogger("wirechat.rpc")

_PROMISE_FULFILLED = 0
_ITERABLE = 1
_ITER_YIELD, _ITER_RETURN, _ITER_ERROR = 1, 0, 2
_PING = b" "


def _encoded(data: bytes | None) -> list[Any]:
    """An EncodedValue around already encoded JSON: ``[[value]]``, or ``[[]]`` for undefined."""
    return [[]] if data is None else [[orjson.Fragment(data)]]


def _encoded_item(runner: Runner[Any], item: Any, path: str) -> list[Any]:
    """One yielded value; a tracked one is ``{"id", "data"}`` as in tRPC's jsonl stream."""
    if isinstance(item, Tracked):
        item = {"id": item.id, "data": item.data}
    return _encoded(runner.encode(item, path))


async def jsonl_stream(
    runner: Runner[Any],
    calls: Sequence[PreparedCall],
    ping_ms: int | None = None,
    max_buffered_bytes: int = 8 * 1024 * 1024,
) -> AsyncIterator[bytes]:
    """Yield the lines of a streamed batch response.

    Lines wait in an :class:`Outbox` of ``max_buffered_bytes``; a client reading
    slower than that is cut (the response ends) and every call is cancelled.
    """
    engine = runner.engine
    yield dumps({str(c.index): [[0], [None, 0, c.index]] for c in calls}) + b"\n"

    lines = Outbox(max_buffered_bytes)
    next_chunk = len(calls)

    def allocate() -> int:
        nonlocal next_chunk
        next_chunk += 1
        return next_chunk - 1

    def put(chunk: list[Any]) -> None:
        if not lines.closed and not lines.put(dumps(chunk) + b"\n"):
            task.cancel()

    await runner.open()

    def fail(call: PreparedCall, error: RPCError) -> None:
        shape = engine.error_shape(error, call.path)
        put([call.index, _PROMISE_FULFILLED, [[{"error": shape}]]])

    async def run(call: PreparedCall) -> None:
        try:
            result = await runner.call(call)
            if not is_stream(result):
                value = _encoded(runner.encode(result, call.path))
        except RPCError as err:
            fail(call, err)
            return
        result_chunk = allocate()
        put([call.index, _PROMISE_FULFILLED, [[{"result": 0}], ["result", 0, result_chunk]]])
        data_chunk = allocate()
        put([result_chunk, _PROMISE_FULFILLED, [[{"data": 0}], ["data", 0, data_chunk]]])
        if not is_stream(result):
            put([data_chunk, _PROMISE_FULFILLED, value])
            return
        items_chunk = allocate()
        put([data_chunk, _PROMISE_FULFILLED, [[0], [None, _ITERABLE, items_chunk]]])

        def emit(item: Any) -> None:
            if lines.closed:
                raise StreamClosed
            put([items_chunk, _ITER_YIELD, _encoded_item(runner, item, call.path)])

        try:
            await runner.pump(call.path, result, emit)
        except RPCError as err:
            put([items_chunk, _ITER_ERROR, engine.error_shape(err, call.path)])
        else:
            put([items_chunk, _ITER_RETURN, [[]]])

    async def run_all() -> None:
        try:
            await asyncio.gather(*(run(call) for call in calls))
        finally:
            lines.close()

    task = asyncio.ensure_future(run_all())
    timeout = ping_ms / 1000 if ping_ms else None
    try:
        while True:
            try:
                line = await lines.get(timeout)
            except TimeoutError:
                yield _PING
                continue
            if line is None:
                if lines.overflowed:
                    logger.warning("JSONL response: client too slow, ending it")
                break
            yield line
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
