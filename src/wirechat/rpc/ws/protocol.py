"""Sans-I/O tRPC-over-WebSocket messages (what createWSClient and wsLink exchange).

:func:`parse_frame` turns the text of one frame into typed events and never
raises for bad input: a frame that is not a valid message becomes an
:class:`Invalid` event carrying the PARSE_ERROR to send with ``id: null``.
The ``encode_*`` functions build outgoing frames as bytes; subscription data
is spliced around pre-encoded payloads so that a broadcast event serialized once
is never re-encoded per subscriber.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import orjson

from ..codec import UNDEFINED, dumps
from ..context import validate_connection_params
from ..envelopes import ErrorShape, ProcedureType, RequestId
from ..errors import ErrorCode, RPCError
from ..tracked import Tracked

__all__ = [
    "PING",
    "PONG",
    "RECONNECT",
    "ConnectionParams",
    "Event",
    "Invalid",
    "Ping",
    "Pong",
    "Request",
    "Stop",
    "TooManyInBatch",
    "WSProtocolError",
    "encode_error",
    "encode_result",
    "parse_connection_params",
    "parse_frame",
    "subscription_prefix",
    "tracked_body",
]

PING: Final = "PING"
PONG: Final = "PONG"
RECONNECT: Final = b'{"id":null,"method":"reconnect"}'

_METHODS: Final = frozenset({"query", "mutation", "subscription", "subscription.stop"})


class WSProtocolError(Exception):
    """A frame that is not a tRPC message; answered with an id:null PARSE_ERROR."""


@dataclass(frozen=True, slots=True)
class Ping:
    """Text ``PING``: answer ``PONG`` at once, in order."""


@dataclass(frozen=True, slots=True)
class Pong:
    """Text ``PONG``: a keep-alive answer; nothing to send."""


@dataclass(frozen=True, slots=True)
class Request:
    id: RequestId
    method: ProcedureType
    path: str
    input: Any
    last_event_id: str | None
    jsonrpc: bool
    batch_index: int = 0
    """Position in an array frame (0 for a single message), as on HTTP."""


@dataclass(frozen=True, slots=True)
class Stop:
    id: RequestId


@dataclass(frozen=True, slots=True)
class ConnectionParams:
    data: dict[str, str | None] | None


@dataclass(frozen=True, slots=True)
class Invalid:
    error: RPCError


@dataclass(frozen=True, slots=True)
class TooManyInBatch:
    """An array frame longer than the batch limit: each member with an id gets BAD_REQUEST."""

    ids: tuple[RequestId | None, ...]


Event: TypeAlias = Ping | Pong | Request | Stop | Invalid | TooManyInBatch


def parse_frame(text: str | bytes, *, max_batch_size: int = 50) -> list[Event]:
    """Decode one text frame into events (several for an array frame).

    One invalid member rejects the whole array, with nothing executed.
    """
    if text == PING or text == b"PING":
        return [Ping()]
    if text == PONG or text == b"PONG":
        return [Pong()]
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return [Invalid(RPCError(ErrorCode.PARSE_ERROR, str(exc), cause=exc))]
    try:
        if isinstance(value, list):
            if len(value) > max_batch_size:
                return [TooManyInBatch(tuple(_loose_id(item) for item in value))]
            return [_message(item, index) for index, item in enumerate(value)]
        return [_message(value, 0)]
    except WSProtocolError as exc:
        return [Invalid(RPCError(ErrorCode.PARSE_ERROR, str(exc), cause=exc))]


def _loose_id(item: Any) -> RequestId | None:
    if isinstance(item, dict):
        rid = item.get("id")
        if isinstance(rid, (int, float, str)) and not isinstance(rid, bool):
            return rid
    return None


def _message(value: Any, batch_index: int) -> Request | Stop:
    if not isinstance(value, dict):
        raise WSProtocolError("Not an object")
    if "jsonrpc" in value and value["jsonrpc"] != "2.0":
        raise WSProtocolError("Must be JSONRPC 2.0")
    method = value.get("method")
    if method not in _METHODS:
        raise WSProtocolError("Invalid procedure type")
    rid = value.get("id")
    if rid is None:
        raise WSProtocolError("`id` is required")
    if isinstance(rid, bool) or not isinstance(rid, (int, float, str)) or rid != rid:
        raise WSProtocolError("Invalid request id")
    if method == "subscription.stop":
        return Stop(rid)
    params = value.get("params")
    if not isinstance(params, dict):
        raise WSProtocolError("Not an object")
    path = params.get("path")
    if not isinstance(path, str):
        raise WSProtocolError("Invalid string")
    last_event_id = params.get("lastEventId")
    if "lastEventId" in params and not isinstance(last_event_id, str):
        raise WSProtocolError("Invalid string")
    return Request(
        rid,
        method,
        path,
        params.get("input", UNDEFINED),
        last_event_id,
        "jsonrpc" in value,
        batch_index,
    )


def parse_connection_params(text: str | bytes) -> ConnectionParams:
    """The first frame of a ``?connectionParams=1`` connection.

    Raises RPCError (PARSE_ERROR) when it is not a connectionParams message whose
    ``data`` is null or an object of strings.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise RPCError(
            ErrorCode.PARSE_ERROR, "Malformed TRPCConnectionParamsMessage", cause=exc
        ) from exc
    if not isinstance(value, dict):
        raise RPCError(ErrorCode.PARSE_ERROR, "Malformed TRPCConnectionParamsMessage")
    if value.get("method") != "connectionParams":
        raise RPCError(ErrorCode.PARSE_ERROR, "Invalid connection params shape")
    return ConnectionParams(validate_connection_params(value.get("data")))


def _id_prefix(rid: RequestId | None, jsonrpc: bool) -> bytes:
    head = b'{"id":' + dumps(rid)
    return head + b',"jsonrpc":"2.0"' if jsonrpc else head


def encode_result(rid: RequestId, jsonrpc: bool, result_type: str, data: Any = UNDEFINED) -> bytes:
    """``{"id":…,"result":{"type":…,"data":…}}``; no ``data`` key for undefined."""
    body: dict[str, Any] = {"type": result_type}
    if data is not UNDEFINED:
        body["data"] = data
    return _id_prefix(rid, jsonrpc) + b',"result":' + dumps(body) + b"}"


def encode_error(rid: RequestId | None, jsonrpc: bool, shape: ErrorShape | Any) -> bytes:
    """An error frame; ``shape`` is the error shape, or its transformed form."""
    return _id_prefix(rid, jsonrpc) + b',"error":' + dumps(shape) + b"}"


def subscription_prefix(rid: RequestId, jsonrpc: bool) -> bytes:
    """The bytes every data frame of one subscription starts with; computed once."""
    return _id_prefix(rid, jsonrpc) + b',"result":{"type":"data","data":'


def encode_data(prefix: bytes, payload: bytes) -> bytes:
    """An untracked data frame around an already encoded payload."""
    return prefix + payload + b"}}"


def _tracked_tail(event_id: bytes, payload: bytes) -> bytes:
    return b"".join((b'{"id":', event_id, b',"data":', payload, b'},"id":', event_id, b"}}"))


_last_tracked: list[Any] = [None, b""]


def tracked_body(value: Tracked[Any]) -> bytes:
    """Everything of a tracked data frame after the subscription's prefix.

    A broadcast emits the same Tracked object to every subscriber in a row, so the
    last one's bytes are kept: the event is encoded once, then only the per-subscriber
    prefix is joined on (the loop is single-threaded, so one slot is enough).
    """
    if _last_tracked[0] is value:
        body: bytes = _last_tracked[1]
        return body
    body = _tracked_tail(dumps(value.id), dumps(value.data))
    _last_tracked[0], _last_tracked[1] = value, body
    return body
