"""Push subscriptions: a source that calls ``emit(value)`` instead of being iterated.

An async generator costs a task switch per value per subscriber. For a broadcast
to thousands of subscribers that dominates the CPU, so a subscription resolver
may instead return a :class:`PushSource`: its ``run(emit)`` is awaited for the
life of the subscription and may call ``emit`` synchronously from any callback
(for example straight from a broker's fan-out loop). Every transport encodes
each emitted value at once into the connection's bounded output; once that
connection is gone or cut, ``emit`` raises :class:`StreamClosed` so that a
replay loop stops at once. :func:`iterate_push` adapts a source to an iterator.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

__all__ = ["Emit", "PushSource", "StreamClosed", "is_stream", "iterate_push"]

Emit = Callable[[Any], None]
"""Send one subscription value (plain or :class:`~wirechat.rpc.Tracked`); never blocks.
Raises :class:`StreamClosed` when nobody will read the stream any more."""


class StreamClosed(Exception):
    """Raised by ``emit`` once the stream's connection is gone, cut or stopped: let it
    propagate out of ``run`` (it ends the stream quietly, with no error logged)."""


T_co = TypeVar("T_co", covariant=True)


class PushSource(abc.ABC, Generic[T_co]):
    """Base class of push subscriptions (a plain base class rather than a Protocol:
    ``isinstance`` against it is checked on every call and must be cheap).

    The type parameter names what ``emit`` is given (``PushSource[Tracked[Event]]``);
    only type checkers and the TypeScript generator read it.
    """

    @abc.abstractmethod
    async def run(self, emit: Emit) -> None:
        """Emit values until the subscription is over; return to complete it, raise to
        fail it. Cancelled when the client stops the subscription or goes away."""


def is_stream(value: Any) -> bool:
    """Whether a procedure's result is a stream (async iterable or push source).

    Looks at the type, not the instance: a pydantic model answers a missing
    attribute through a slow ``__getattr__``.
    """
    return hasattr(type(value), "__aiter__") or isinstance(value, PushSource)


class _Done:
    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


async def iterate_push(source: PushSource[Any], max_pending: int = 10_000) -> AsyncIterator[Any]:
    """Adapt a push source to an async iterator.

    At most ``max_pending`` values wait for the reader: past that the source is
    stopped (its ``emit`` raises :class:`StreamClosed`) and the iterator raises
    OverflowError, rather than holding a slow reader's values without bound.
    """
    queue: asyncio.Queue[Any] = asyncio.Queue()
    overflow = OverflowError(f"more than {max_pending} values waiting for a slow reader")

    def emit(value: Any) -> None:
        if queue.qsize() >= max_pending:
            raise StreamClosed
        queue.put_nowait(value)

    async def runner() -> None:
        try:
            await source.run(emit)
        except StreamClosed:
            queue.put_nowait(_Done(overflow))
        except Exception as exc:
            queue.put_nowait(_Done(exc))
        else:
            queue.put_nowait(_Done(None))

    task = asyncio.ensure_future(runner())
    try:
        while True:
            item = await queue.get()
            if isinstance(item, _Done):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
