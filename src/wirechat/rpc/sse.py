"""httpSubscriptionLink responses: Server-Sent Events as tRPC v11 writes them.

Every event ends with two blank lines as in the reference. The stream opens with
``connected``; tracked values carry ``id:``; an untracked value after a tracked
one blanks the id and restores it with ``restore-id`` (≥11.2x); the end of the
generator is ``return``; an error is ``serialized-error``. A client disconnect,
``max_duration_ms`` or the application ending the stream without an error
(:meth:`SSEConnection.end_subscriptions`) ends it without ``return``, so the client
resumes with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

from .codec import dumps
from .connection import Connection
from .engine import Engine
from .errors import RPCError
from .limits import Outbox
from .push import StreamClosed
from .runner import PreparedCall, Runner
from .tracked import Tracked

__all__ = ["SSE_HEADERS", "SSEConnection", "SSEOptions", "sse_event", "sse_stream"]

SSE_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-type", "text/event-stream"),
    ("cache-control", "no-cache, no-transform"),
    ("x-accel-buffering", "no"),
    ("connection", "keep-alive"),
    ("vary", "trpc-accept, accept"),
)

logger = logging.getLogger("wirechat.rpc")

_PING = b"event: ping\ndata: \n\n\n"
_RETURN = b"event: return\ndata: \n\n\n"
_RECONNECT_SOON = b'event: connected\ndata: {"reconnectAfterInactivityMs":1000}\n\n\n'


@dataclass(frozen=True, slots=True)
class SSEOptions:
    """``ping_ms``: idle ping interval (None: no pings); ``reconnect_after_inactivity_ms``:
    sent to the client in ``connected``; ``max_duration_ms``: end streams after this long."""

    ping_ms: int | None = None
    reconnect_after_inactivity_ms: int | None = None
    max_duration_ms: int | None = None

    def __post_init__(self) -> None:
        if (
            self.ping_ms is not None
            and self.reconnect_after_inactivity_ms is not None
            and self.ping_ms > self.reconnect_after_inactivity_ms
        ):
            raise ValueError("SSE ping interval must not exceed reconnect_after_inactivity_ms")


class SSEConnection(Connection):
    """One SSE stream's :class:`Connection` handle (``info.connection`` of its call).

    An ending asked for before the stream is producing (during its set-up) is applied
    as soon as it is.
    """

    __slots__ = ("_callbacks", "_ending", "_engine", "_gone", "_outbox", "_path", "_producer")

    def __init__(self, engine: Engine[Any], path: str) -> None:
        self._engine = engine
        self._path = path
        self._ending: tuple[RPCError | None] | None = None
        self._outbox: Outbox | None = None
        self._producer: asyncio.Future[None] | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._gone = False

    def replace_context(self, ctx: Any) -> None:
        """A stream makes no later calls: nothing to switch."""

    def end_subscriptions(self, error: RPCError | None = None) -> None:
        if self._ending is None and not self._gone:
            self._ending = (error,)
            self._apply()

    def on_close(self, callback: Callable[[], None]) -> None:
        if self._gone:
            callback()
        else:
            self._callbacks.append(callback)

    def bind(self, outbox: Outbox, producer: asyncio.Future[None]) -> None:
        """The stream is producing into ``outbox`` (called by :func:`sse_stream`)."""
        self._outbox, self._producer = outbox, producer
        self._apply()

    def gone(self) -> None:
        """The stream is over: run the close callbacks (called by :func:`sse_stream`)."""
        self._gone = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("close callback failed")

    def _apply(self) -> None:
        if self._ending is None or self._outbox is None or self._producer is None:
            return
        (error,) = self._ending
        if error is not None:
            self._outbox.put(_error_event(self._engine, error, self._path))
        else:
            # Closed without `return`, so the client reconnects. EventSource's own retry
            # (after 3 s) would reuse the URL, and with it stale connectionParams; a
            # `connected` asking for a reconnect after 1 s of silence makes
            # httpSubscriptionLink open a new EventSource first, with its connectionParams
            # evaluated again. Not less: the setting holds until the new stream's
            # own `connected` arrives, and a shorter one would cut the new stream's set-up.
            self._outbox.put(_RECONNECT_SOON)
        self._outbox.close()
        # Cancelled once it has started, never before: a stream that never ran would
        # not release what its set-up attached (its clean-up is in its own `finally`).
        asyncio.get_running_loop().call_soon(self._producer.cancel)


def sse_event(data: bytes, *, event: bytes | None = None, id: bytes | None = None) -> bytes:
    """Fields in the reference order (event, data, id), then the double blank line."""
    parts = []
    if event is not None:
        parts.append(b"event: " + event + b"\n")
    parts.append(b"data: " + data + b"\n")
    if id is not None:
        parts.append(b"id: " + id + b"\n")
    parts.append(b"\n\n")
    return b"".join(parts)


async def sse_stream(
    runner: Runner[Any],
    call: PreparedCall,
    options: SSEOptions,
    max_buffered_bytes: int = 8 * 1024 * 1024,
) -> AsyncIterator[bytes]:
    """Run one subscription call and yield its event stream.

    Events are encoded as the stream produces them into an :class:`Outbox` of
    ``max_buffered_bytes``; a client reading slower than that is cut (the stream
    ends without ``return``, so it resumes with Last-Event-ID) and production
    stops at once.
    """
    connected: dict[str, Any] = {}
    if options.reconnect_after_inactivity_ms is not None:
        connected["reconnectAfterInactivityMs"] = options.reconnect_after_inactivity_ms

    # Set the subscription up before `connected`: the client treats `connected` as
    # started, so whatever the procedure attaches to (a broker) must already be in
    # place, or an event published right after would be lost.
    engine = runner.engine
    connection = SSEConnection(engine, call.path)
    runner.info = replace(runner.info, connection=connection)
    producer: asyncio.Future[None] | None = None
    try:
        await runner.open()
        try:
            stream = await runner.call(call)
        except RPCError as err:
            yield sse_event(dumps(connected), event=b"connected")
            yield _error_event(engine, err, call.path)
            return
        outbox = Outbox(max_buffered_bytes)
        producer = asyncio.ensure_future(
            _produce(runner, call.path, stream, call.raw_input.last_event_id, outbox)
        )
        connection.bind(outbox, producer)
        deadline = (
            time.monotonic() + options.max_duration_ms / 1000 if options.max_duration_ms else None
        )
        ping = options.ping_ms / 1000 if options.ping_ms is not None else None
        yield sse_event(dumps(connected), event=b"connected")
        while True:
            timeout = ping
            if deadline is not None:
                remaining = max(deadline - time.monotonic(), 0.0)
                timeout = remaining if timeout is None else min(timeout, remaining)
            try:
                chunk = await outbox.get(timeout)
            except TimeoutError:
                # Timers may wake a hair early: within a millisecond is the deadline.
                if deadline is not None and time.monotonic() >= deadline - 0.001:
                    return
                yield _PING
                continue
            if chunk is None:
                if outbox.overflowed:
                    logger.warning("SSE stream %s: client too slow, ending it", call.path)
                return
            yield chunk
    finally:
        connection.gone()
        if producer is not None:
            producer.cancel()
            with contextlib.suppress(BaseException):
                await producer


async def _produce(
    runner: Runner[Any], path: str, stream: Any, known_id: str | None, outbox: Outbox
) -> None:
    """Encode every value of ``stream`` into ``outbox`` as SSE events, then ``return``
    or ``serialized-error``; stops the moment the outbox refuses more."""
    task = asyncio.current_task()
    assert task is not None

    def emit(value: Any) -> None:
        nonlocal known_id
        if outbox.closed:
            raise StreamClosed
        if isinstance(value, Tracked):
            known_id = value.id
            chunk = sse_event(_json(runner, value.data, path), id=value.id.encode())
        elif known_id is not None:
            # ≥11.2x: a blank id keeps this event untracked, restore-id puts
            # the browser's remembered id back without a dispatch.
            chunk = sse_event(_json(runner, value, path), id=b"") + sse_event(
                b"", event=b"restore-id", id=known_id.encode()
            )
        else:
            chunk = sse_event(_json(runner, value, path))
        if not outbox.put(chunk):
            task.cancel()
            raise StreamClosed

    try:
        await runner.pump(path, stream, emit)
    except RPCError as err:
        outbox.put(_error_event(runner.engine, err, path))
    else:
        outbox.put(_RETURN)
    finally:
        outbox.close()


def _error_event(engine: Engine[Any], err: RPCError, path: str) -> bytes:
    payload = engine.error_payload(engine.error_shape(err, path))
    return sse_event(dumps(payload), event=b"serialized-error")


def _json(runner: Runner[Any], value: Any, path: str) -> bytes:
    data = runner.encode(value, path)
    return b"" if data is None else data
