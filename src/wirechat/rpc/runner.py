"""The call runner: the one way a call goes through the engine, on every transport.

As tRPC's ``resolveResponse`` does for all its adapters, a :class:`Runner` holds
what one HTTP request or one WebSocket connection shares: the context, created
once; then each call is run the same way (call, refuse a stream where the
transport cannot carry one, encode, close iterators nobody will read). HTTP,
JSONL, SSE and WebSocket only format what comes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic

from .codec import UNDEFINED, InputSource, dumps
from .context import CtxT, RequestInfo
from .engine import Engine
from .errors import ErrorCode, RPCError
from .procedure import Procedure
from .push import PushSource, StreamClosed, is_stream
from .transformer import TransformError

__all__ = ["PreparedCall", "Runner", "close_stream"]

_WAITING_PER_SLOT = 10
"""Subscription set-ups that may wait for each slot before more are refused."""


@dataclass(slots=True)
class PreparedCall:
    """One call after routing: its procedure, or the error it already has."""

    index: int
    path: str
    procedure: Procedure | None
    raw_input: InputSource
    error: RPCError | None = None


class Runner(Generic[CtxT]):
    """Runs the calls of one request or connection for an :class:`Engine`.

    Call :meth:`open` once first; a context that cannot be created fails every
    call with its error (:attr:`context_error`). Every method raises RPCError
    only, already converted and logged by the engine.
    """

    __slots__ = (
        "_ctx",
        "_setups",
        "_slots",
        "context_error",
        "engine",
        "info",
        "max_stream_setups",
    )

    def __init__(
        self, engine: Engine[CtxT], info: RequestInfo, *, max_stream_setups: int = 10
    ) -> None:
        self.engine = engine
        self.info = info
        self.max_stream_setups = max_stream_setups
        self._ctx: Any = None
        self._setups = 0
        self._slots: asyncio.Semaphore | None = None  # made by the first subscription
        self.context_error: RPCError | None = None

    async def open(self) -> None:
        """Create the context; a failure is kept in :attr:`context_error`."""
        try:
            self._ctx = await self.engine.create_context(self.info)
        except RPCError as err:
            self.context_error = err

    def replace_context(self, ctx: Any) -> None:
        """Run later calls with ``ctx`` (a WebSocket switching identity in place)."""
        self._ctx = ctx
        self.context_error = None

    async def call(self, call: PreparedCall) -> Any:
        """The result of ``call``: a value, or a stream (async iterator or push source)."""
        error = call.error or self.context_error
        if error is not None:
            raise error
        procedure = call.procedure
        assert procedure is not None
        source = call.raw_input
        if self.engine.transformer is not None:
            source = self._transformed(source)
        if procedure.type != "subscription":
            return await self.engine.call(
                procedure, call.path, self._ctx, self.info, source, call.index
            )
        # A subscription's set-up (checks, attaching, a replay it does first) is the
        # costly part: only so many run at once per connection, the others wait their
        # turn, and a connection with a long line already is refused (issue 11).
        if self._setups >= self.max_stream_setups * (1 + _WAITING_PER_SLOT):
            raise RPCError(
                ErrorCode.TOO_MANY_REQUESTS,
                f"Too many subscriptions starting at once on one connection "
                f"(limit {self.max_stream_setups} at a time)",
            )
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_stream_setups)
        self._setups += 1
        try:
            async with self._slots:
                return await self.engine.call(
                    procedure, call.path, self._ctx, self.info, source, call.index
                )
        finally:
            self._setups -= 1

    def _transformed(self, source: InputSource) -> InputSource:
        """``source`` read through the transformer (absent input stays absent)."""
        transformer = self.engine.transformer
        assert transformer is not None

        def load() -> Any:
            value = source.raw()
            if value is UNDEFINED:
                return UNDEFINED
            try:
                return transformer.deserialize(value)
            except TransformError as exc:
                raise RPCError(ErrorCode.BAD_REQUEST, str(exc), cause=exc) from exc

        return InputSource(load, last_event_id=source.last_event_id)

    async def unary(self, call: PreparedCall, refusal: str) -> bytes | None:
        """Run a call whose transport carries one value: its encoded JSON (None for
        undefined, which has no ``data`` key on the wire).

        A stream is closed unread and refused with UNSUPPORTED_MEDIA_TYPE and
        ``refusal`` as the message.
        """
        result = await self.call(call)
        if is_stream(result):
            await close_stream(result)
            raise RPCError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, refusal)
        return self.encode(result, call.path)

    def encode(self, value: Any, path: str) -> bytes | None:
        """``value`` as JSON, None for UNDEFINED (which a transformer encodes too); not
        serializable is a server fault of this call only."""
        transformer = self.engine.transformer
        try:
            if transformer is not None:
                return dumps(transformer.serialize(value, self.engine.output_dates(path)))
            if value is UNDEFINED:
                return None
            return dumps(value)
        except (TypeError, ValueError) as exc:
            raise self.engine.wrap(exc, path) from exc

    async def pump(self, path: str, stream: Any, emit: Callable[[Any], None]) -> None:
        """Hand every value of ``stream`` to ``emit`` until it ends; the stream is closed
        however it ends (cancellation included). Its failure is raised as RPCError."""
        try:
            if isinstance(stream, PushSource):
                await stream.run(emit)
            else:
                async for value in stream:
                    emit(value)
        except StreamClosed:
            return  # nobody reads it any more: not a failure
        except Exception as exc:
            raise self.engine.wrap(exc, path) from exc
        finally:
            await close_stream(stream)


async def close_stream(value: Any) -> None:
    """Close an async generator now so its ``finally`` runs; its own errors are dropped
    (the stream is over either way)."""
    aclose = getattr(value, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            result = aclose()
            if inspect.isawaitable(result):
                await result
