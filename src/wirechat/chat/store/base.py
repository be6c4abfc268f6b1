"""The chat's storage seam: what services, the room hub and streams ask of the database.

One interface (:class:`ChatStore`) with two implementations, chosen once at assembly
(:func:`wirechat.chat.store.open_store`): :class:`~wirechat.chat.store.sqlite.SQLiteStore`
runs every statement synchronously on one direct SQLite connection, as better-sqlite3 does
for Node; :class:`~wirechat.chat.store.sql.SQLStore` runs the same statements through
SQLAlchemy's async engine (PostgreSQL). Both run the same transactions, written once in
:mod:`wirechat.chat.store.transactions`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol

from wirechat.chat import schemas
from wirechat.chat.models import EventType

__all__ = [
    "EVENT_PAGE",
    "ChatStore",
    "EventLog",
    "EventRow",
    "MessageResult",
    "StoredEvent",
    "event_pages",
]

EVENT_PAGE = 100
"""How many stored events one read of a room's log returns at most (replay, gap fill)."""

EventRow = tuple[int, bytes]
"""A stored event as ``(seq, MessageEvent JSON)``: its message as it is now."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event of a room's stream; ``seq`` as a string is its tracked id
    (``lastEventId`` on resume)."""

    room_id: int
    seq: int
    type: EventType
    message: schemas.Message

    def to_schema(self) -> schemas.MessageEvent:
        """The event's data as a ``MessageEvent`` (docs/api.md "Shapes")."""
        return schemas.MessageEvent(type=self.type, message=self.message)


@dataclass(frozen=True, slots=True)
class MessageResult:
    """What a send, edit or delete produced.

    ``event`` is the new event to publish to subscribers, or None when nothing changed
    (an idempotent replay of a send, or deleting an already deleted message).
    """

    message: schemas.Message
    event: StoredEvent | None


class EventLog(Protocol):
    """The numbered event log of each room, as the room hub and streams read it."""

    async def events_after(
        self, room_id: int, after_seq: int, limit: int = EVENT_PAGE
    ) -> list[EventRow]:
        """Up to ``limit`` events with ``seq > after_seq``, in order. Check membership
        first: this reads any room."""
        ...

    async def last_seq(self, room_id: int) -> int:
        """The ``seq`` of the room's latest event (0 before the first one).

        Raises:
            NotFound: no such room.
        """
        ...


class ChatStore(EventLog, Protocol):
    """Messages, their event log and the membership check every room call relies on.

    Permission order everywhere: a room that does not exist is ``NotFound``; a room the
    caller is not in is ``Forbidden`` and nothing else about it is revealed.
    """

    async def require_member(self, room_id: int, user_id: int) -> None:
        """Raises NotFound (no such room) or Forbidden (``user_id`` is not a member)."""
        ...

    async def find_sent(
        self, *, room_id: int, author_id: int, client_message_id: str
    ) -> schemas.Message | None:
        """The message ``author_id`` already stored with ``client_message_id``, if any.

        Lets the caller answer a retried send before charging the rate limit (docs/api.md
        "Idempotent send"). :meth:`send` does the same lookup itself; a None here is no
        promise that ``send`` will store a new message.

        Raises:
            NotFound: no such room.
            Forbidden: the author is not a member.
        """
        ...

    async def send(
        self, *, room_id: int, author_id: int, text: str, client_message_id: str | None = None
    ) -> MessageResult:
        """Store a message and its ``created`` event (``messages.send``).

        With a ``client_message_id`` the author already used, returns the message stored
        the first time and ``event=None``, even when the retries run concurrently.

        Raises:
            NotFound: no such room.
            Forbidden: the author is not a member.
        """
        ...

    async def edit(self, *, message_id: int, user_id: int, text: str) -> MessageResult:
        """Replace a message's text and append an ``edited`` event (``messages.edit``).

        Raises:
            NotFound: no such message, or it was deleted.
            Forbidden: the caller is not a member of its room, or not its author.
        """
        ...

    async def delete(self, *, message_id: int, user_id: int) -> MessageResult:
        """Erase a message's text and append a ``deleted`` event (``messages.delete``).

        Deleting it again returns the same deleted form with ``event=None``.

        Raises:
            NotFound: no such message.
            Forbidden: the caller is not a member of its room, or neither its author nor
                the room's owner.
        """
        ...

    async def history(
        self, *, room_id: int, user_id: int, cursor: int | None = None, limit: int = 50
    ) -> bytes:
        """One page of a room's messages, newest first, deleted ones left out
        (``messages.list``), encoded as a ``MessagePage`` (docs/api.md "Shapes"; the
        shape of :class:`~wirechat.chat.store.rows.MessagePageJSON`). ``cursor`` is the
        previous page's ``nextCursor``.

        Raises:
            NotFound: no such room.
            Forbidden: ``user_id`` is not a member.
        """
        ...

    async def aclose(self) -> None:
        """Release the store's connections (the engine is closed by its owner)."""
        ...


async def event_pages(
    log: EventLog, room_id: int, after_seq: int
) -> AsyncGenerator[list[EventRow], None]:
    """The room's stored events after ``after_seq``, one non-empty page at a time.

    The one place that pages through a log: the page size it asks for is the one it
    checks, so a full page always leads to the next read and nothing is skipped.
    """
    cursor = after_seq
    while True:
        page = await log.events_after(room_id, cursor, EVENT_PAGE)
        if page:
            yield page
        if len(page) < EVENT_PAGE:
            return
        cursor = page[-1][0]
