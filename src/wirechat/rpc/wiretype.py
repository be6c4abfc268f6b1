"""``WireType``: the JSON shape of a value whose Python type does not show it.

A broadcast payload is encoded once and sent as an ``orjson.Fragment``, and a
hot path may build plain dicts; their Python types say nothing about the JSON a
client receives. Annotating them states it without costing anything at run time::

    TypingEventJSON = Annotated[orjson.Fragment, WireType(TypingEvent)]

    async def on_typing(ctx, input) -> AsyncIterator[TypingEventJSON]: ...

Nothing validates the claim: only the TypeScript generator (:mod:`wirechat.rpc.codegen`)
reads it, and type checkers see the annotated type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["WireType"]


@dataclass(frozen=True, slots=True)
class WireType:
    """``Annotated`` metadata: the value is sent as JSON of type ``type`` (any type
    pydantic can describe: a model, a TypedDict, ``list[Model]``…)."""

    type: Any
