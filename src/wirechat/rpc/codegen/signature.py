"""What a procedure takes and gives, read as Python types from its definition.

Inputs are the ``.input()`` schemas. An output is the ``.output()`` schema if
there is one, else the resolver's return annotation. A subscription's element
type comes from the annotation too: ``AsyncIterator[T]`` (or ``AsyncIterable``,
``AsyncGenerator``) or ``PushSource[T]``, with ``T = Tracked[D]`` for a
resumable stream. ``Annotated[X, WireType(T)]`` anywhere at those places says
the JSON is ``T`` whatever ``X`` is.

Nothing here raises for a procedure it cannot read: the type becomes
:data:`UNKNOWN` and a problem says why.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Final

from pydantic import TypeAdapter

from ..envelopes import ProcedureType
from ..procedure import Procedure
from ..push import PushSource
from ..tracked import Tracked
from ..wiretype import WireType

__all__ = ["UNKNOWN", "Signature", "read_signature"]


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()
"""A type that could not be read; the TypeScript side is ``unknown``."""

_ITERATORS = (
    collections.abc.AsyncIterator,
    collections.abc.AsyncIterable,
    collections.abc.AsyncGenerator,
)
_AWAITABLES = (collections.abc.Awaitable, collections.abc.Coroutine)


@dataclass(frozen=True, slots=True)
class Signature:
    """A procedure's types: ``output`` is the query/mutation result or the
    subscription's element (the data of a tracked event when ``tracked``)."""

    type: ProcedureType
    inputs: tuple[TypeAdapter[Any], ...]
    output: TypeAdapter[Any] | _Unknown
    tracked: bool
    description: str | None
    problems: tuple[str, ...]


def read_signature(procedure: Procedure) -> Signature:
    """The types of ``procedure``; never raises."""
    problems: list[str] = []
    tracked = False
    if procedure.type != "subscription" and procedure.output is not None:
        output: TypeAdapter[Any] | _Unknown = procedure.output
    else:
        hint = _return_hint(procedure.resolver, problems)
        if procedure.type == "subscription" and hint is not UNKNOWN:
            hint = _element(hint, problems)
            if hint is Tracked or typing.get_origin(hint) is Tracked:
                tracked = True
                args = typing.get_args(hint)
                hint = _declared(args[0]) if args else UNKNOWN
                if not args:
                    problems.append("tracked events without a data type (use Tracked[T])")
        output = _adapter(hint, problems)
    return Signature(
        procedure.type,
        procedure.inputs,
        output,
        tracked,
        procedure.description,
        tuple(problems),
    )


def _return_hint(resolver: Any, problems: list[str]) -> Any:
    target = resolver
    while isinstance(target, functools.partial):
        target = target.func
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        target = getattr(type(target), "__call__", target)  # noqa: B004 - a callable object
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception as exc:  # a forward reference that does not resolve, and the like
        problems.append(f"the resolver's annotations cannot be resolved ({exc})")
        return UNKNOWN
    if "return" not in hints:
        problems.append("the resolver has no return annotation")
        return UNKNOWN
    hint = hints["return"]
    if not inspect.iscoroutinefunction(target) and typing.get_origin(hint) in _AWAITABLES:
        hint = typing.get_args(hint)[-1]
    return _declared(hint)


def _element(hint: Any, problems: list[str]) -> Any:
    """The type a subscription yields or emits."""
    origin = typing.get_origin(hint) or hint
    args = typing.get_args(hint)
    if origin in _ITERATORS:
        if args:
            return _declared(args[0])
    elif isinstance(origin, type) and issubclass(origin, PushSource):
        if args:
            return _declared(args[0])
        for base in inspect.getmro(origin):
            for generic in getattr(base, "__orig_bases__", ()):
                if typing.get_origin(generic) is PushSource:
                    (element,) = typing.get_args(generic)
                    if not isinstance(element, typing.TypeVar):
                        return _declared(element)
    else:
        problems.append(f"the resolver returns {_name(hint)}, not an async iterator")
        return UNKNOWN
    problems.append(f"the resolver's {_name(hint)} does not say what it yields")
    return UNKNOWN


def _declared(hint: Any) -> Any:
    """``T`` for ``Annotated[X, WireType(T)]``, else ``hint``."""
    if typing.get_origin(hint) is Annotated:
        for meta in hint.__metadata__:
            if isinstance(meta, WireType):
                return meta.type
    return hint


def _adapter(hint: Any, problems: list[str]) -> TypeAdapter[Any] | _Unknown:
    if isinstance(hint, _Unknown):
        return hint
    if hint is Any or hint is object:
        problems.append(f"its type is {_name(hint)}")
        return UNKNOWN
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(hint)
    except Exception as exc:  # pydantic cannot describe it (an arbitrary class, say)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        problems.append(f"{_name(hint)} is not a type pydantic can describe ({reason})")
        return UNKNOWN
    return adapter


def _name(hint: Any) -> str:
    if isinstance(hint, type):
        return f"{hint.__module__}.{hint.__qualname__}"
    return repr(hint)
