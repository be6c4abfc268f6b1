"""``tracked(id, data)``: subscription events a client can resume after.

A tracked event carries an id that the client remembers and sends back as
``lastEventId`` when it reconnects, over SSE and WebSocket alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Tracked", "tracked"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Tracked(Generic[T]):
    id: str
    data: T


def tracked(id: str, data: T) -> Tracked[T]:
    """Mark ``data`` with a resumable event id.

    Raises ValueError for an empty id or one containing NUL, CR or LF, which
    would break SSE framing (the ≥11.2 client's rule).
    """
    if not isinstance(id, str) or not id:
        raise ValueError("tracked id must be a non-empty string")
    if "\n" in id or "\r" in id or "\0" in id:
        raise ValueError("tracked id must not contain NUL, CR or LF")
    return Tracked(id, data)
