"""What the engine tells ``create_context`` about a request or connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, TypeVar

from .connection import Connection
from .errors import ErrorCode, RPCError

__all__ = ["CreateContext", "CtxT", "RequestInfo", "Transport", "validate_connection_params"]

Transport: TypeAlias = Literal["http", "sse", "ws"]

CtxT = TypeVar("CtxT")


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """The transport-level facts of one HTTP request or one WebSocket connection.

    ``headers`` has lower-case names (for WebSocket: those of the upgrade request);
    ``query`` is the decoded query string; ``peer`` is ``"host:port"`` when known;
    ``connection_params`` is the object the client sent as tRPC connectionParams
    (first WebSocket message, or the SSE ``connectionParams`` query parameter);
    ``connection`` is the WebSocket or SSE stream the call runs on (None for plain HTTP).
    """

    transport: Transport
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    peer: str | None = None
    connection_params: Mapping[str, str | None] | None = None
    connection: Connection | None = None


CreateContext: TypeAlias = Callable[[RequestInfo], Awaitable[CtxT]]
"""Builds the application's context: once per HTTP request, once per WebSocket connection."""


def validate_connection_params(value: Any) -> dict[str, str | None] | None:
    """``null`` or an object of string (or null) values; else PARSE_ERROR.

    The one check for both ways of sending them: the SSE ``connectionParams``
    query parameter and the first WebSocket message.
    """
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(v, str) or v is None for v in value.values()
    ):
        raise RPCError(ErrorCode.PARSE_ERROR, "Invalid connection params shape")
    return value
