"""JSON encoding and decoding, and the lazily parsed input of one call.

Encoding goes through orjson; pydantic models are dumped by their own
serializer (camelCase aliases) and spliced in as pre-encoded fragments, and
``orjson.Fragment`` lets a broadcast payload encoded once be embedded as is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import orjson
from pydantic import BaseModel

from .errors import ErrorCode, RPCError

__all__ = [
    "UNDEFINED",
    "InputSource",
    "Undefined",
    "decode_input",
    "dumps",
    "loads",
    "merge_last_event_id",
]


class Undefined:
    """JavaScript's ``undefined``: an absent input, or a result with no ``data`` key."""

    _instance: Undefined | None = None

    def __new__(cls) -> Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Final = Undefined()


def _default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return orjson.Fragment(obj.model_dump_json(by_alias=True))
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"Type is not JSON serializable: {type(obj).__name__}")


def dumps(value: Any) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON."""
    return orjson.dumps(value, default=_default)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Decode JSON; raises ``orjson.JSONDecodeError`` (a ValueError) on bad input."""
    return orjson.loads(data)


class InputSource:
    """The raw input of one call, decoded on first use.

    tRPC decodes input lazily: a procedure without an input schema never reads it,
    so malformed JSON fails only the calls that need it. ``loader`` returns
    the decoded value (``UNDEFINED`` when absent) or raises RPCError.
    """

    __slots__ = ("_loaded", "_loader", "_value", "last_event_id")

    def __init__(
        self,
        loader: Callable[[], Any] | None = None,
        *,
        value: Any = UNDEFINED,
        last_event_id: str | None = None,
    ) -> None:
        self._loader = loader
        self._value = value
        self._loaded = loader is None
        self.last_event_id = last_event_id

    @classmethod
    def of(cls, value: Any, *, last_event_id: str | None = None) -> InputSource:
        """An input that is already decoded (WebSocket requests)."""
        return cls(value=value, last_event_id=last_event_id)

    @classmethod
    def from_json(
        cls, text: bytes | str | None, *, last_event_id: str | None = None
    ) -> InputSource:
        """An input sent as JSON text; ``None`` or empty text means no input."""
        return cls(lambda: decode_input(text), last_event_id=last_event_id)

    def raw(self) -> Any:
        """The decoded input, ``UNDEFINED`` when absent; BAD_REQUEST if it does not parse."""
        if not self._loaded:
            assert self._loader is not None
            self._value = self._loader()
            self._loaded = True
        return self._value

    def for_subscription(self) -> Any:
        """The input with ``lastEventId`` merged in by tRPC's resume rules."""
        return merge_last_event_id(self.raw(), self.last_event_id)


def decode_input(text: bytes | str | None) -> Any:
    """Decode an input document; absent or empty is ``UNDEFINED``, bad JSON is BAD_REQUEST."""
    if text is None or len(text) == 0:
        return UNDEFINED
    try:
        return loads(text)
    except orjson.JSONDecodeError as exc:
        raise RPCError(ErrorCode.BAD_REQUEST, str(exc), cause=exc) from exc


def merge_last_event_id(value: Any, last_event_id: str | None) -> Any:
    """Merge a resume id into a subscription's input, as tRPC v11 servers do.

    Object input gets ``lastEventId`` (overriding its own); absent or null input
    becomes ``{"lastEventId": ...}``; a primitive input is left unchanged.
    """
    if last_event_id is None:
        return value
    if isinstance(value, dict):
        return {**value, "lastEventId": last_event_id}
    if value is None or value is UNDEFINED:
        return {"lastEventId": last_event_id}
    return value
