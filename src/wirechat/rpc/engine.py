"""The transport-free core: find a procedure, build contexts, run calls, shape errors.

Adapters (HTTP, SSE, JSONL, WebSocket) translate their wire format into
:meth:`Engine.call` and turn :class:`RPCError` into wire errors with
:meth:`Engine.error_shape`; none of them knows anything about the application.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol

from .codec import InputSource
from .context import CreateContext, CtxT, RequestInfo
from .envelopes import ErrorData, ErrorShape, ProcedureType
from .errors import ErrorCode, RPCError, to_rpc_error
from .middleware import Call
from .procedure import Procedure
from .router import Router
from .transformer import Transformer

__all__ = ["Engine", "ErrorFormatter", "Observer"]

logger = logging.getLogger("wirechat.rpc")

ErrorFormatter = Callable[[ErrorShape, RPCError], ErrorShape]
"""Adjusts the default error shape (like tRPC's ``errorFormatter``)."""


class Observer(Protocol):
    """Receives call outcomes, e.g. to export metrics. Must not raise or block."""

    def call_finished(
        self, path: str, type: ProcedureType, seconds: float, error: ErrorCode | None
    ) -> None: ...


class Engine(Generic[CtxT]):
    """A router, a context factory and the error policy, shared by every transport."""

    def __init__(
        self,
        router: Router,
        create_context: CreateContext[CtxT],
        *,
        is_dev: bool = False,
        error_formatter: ErrorFormatter | None = None,
        observer: Observer | None = None,
        transformer: Transformer | None = None,
    ) -> None:
        self.router = router
        self._create_context = create_context
        self.is_dev = is_dev
        self._error_formatter = error_formatter
        self._observer = observer
        self.transformer = transformer
        """How values are wrapped on the wire (tRPC's ``transformer``); None: plain JSON."""
        self._dates: dict[str, Any] = {}
        if transformer is not None:
            for path in router:  # read the output types now, not during a first call
                self.output_dates(path)

    async def create_context(self, info: RequestInfo) -> CtxT:
        """Run the application's context factory; any failure becomes an RPCError."""
        try:
            return await self._create_context(info)
        except Exception as exc:
            raise self.wrap(exc, None) from exc

    def lookup(self, path: str) -> Procedure | None:
        return self.router.get(path)

    async def call(
        self,
        procedure: Procedure,
        path: str,
        ctx: CtxT,
        info: RequestInfo,
        raw_input: InputSource,
        batch_index: int = 0,
    ) -> Any:
        """Run one procedure; returns its result (an async iterator for subscriptions).

        Raises RPCError only: every other exception is converted (and logged).
        """
        started = time.perf_counter()
        error: ErrorCode | None = None
        try:
            call = Call(ctx, path, procedure.type, info, raw_input, batch_index)
            return await procedure.call(call)
        except Exception as exc:
            err = self.wrap(exc, path)
            error = err.code
            raise err from exc
        finally:
            if self._observer is not None:
                self._observer.call_finished(
                    path, procedure.type, time.perf_counter() - started, error
                )

    def wrap(self, exc: BaseException, path: str | None) -> RPCError:
        """Convert ``exc`` and log server faults with their traceback (never to the client)."""
        err = to_rpc_error(exc, is_dev=self.is_dev)
        if err.code is ErrorCode.INTERNAL_SERVER_ERROR and err.cause is not None:
            logger.error("Internal error in %s", path or "context", exc_info=err.cause)
        return err

    def error_shape(self, err: RPCError, path: str | None = None) -> ErrorShape:
        """The JSON error object of tRPC's error shape (``data.path`` only for a call's error)."""
        data: ErrorData = {"code": err.code.name, "httpStatus": err.code.http_status}
        if path is not None:
            data["path"] = path
        if err.data:
            data.update(err.data)  # type: ignore[typeddict-item]
        if self.is_dev:
            data["stack"] = err.stack()
        shape: ErrorShape = {"message": err.message, "code": err.code.json_rpc, "data": data}
        if self._error_formatter is not None:
            shape = self._error_formatter(shape, err)
        return shape

    def shape_of(self, exc: BaseException, path: str | None = None) -> ErrorShape:
        return self.error_shape(self.wrap(exc, path), path)

    def error_payload(self, shape: ErrorShape) -> Any:
        """An error shape as it goes on the wire: through the transformer, if any."""
        if self.transformer is None:
            return shape
        return self.transformer.serialize(shape)

    def output_dates(self, path: str) -> Any:
        """Where the output (a subscription: each event's data) of the procedure at
        ``path`` holds ``date-time`` strings, from its declared types; computed once.
        A transformer sends those as dates even when the value was encoded in advance."""
        try:
            return self._dates[path]
        except KeyError:
            pass
        # Only with a transformer: the schema machinery is not loaded otherwise.
        from pydantic import TypeAdapter

        from .codegen.schema import wire_schemas
        from .codegen.signature import read_signature
        from .transformer import date_paths

        dates: Any = None
        procedure = self.router.get(path)
        if procedure is not None:
            output = read_signature(procedure).output
            if isinstance(output, TypeAdapter):
                schemas, definitions, _ = wire_schemas([(0, "serialization", output)])
                if 0 in schemas:
                    dates = date_paths(schemas[0], definitions)
        self._dates[path] = dates
        return dates


def http_status_of(shape: ErrorShape, code: ErrorCode | None = None) -> int:
    """The HTTP status of an error item: ``data.httpStatus`` if a number, else
    the status of the original error's key (≥11.2x, when a formatter stripped it)."""
    status = shape.get("data", {}).get("httpStatus")
    if isinstance(status, int) and not isinstance(status, bool):
        return status
    return (code or ErrorCode.INTERNAL_SERVER_ERROR).http_status
