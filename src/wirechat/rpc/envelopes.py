"""Typed shapes of everything tRPC v11 puts on the wire: HTTP results, errors, WS messages."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypeAlias, TypedDict

__all__ = [
    "ErrorData",
    "ErrorEnvelope",
    "ErrorShape",
    "ProcedureType",
    "RequestId",
    "ResultEnvelope",
    "WSConnectionParams",
    "WSRequest",
    "WSRequestParams",
    "WSStop",
]

ProcedureType: TypeAlias = Literal["query", "mutation", "subscription"]
"""The three kinds of procedure; also the WebSocket ``method`` of a request."""

RequestId: TypeAlias = int | float | str
"""A WebSocket request id: any JSON string or number, echoed back with its type."""


class ErrorData(TypedDict):
    code: str
    httpStatus: int
    path: NotRequired[str]
    stack: NotRequired[str]
    issues: NotRequired[list[dict[str, Any]]]


class ErrorShape(TypedDict):
    """tRPC's default error shape; key order is message, code, data."""

    message: str
    code: int
    data: ErrorData


class ResultEnvelope(TypedDict):
    result: dict[str, Any]


class ErrorEnvelope(TypedDict):
    error: ErrorShape


class WSRequestParams(TypedDict):
    path: str
    input: NotRequired[Any]
    lastEventId: NotRequired[str]


class WSRequest(TypedDict):
    id: RequestId
    method: ProcedureType
    params: WSRequestParams
    jsonrpc: NotRequired[Literal["2.0"]]


class WSStop(TypedDict):
    id: RequestId
    method: Literal["subscription.stop"]
    jsonrpc: NotRequired[Literal["2.0"]]


class WSConnectionParams(TypedDict):
    method: Literal["connectionParams"]
    data: dict[str, str | None] | None
