"""Every storage operation of the chat, written once as a sans-I/O program.

A program is a generator that yields ``(statement, params)`` and is sent back the rows
(an empty list for a statement that returns none); its return value is the result. The
store implementations only run them: :class:`~wirechat.chat.store.sqlite.SQLiteStore`
synchronously on one SQLite connection, :class:`~wirechat.chat.store.sql.SQLStore`
awaiting SQLAlchemy's async engine. So the rules (membership, idempotency, who may edit
or delete, sequence numbering) have one copy, and the fast path is a way of running it,
not a fork of it.

Every created, edited or deleted message appends one ``room_events`` row whose ``seq``
is the room's next number, in the same transaction as the change itself, so the stream
is gap-free and a committed change always has its event (docs/api.md "Message stream
and resume"). The number comes from
``UPDATE rooms SET last_seq = last_seq + 1 ... RETURNING``: on PostgreSQL that locks the
room row until commit, so events of a room commit in ``seq`` order; on SQLite the
transaction already holds the database write lock (``BEGIN IMMEDIATE``).

Lock order is message row, then room row, in every writer, so writers never deadlock.
Statements take their values as bound parameters (datetimes aware, in UTC); rows come
back raw (see :mod:`wirechat.chat.store.rows`).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import Insert, Select, Update, and_, bindparam, insert, select, update

from wirechat.chat import schemas
from wirechat.chat.errors import Forbidden, NotFound
from wirechat.chat.models import EventType, Message, Room, RoomEvent, RoomMember, User
from wirechat.chat.store.base import EventRow, MessageResult, StoredEvent
from wirechat.chat.store.pages import PageCache
from wirechat.chat.store.rows import (
    MESSAGE_COLUMNS,
    MessagePageJSON,
    event_json,
    message_json,
    message_schema,
)

__all__ = [
    "MEMBERSHIP",
    "NOT_A_MEMBER",
    "Program",
    "Rows",
    "Statement",
    "Step",
    "by_client_id",
    "check_membership",
    "delete",
    "edit",
    "events_after",
    "find_sent",
    "history",
    "last_seq",
    "membership",
    "send",
]

T = TypeVar("T")
Rows = Sequence[Sequence[Any]]
Statement = Select[*tuple[Any, ...]] | Insert | Update
Step = tuple[Statement, Mapping[str, Any]]
Program = Generator[Step, Rows, T]
"""A storage operation: yields statements, is sent their rows, returns its result."""

NOT_A_MEMBER = "you are not a member of this room"

MEMBERSHIP = (
    select(Room.id, Room.owner_id, RoomMember.user_id, Room.last_seq)
    .outerjoin(
        RoomMember,
        and_(RoomMember.room_id == Room.id, RoomMember.user_id == bindparam("user_id")),
    )
    .where(Room.id == bindparam("room_id"))
)
"""The room, its ``last_seq`` and, if ``user_id`` is a member, their membership: the one
membership query."""


def check_membership(rows: Rows) -> int:
    """The room's owner id from :data:`MEMBERSHIP`'s rows.

    Raises:
        NotFound: no such room.
        Forbidden: the user is not a member.
    """
    if not rows:
        raise NotFound("room")
    owner_id, member = rows[0][1], rows[0][2]
    if member is None:
        raise Forbidden(NOT_A_MEMBER)
    return int(owner_id)


def membership(room_id: int, user_id: int) -> Program[int]:
    """Check that ``user_id`` is a member of ``room_id``; returns the room's owner id."""
    return check_membership((yield MEMBERSHIP, {"room_id": room_id, "user_id": user_id}))


_BY_CLIENT_ID = (
    select(Message.room_id, *MESSAGE_COLUMNS)
    .join(User, User.id == Message.author_id)
    .where(
        Message.author_id == bindparam("author_id"),
        Message.client_message_id == bindparam("client_message_id"),
        # A clientMessageId answers for its own room only: the same id sent to another
        # room is not a retry of this message (and must not reveal it).
        Message.room_id == bindparam("room_id"),
    )
)


def by_client_id(
    room_id: int, author_id: int, client_message_id: str
) -> Program[schemas.Message | None]:
    """The message ``author_id`` stored in ``room_id`` with ``client_message_id``, if any."""
    rows = yield (
        _BY_CLIENT_ID,
        {
            "room_id": room_id,
            "author_id": author_id,
            "client_message_id": client_message_id,
        },
    )
    return message_schema(rows[0][1:], rows[0][0]) if rows else None


def find_sent(
    room_id: int, author_id: int, client_message_id: str
) -> Program[schemas.Message | None]:
    yield from membership(room_id, author_id)
    return (yield from by_client_id(room_id, author_id, client_message_id))


_MEMBER_AS_AUTHOR = MEMBERSHIP.add_columns(User.username, User.display_name).outerjoin(
    User, User.id == RoomMember.user_id
)
""":data:`MEMBERSHIP` with the member's name for the message: one statement, not two."""
_INSERT_MESSAGE = (
    insert(Message)
    .values(
        room_id=bindparam("room_id"),
        author_id=bindparam("author_id"),
        text=bindparam("text"),
        client_message_id=bindparam("client_message_id"),
        created_at=bindparam("created_at", type_=Message.created_at.type),
    )
    .returning(Message.id)
)
_NEXT_SEQ = (
    update(Room)
    .where(Room.id == bindparam("room_id"))
    .values(last_seq=Room.last_seq + 1)
    .returning(Room.last_seq)
)
_INSERT_EVENT = insert(RoomEvent).values(
    room_id=bindparam("room_id"),
    seq=bindparam("seq"),
    type=bindparam("type"),
    message_id=bindparam("message_id"),
    created_at=bindparam("created_at", type_=RoomEvent.created_at.type),
)


def _append_event(room_id: int, message_id: int, type_: EventType, now: datetime) -> Program[int]:
    """Number the room's next event and store it; returns its ``seq``."""
    params = {"room_id": room_id, "message_id": message_id, "type": type_, "created_at": now}
    seqs = yield _NEXT_SEQ, params
    if not seqs:
        raise NotFound("room")
    seq = int(seqs[0][0])
    yield _INSERT_EVENT, {**params, "seq": seq}
    return seq


def send(
    room_id: int, author_id: int, text: str, client_message_id: str | None, now: datetime
) -> Program[MessageResult]:
    """The busiest write of the chat: membership, the idempotency lookup, the message,
    the room's next ``seq``, the event. ``text`` is stored as given.

    A concurrent retry with the same ``client_message_id`` fails this transaction on
    the unique ``(author_id, client_message_id)`` index; the caller then reads the
    winner's row with :func:`by_client_id`.
    """
    rows = yield _MEMBER_AS_AUTHOR, {"room_id": room_id, "user_id": author_id}
    check_membership(rows)
    if client_message_id is not None:
        stored = yield from by_client_id(room_id, author_id, client_message_id)
        if stored is not None:
            return MessageResult(stored, None)
    ids = yield (
        _INSERT_MESSAGE,
        {
            "room_id": room_id,
            "author_id": author_id,
            "text": text,
            "client_message_id": client_message_id,
            "created_at": now,
        },
    )
    message_id = int(ids[0][0])
    seq = yield from _append_event(room_id, message_id, "created", now)
    username, display_name = rows[0][4:]
    message = schemas.Message(
        id=message_id,
        room_id=room_id,
        author=schemas.Author(id=author_id, username=username, display_name=display_name),
        text=text,
        client_message_id=client_message_id,
        created_at=now,
        edited_at=None,
        deleted_at=None,
    )
    return MessageResult(message, StoredEvent(room_id, seq, "created", message))


# FOR UPDATE (PostgreSQL; SQLite holds the write lock already): an edit racing a delete
# must see the deletion, not overwrite it. Only the message row is locked here.
_LOCKED_MESSAGE = (
    select(Message.room_id, *MESSAGE_COLUMNS)
    .join(User, User.id == Message.author_id)
    .where(Message.id == bindparam("message_id"))
    .with_for_update(of=Message)
)
_EDIT = (
    update(Message)
    .where(Message.id == bindparam("message_id"))
    .values(text=bindparam("new_text"), edited_at=bindparam("at", type_=Message.edited_at.type))
)
_DELETE = (
    update(Message)
    .where(Message.id == bindparam("message_id"))
    .values(text="", deleted_at=bindparam("at", type_=Message.deleted_at.type))
)


def _locked_message(message_id: int) -> Program[tuple[int, schemas.Message]]:
    rows = yield _LOCKED_MESSAGE, {"message_id": message_id}
    if not rows:
        raise NotFound("message")
    return rows[0][0], message_schema(rows[0][1:], rows[0][0])


def edit(message_id: int, user_id: int, text: str, now: datetime) -> Program[MessageResult]:
    """A deleted message is gone for editing purposes: NotFound, as it is gone from
    history."""
    room_id, message = yield from _locked_message(message_id)
    yield from membership(room_id, user_id)
    if message.author.id != user_id:
        raise Forbidden("only the author can edit a message")
    if message.deleted_at is not None:
        raise NotFound("message")
    yield _EDIT, {"message_id": message_id, "new_text": text, "at": now}
    seq = yield from _append_event(room_id, message_id, "edited", now)
    edited = message.model_copy(update={"text": text, "edited_at": now})
    return MessageResult(edited, StoredEvent(room_id, seq, "edited", edited))


_IS_DIRECT = select(Room.is_direct).where(Room.id == bindparam("room_id"))
_NOT_YOURS = "only the author or the room owner can delete a message"


def delete(message_id: int, user_id: int, now: datetime) -> Program[MessageResult]:
    """The row stays with its text erased and ``deleted_at`` set; deleting it again
    changes nothing and appends no event."""
    room_id, message = yield from _locked_message(message_id)
    owner_id = yield from membership(room_id, user_id)
    if user_id not in (message.author.id, owner_id):
        raise Forbidden(_NOT_YOURS)
    if user_id != message.author.id:
        # In a direct room the "owner" is only whoever opened it first: neither side
        # may delete the other's messages.
        direct = yield _IS_DIRECT, {"room_id": room_id}
        if direct and direct[0][0]:
            raise Forbidden(_NOT_YOURS)
    if message.deleted_at is not None:
        return MessageResult(message, None)
    yield _DELETE, {"message_id": message_id, "at": now}
    seq = yield from _append_event(room_id, message_id, "deleted", now)
    deleted = message.model_copy(update={"text": "", "deleted_at": now})
    return MessageResult(deleted, StoredEvent(room_id, seq, "deleted", deleted))


def _page_query(before_cursor: bool) -> Any:
    query = (
        select(*MESSAGE_COLUMNS)
        .join(User, User.id == Message.author_id)
        .where(Message.room_id == bindparam("room_id"), Message.deleted_at.is_(None))
    )
    if before_cursor:
        query = query.where(Message.id < bindparam("cursor"))
    return query.order_by(Message.id.desc()).limit(bindparam("limit"))


_PAGE = _page_query(False)
_PAGE_BEFORE = _page_query(True)


def history(
    room_id: int, user_id: int, cursor: int | None, limit: int, pages: PageCache
) -> Program[bytes]:
    """The page encoded as a ``MessagePage`` (docs/api.md "Shapes"): newest first;
    ``nextCursor`` is the smallest id of the page, or None when no older message
    remains. Deleted messages are left out, so no row here can reveal deleted text.

    Membership is checked on every call; the page itself comes from ``pages`` when the
    room has had no event since it was read (see :mod:`wirechat.chat.store.pages`)."""
    rows = yield MEMBERSHIP, {"room_id": room_id, "user_id": user_id}
    check_membership(rows)
    seq = int(rows[0][3])
    key = (room_id, cursor, limit)
    page = pages.get(key, seq)
    if page is None:
        params = {"room_id": room_id, "limit": limit + 1, "cursor": cursor}
        rows = yield (_PAGE if cursor is None else _PAGE_BEFORE), params
        items = [message_json(row, room_id) for row in rows[:limit]]
        wire: MessagePageJSON = {
            "items": items,
            "nextCursor": items[-1]["id"] if len(rows) > limit else None,
        }
        page = orjson.dumps(wire)
        pages.put(key, seq, page)
    return page


_EVENTS = (
    select(RoomEvent.seq, RoomEvent.type, *MESSAGE_COLUMNS)
    .join(Message, Message.id == RoomEvent.message_id)
    .join(User, User.id == Message.author_id)
    .where(RoomEvent.room_id == bindparam("room_id"), RoomEvent.seq > bindparam("after"))
    .order_by(RoomEvent.seq)
    .limit(bindparam("limit"))
)


def events_after(room_id: int, after_seq: int, limit: int) -> Program[list[EventRow]]:
    """Each event carries its message as it is now: a message deleted since shows
    ``text: ""`` and ``deletedAt``, never its old text. Encoded straight from the rows,
    since a reconnect storm replays the same events to many subscribers."""
    rows = yield _EVENTS, {"room_id": room_id, "after": after_seq, "limit": limit}
    return [(row[0], event_json(row[1], row[2:], room_id)) for row in rows]


_LAST_SEQ = select(Room.last_seq).where(Room.id == bindparam("room_id"))


def last_seq(room_id: int) -> Program[int]:
    rows = yield _LAST_SEQ, {"room_id": room_id}
    if not rows:
        raise NotFound("room")
    return int(rows[0][0])
