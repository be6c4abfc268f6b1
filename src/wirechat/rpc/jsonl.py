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

from .codec import UNDEFINED, dumps
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


class _Lines:
    """Encodes the lines of one response: plain JSON, or with a transformer each whole
    line through it, as tRPC's producer does."""

    __slots__ = ("runner", "transformer")

    def __init__(self, runner: Runner[Any]) -> None:
        self.runner = runner
        self.transformer = runner.engine.transformer

    def line(self, chunk: list[Any] | dict[str, Any]) -> bytes:
        if self.transformer is None:
            return dumps(chunk) + b"\n"
        return dumps(self.transformer.serialize(chunk)) + b"\n"

    def payload(self, value: Any, path: str) -> Any:
        """The EncodedValue of one value of ``path`` (a tracked one as ``{"id", "data"}``);
        raises RPCError when it cannot be encoded, before any chunk is spent on it."""
        runner = self.runner
        if isinstance(value, Tracked):
            value = _TrackedItem(value.id, value.data)
        if self.transformer is None:
            data = value.as_dict() if isinstance(value, _TrackedItem) else value
            return _encoded(runner.encode(data, path))
        if value is UNDEFINED:
            return [[]]
        self.value_line(0, 0, [[value]], path)  # fails now rather than mid-stream
        return [[value]]

    def value_line(self, chunk_id: int, status: int, payload: Any, path: str) -> bytes:
        """The line of a chunk carrying a :meth:`payload`."""
        transformer = self.transformer
        if transformer is None or payload == [[]]:
            return self.line([chunk_id, status, payload])
        value = payload[0][0]
        dates = self.runner.engine.output_dates(path)
        if isinstance(value, _TrackedItem):
            value = value.as_dict()
            dates = None if dates is None else {"data": dates}
        line = [chunk_id, status, [[value]]]
        tree = None if dates is None else {"2": {"0": {"0": dates}}}
        try:
            return dumps(transformer.serialize(line, tree)) + b"\n"
        except (TypeError, ValueError) as exc:
            raise self.runner.engine.wrap(exc, path) from exc


class _TrackedItem:
    """A tracked value yielded into a JSONL stream: sent as ``{"id", "data"}``."""

    __slots__ = ("data", "id")

    def __init__(self, id: str, data: Any) -> None:
        self.id = id
        self.data = data

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "data": self.data}


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
    encoder = _Lines(runner)
    yield encoder.line({str(c.index): [[0], [None, 0, c.index]] for c in calls})

    lines = Outbox(max_buffered_bytes)
    next_chunk = len(calls)

    def allocate() -> int:
        nonlocal next_chunk
        next_chunk += 1
        return next_chunk - 1

    def put(chunk: list[Any] | bytes) -> None:
        data = chunk if isinstance(chunk, bytes) else encoder.line(chunk)
        if not lines.closed and not lines.put(data):
            task.cancel()

    await runner.open()

    def fail(call: PreparedCall, error: RPCError) -> None:
        shape = engine.error_shape(error, call.path)
        put([call.index, _PROMISE_FULFILLED, [[{"error": shape}]]])

    async def run(call: PreparedCall) -> None:
        try:
            result = await runner.call(call)
            if not is_stream(result):
                value = encoder.payload(result, call.path)
        except RPCError as err:
            fail(call, err)
            return
        result_chunk = allocate()
        put([call.index, _PROMISE_FULFILLED, [[{"result": 0}], ["result", 0, result_chunk]]])
        data_chunk = allocate()
        put([result_chunk, _PROMISE_FULFILLED, [[{"data": 0}], ["data", 0, data_chunk]]])
        if not is_stream(result):
            put(encoder.value_line(data_chunk, _PROMISE_FULFILLED, value, call.path))
            return
        items_chunk = allocate()
        put([data_chunk, _PROMISE_FULFILLED, [[0], [None, _ITERABLE, items_chunk]]])

        def emit(item: Any) -> None:
            if lines.closed:
                raise StreamClosed
            payload = encoder.payload(item, call.path)
            put(encoder.value_line(items_chunk, _ITER_YIELD, payload, call.path))

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
