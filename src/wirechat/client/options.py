"""Options shared by the transports: header and connection-param sources, retry delays.

Headers, connection params and the WebSocket URL may be given as values or as callables
(sync or async). Callables are called again for every request and every (re)connection,
so a token refreshed by the application is the one sent after a reconnect.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

__all__ = [
    "ConnectionParamsSource",
    "HeadersSource",
    "KeepAlive",
    "RetryDelay",
    "Source",
    "default_retry_delay",
    "resolve",
]

T = TypeVar("T")

Source: TypeAlias = T | Callable[[], T | Awaitable[T]]
"""A value, or a callable returning it (or an awaitable of it), evaluated on each use."""

HeadersSource: TypeAlias = Source[Mapping[str, str]] | None
ConnectionParamsSource: TypeAlias = Source[Mapping[str, str | None] | None] | None

RetryDelay: TypeAlias = Callable[[int], float]
"""Seconds to wait before reconnection attempt ``n`` (0 for the first)."""


def default_retry_delay(attempt: int) -> float:
    """``@trpc/client``'s backoff: 0 s, then 2, 4, 8, 16 s, capped at 30 s."""
    return 0.0 if attempt == 0 else min(2.0**attempt, 30.0)


async def resolve(source: Source[T]) -> T:
    """The current value of ``source``."""
    if callable(source):
        value = source()
        if inspect.isawaitable(value):
            return await value
        return value
    return source


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """Client keep-alive over WebSocket: after ``interval`` seconds without any
    incoming frame send ``PING``; close the socket (and reconnect) if no ``PONG`` follows
    within ``pong_timeout`` seconds."""

    interval: float = 5.0
    pong_timeout: float = 1.0
