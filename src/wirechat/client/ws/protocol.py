"""Sans-I/O tRPC-over-WebSocket messages for the client.

:func:`parse` turns one text frame into typed :class:`Incoming` items and never raises;
the ``request``/``stop``/``connection_params`` builders return the dicts the client
sends, and :func:`pack` puts the messages flushed in one tick into one frame (an array
when there are several). Nothing here touches a socket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import orjson

from ..codec import UNSET

__all__ = [
    "Data",
    "Failure",
    "Incoming",
    "Invalid",
    "Method",
    "Reconnect",
    "Started",
    "Stopped",
    "connection_params",
    "pack",
    "parse",
    "request",
    "stop",
]

Method = Literal["query", "mutation", "subscription"]

PING = b"PING"
PONG = b"PONG"


@dataclass(frozen=True, slots=True)
class Data:
    """``result.type == "data"``; ``tracked_id`` is ``result.id``."""

    id: Any
    data: Any
    has_data: bool
    tracked_id: str | None


@dataclass(frozen=True, slots=True)
class Started:
    id: Any


@dataclass(frozen=True, slots=True)
class Stopped:
    id: Any


@dataclass(frozen=True, slots=True)
class Failure:
    """An error response; ``id`` None for a connection-level error."""

    id: Any
    shape: Any


@dataclass(frozen=True, slots=True)
class Reconnect:
    """``{"id":null,"method":"reconnect"}``: the server asks for a new socket."""


@dataclass(frozen=True, slots=True)
class Invalid:
    """A frame this client cannot read; ``reason`` says why."""

    reason: str


Incoming: TypeAlias = Data | Started | Stopped | Failure | Reconnect | Invalid


def parse(frame: bytes) -> list[Incoming]:
    """The messages in one text frame (not ``PING``/``PONG``, which the caller checks)."""
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        return [Invalid(f"not JSON: {exc}")]
    items = message if isinstance(message, list) else [message]
    return [_one(item) for item in items]


def _one(item: Any) -> Incoming:
    if not isinstance(item, Mapping):
        return Invalid(f"not an object: {item!r}")
    if item.get("method") == "reconnect":
        return Reconnect()
    id = item.get("id")
    if "error" in item:
        return Failure(id, item["error"])
    result = item.get("result")
    if not isinstance(result, Mapping):
        return Invalid(f"no result: {item!r}")
    kind = result.get("type")
    if kind == "data":
        tracked = result.get("id")
        return Data(id, result.get("data"), "data" in result, tracked)
    if kind == "started":
        return Started(id)
    if kind == "stopped":
        return Stopped(id)
    return Invalid(f"unknown result type: {item!r}")


def request(
    id: int, method: Method, path: str, input: Any, last_event_id: str | None = None
) -> dict[str, Any]:
    """A request; ``input`` is left out when it is ``UNSET``."""
    params: dict[str, Any] = {}
    if input is not UNSET:
        params["input"] = input
    params["path"] = path
    if last_event_id is not None:
        params["lastEventId"] = last_event_id
    return {"id": id, "method": method, "params": params}


def stop(id: int) -> dict[str, Any]:
    return {"id": id, "method": "subscription.stop"}


def connection_params(data: Mapping[str, str | None] | None) -> bytes:
    """The first message when the URL carries ``connectionParams=1``."""
    return orjson.dumps({"method": "connectionParams", "data": data})


def pack(messages: Sequence[dict[str, Any]]) -> bytes:
    """One frame: the message itself, or an array of several."""
    return orjson.dumps(messages[0] if len(messages) == 1 else list(messages))
