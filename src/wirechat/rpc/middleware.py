"""The middleware chain around a resolver.

A middleware receives the :class:`Call` and a ``next`` function; it may check
the context, replace it (``await next(new_ctx)``), or fail with an RPCError.
Input validation is itself a middleware placed where ``.input()`` was called,
so a shared ``authed`` base checks the user before it reads the input, as tRPC's
``protectedProcedure`` does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from pydantic import TypeAdapter, ValidationError

from .codec import UNDEFINED, InputSource
from .context import RequestInfo
from .envelopes import ProcedureType
from .errors import ErrorCode, RPCError

__all__ = ["Call", "Middleware", "Next", "input_middleware", "run_chain", "validation_issues"]

CtxIn = TypeVar("CtxIn", contravariant=True)
CtxOut = TypeVar("CtxOut", covariant=True)
C = TypeVar("C", covariant=True)


@dataclass(frozen=True, slots=True)
class Call(Generic[C]):
    """One procedure call as middlewares see it."""

    ctx: C
    path: str
    type: ProcedureType
    info: RequestInfo
    raw_input: InputSource
    batch_index: int = 0
    input: Any = UNDEFINED
    """The validated input once an input middleware has run."""

    # Hand-written copies: dataclasses.replace introspects the fields on every call,
    # and the chain copies the call once per middleware.
    def with_ctx(self, ctx: Any) -> Call[Any]:
        return Call(
            ctx, self.path, self.type, self.info, self.raw_input, self.batch_index, self.input
        )

    def with_input(self, value: Any) -> Call[C]:
        return Call(
            self.ctx, self.path, self.type, self.info, self.raw_input, self.batch_index, value
        )


Next = Callable[[CtxOut], Awaitable[Any]]
"""Continue the chain with a (possibly new) context; returns the resolver's result."""


class Middleware(Protocol[CtxIn, CtxOut]):
    def __call__(self, call: Call[CtxIn], next: Next[CtxOut], /) -> Awaitable[Any]: ...


Step = Callable[[Call[Any], Callable[[Call[Any]], Awaitable[Any]]], Awaitable[Any]]
"""The engine's internal form: a middleware that may also change the input."""


def context_step(middleware: Middleware[Any, Any]) -> Step:
    async def step(call: Call[Any], proceed: Callable[[Call[Any]], Awaitable[Any]]) -> Any:
        async def next_(ctx: Any) -> Any:
            return await proceed(call.with_ctx(ctx))

        return await middleware(call, next_)

    return step


def validation_issues(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic errors as tRPC-style ``[{path, message}]`` issues."""
    return [{"path": list(err["loc"]), "message": err["msg"]} for err in exc.errors()]


def input_middleware(adapter: TypeAdapter[Any]) -> Step:
    """Validate the raw input; failure is BAD_REQUEST with ``data.issues``."""

    async def step(call: Call[Any], proceed: Callable[[Call[Any]], Awaitable[Any]]) -> Any:
        source = call.raw_input
        raw = source.for_subscription() if call.type == "subscription" else source.raw()
        try:
            value = adapter.validate_python(None if raw is UNDEFINED else raw)
        except ValidationError as exc:
            issues = validation_issues(exc)
            message = "; ".join(
                f"{'.'.join(str(p) for p in issue['path']) or 'input'}: {issue['message']}"
                for issue in issues
            )
            raise RPCError(
                ErrorCode.BAD_REQUEST, message or "Invalid input", data={"issues": issues}
            ) from exc
        return await proceed(call.with_input(value))

    return step


async def run_chain(
    steps: tuple[Step, ...],
    call: Call[Any],
    resolve: Callable[[Call[Any]], Awaitable[Any]],
) -> Any:
    """Run ``steps`` in order, then ``resolve``; each step decides whether to go on."""
    return await _Rest(steps, resolve, 0)(call)


class _Rest:
    """The chain from ``steps[index]`` on: the ``proceed`` a step is handed.

    An object rather than a closure that calls itself: such a closure is a reference
    cycle, so every call would leave garbage that only the cyclic collector frees, and
    its collections are pauses of the event loop.
    """

    __slots__ = ("index", "resolve", "steps")

    def __init__(
        self,
        steps: tuple[Step, ...],
        resolve: Callable[[Call[Any]], Awaitable[Any]],
        index: int,
    ) -> None:
        self.steps = steps
        self.resolve = resolve
        self.index = index

    async def __call__(self, call: Call[Any]) -> Any:
        if self.index == len(self.steps):
            return await self.resolve(call)
        return await self.steps[self.index](call, _Rest(self.steps, self.resolve, self.index + 1))
