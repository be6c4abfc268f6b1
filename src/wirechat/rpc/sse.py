"""httpSubscriptionLink responses: Server-Sent Events as tRPC v11 writes them.

Every event ends with two blank lines as in the reference. The stream opens with
``connected``; tracked values carry ``id:``; an untracked value after a tracked
one blanks the id and restores it with ``restore-id`` (≥11.2x); the end of the
generator is ``return``; an error is ``serialized-error``. A client disconnect
or ``max_duration_ms`` ends the stream without ``return``, so the client resumes
with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .codec import dumps
from .context import RequestInfo
from .engine import Engine
from .errors import RPCError
from .push import PushSource, iterate_push
from .tracked import Tracked

if TYPE_CHECKING:
    from .http import PreparedCall

__all__ = ["SSE_HEADERS", "SSEOptions", "sse_event", "sse_stream"]

SSE_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-type", "text/event-stream"),
    ("cache-control", "no-cache, no-transform"),
    ("x-accel-buffering", "no"),
    ("connection", "keep-alive"),
    ("vary", "trpc-accept, accept"),
)

_PING = b"event: ping\ndata: \n\n\n"
_RETURN = b"event: return\ndata: \n\n\n"


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
    engine: Engine[Any], call: PreparedCall, info: RequestInfo, options: SSEOptions
) -> AsyncIterator[bytes]:
    """Run one subscription call and yield its event stream."""
    connected: dict[str, Any] = {}
    if options.reconnect_after_inactivity_ms is not None:
        connected["reconnectAfterInactivityMs"] = options.reconnect_after_inactivity_ms

    # Set the subscription up before `connected`: the client treats `connected` as
    # started, so whatever the procedure attaches to (a broker) must already be in
    # place, or an event published right after would be lost.
    assert call.procedure is not None
    try:
        ctx = await engine.create_context(info)
        iterator = await engine.call(call.procedure, call.path, ctx, info, call.raw_input)
    except RPCError as err:
        yield sse_event(dumps(connected), event=b"connected")
        yield sse_event(dumps(engine.error_shape(err, call.path)), event=b"serialized-error")
        return
    yield sse_event(dumps(connected), event=b"connected")

    if isinstance(iterator, PushSource):
        iterator = iterate_push(iterator)
    known_id = call.raw_input.last_event_id
    deadline = (
        time.monotonic() + options.max_duration_ms / 1000 if options.max_duration_ms else None
    )
    source = aiter(iterator)
    pending: asyncio.Future[Any] | None = None
    try:
        while True:
            if options.ping_ms is None and deadline is None:
                try:
                    value = await anext(source)
                except StopAsyncIteration:
                    yield _RETURN
                    return
                except Exception as exc:
                    yield _error_event(engine, exc, call.path)
                    return
            else:
                if pending is None:
                    pending = asyncio.ensure_future(anext(source))
                timeout = options.ping_ms / 1000 if options.ping_ms is not None else None
                if deadline is not None:
                    remaining = max(deadline - time.monotonic(), 0.0)
                    timeout = remaining if timeout is None else min(timeout, remaining)
                done, _ = await asyncio.wait({pending}, timeout=timeout)
                if not done:
                    # Timers may wake a hair early: within a millisecond is the deadline.
                    if deadline is not None and time.monotonic() >= deadline - 0.001:
                        return
                    if options.ping_ms is not None:
                        yield _PING
                    continue
                finished, pending = pending, None
                try:
                    value = finished.result()
                except StopAsyncIteration:
                    yield _RETURN
                    return
                except Exception as exc:
                    yield _error_event(engine, exc, call.path)
                    return
            if isinstance(value, Tracked):
                known_id = value.id
                yield sse_event(dumps(value.data), id=value.id.encode())
            elif known_id is not None:
                # ≥11.2x: a blank id keeps this event untracked, restore-id puts
                # the browser's remembered id back without a dispatch (§2.2 row 7).
                yield sse_event(dumps(value), id=b"") + sse_event(
                    b"", event=b"restore-id", id=known_id.encode()
                )
            else:
                yield sse_event(dumps(value))
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


def _error_event(engine: Engine[Any], exc: Exception, path: str) -> bytes:
    return sse_event(dumps(engine.shape_of(exc, path)), event=b"serialized-error")
