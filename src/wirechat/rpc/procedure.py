"""Immutable procedure builders and the procedures they build.

Each ``.use()`` / ``.input()`` / ``.output()`` returns a new builder, so a shared
base such as ``authed = public.use(require_user)`` can never be changed by a
procedure built from it. ``.query()``, ``.mutation()`` and ``.subscription()``
take the resolver ``async def fn(ctx, input)`` and return a :class:`Procedure`.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, overload

from pydantic import TypeAdapter, ValidationError

from .codec import UNDEFINED
from .envelopes import ProcedureType
from .errors import ErrorCode, RPCError
from .middleware import Call, Middleware, Step, context_step, input_middleware, run_chain
from .push import PushSource, is_stream

__all__ = ["Procedure", "ProcedureBuilder"]

C = TypeVar("C")
C2 = TypeVar("C2")
I = TypeVar("I")  # noqa: E741 - the input type, named as in tRPC
I2 = TypeVar("I2")

Resolver = Callable[[Any, Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Procedure:
    """A built procedure: its kind, its middleware steps and its resolver."""

    type: ProcedureType
    steps: tuple[Step, ...]
    resolver: Callable[[Any, Any], Any]
    output: TypeAdapter[Any] | None = None
    has_input: bool = False
    description: str | None = field(default=None, compare=False)
    inputs: tuple[TypeAdapter[Any], ...] = field(default=(), compare=False)
    """The input schemas in ``.input()`` order (each validates the raw input); read by
    the TypeScript generator, never on a call."""

    async def call(self, call: Call[Any]) -> Any:
        """Run the middlewares and the resolver.

        For a subscription the result is an async iterator, already set up: a
        resolver written as ``async def`` returning an iterator has done its
        setup (e.g. attached to a broker) before this returns.
        """
        return await run_chain(self.steps, call, self._resolve)

    async def _resolve(self, call: Call[Any]) -> Any:
        # Without an input schema the input is never read, as in tRPC.
        value = call.input if self.has_input else None
        result = self.resolver(call.ctx, value)
        if self.type == "subscription":
            if inspect.isawaitable(result):
                result = await result
            if not is_stream(result):
                raise RPCError(
                    ErrorCode.INTERNAL_SERVER_ERROR,
                    f"Subscription {call.path} did not return an observable or a AsyncGenerator",
                )
            return result
        if inspect.iscoroutine(result) or inspect.isawaitable(result):
            result = await result
        if self.output is not None and result is not UNDEFINED:
            try:
                result = self.output.validate_python(result)
            except ValidationError as exc:
                raise RPCError(
                    ErrorCode.INTERNAL_SERVER_ERROR, "Output validation failed", cause=exc
                ) from exc
        return result


class ProcedureBuilder(Generic[C, I]):
    """Builds procedures whose resolvers receive a context ``C`` and an input ``I``."""

    __slots__ = ("_has_input", "_inputs", "_output", "_steps")

    def __init__(
        self,
        steps: tuple[Step, ...] = (),
        output: TypeAdapter[Any] | None = None,
        has_input: bool = False,
        inputs: tuple[TypeAdapter[Any], ...] = (),
    ) -> None:
        self._steps = steps
        self._output = output
        self._has_input = has_input
        self._inputs = inputs

    def use(self, middleware: Middleware[C, C2]) -> ProcedureBuilder[C2, I]:
        """A builder whose procedures run ``middleware`` first (in call order)."""
        return ProcedureBuilder(
            (*self._steps, context_step(middleware)), self._output, self._has_input, self._inputs
        )

    @overload
    def input(self, schema: type[I2]) -> ProcedureBuilder[C, I2]: ...
    @overload
    def input(self, schema: Any) -> ProcedureBuilder[C, Any]: ...
    def input(self, schema: Any) -> ProcedureBuilder[C, Any]:
        """Validate the input against a pydantic model or any type pydantic understands."""
        adapter: TypeAdapter[Any] = TypeAdapter(schema)
        return ProcedureBuilder(
            (*self._steps, input_middleware(adapter)), self._output, True, (*self._inputs, adapter)
        )

    def output(self, schema: Any) -> ProcedureBuilder[C, I]:
        """Validate (and coerce) each result against ``schema``; a mismatch is a server fault."""
        return ProcedureBuilder(self._steps, TypeAdapter(schema), self._has_input, self._inputs)

    def _build(self, type_: ProcedureType, resolver: Callable[[C, I], Any]) -> Procedure:
        return Procedure(
            type_,
            self._steps,
            resolver,
            self._output,
            self._has_input,
            inspect.getdoc(resolver),
            self._inputs,
        )

    def query(self, resolver: Callable[[C, I], Awaitable[Any]]) -> Procedure:
        return self._build("query", resolver)

    def mutation(self, resolver: Callable[[C, I], Awaitable[Any]]) -> Procedure:
        return self._build("mutation", resolver)

    def subscription(
        self,
        resolver: Callable[
            [C, I], Awaitable[AsyncIterator[Any] | PushSource[Any]] | AsyncIterator[Any]
        ],
    ) -> Procedure:
        """A subscription; the resolver is an async generator function, or a coroutine
        function that sets things up and then returns an async iterator or a
        :class:`PushSource` (the setup is then finished before the client is told
        ``started``)."""
        return self._build("subscription", resolver)
