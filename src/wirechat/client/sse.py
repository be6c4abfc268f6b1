"""Sans-I/O Server-Sent Events: lines in, tRPC subscription events out.

The tRPC server writes ``event:``, ``data:`` and ``id:`` fields;
this parser follows the HTML living standard's field rules (a leading space after the
colon is dropped, a line starting with ``:`` is a comment, a blank line dispatches) and
keeps the tRPC distinction the browser loses: an ``id:`` field that is present but
empty marks an untracked event sent after a tracked one (row 7).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEEvent", "SSEParser"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event. ``id`` is None when the event had no ``id:`` field."""

    event: str
    data: str
    id: str | None


class SSEParser:
    """Feed it the response's lines with :meth:`feed_line`; it returns complete events."""

    __slots__ = ("_data", "_event", "_id")

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed_line(self, line: str) -> SSEEvent | None:
        """One line without its terminator; an event when ``line`` is blank and one is due."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data and not self._event and self._id is None:
            return None
        event = SSEEvent(self._event or "message", "\n".join(self._data), self._id)
        self._event, self._data, self._id = "", [], None
        return event
