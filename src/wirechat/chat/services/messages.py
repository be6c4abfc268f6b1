"""Messages and the numbered event stream of each room (``messages.*``).

Every created, edited or deleted message appends one ``room_events`` row whose ``seq``
is the room's next number, in the same transaction as the change itself, so the stream
is gap-free and a committed change always has its event (api.md "Ordered, gap-free,
resumable message stream"). The number comes from
``UPDATE rooms SET last_seq = last_seq + 1 ... RETURNING``: on PostgreSQL that locks the
room row until commit, so events of a room commit in ``seq`` order; on SQLite the
transaction already holds the database write lock (``BEGIN IMMEDIATE``).

Lock order is message row, then room row, in every writer, so writers never deadlock.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wirechat.chat import schemas
from wirechat.chat.errors import Forbidden, NotFound, ValidationFailed
from wirechat.chat.models import EVENT_TYPES, EventType, Message, Room, RoomEvent, User, utc_now
from wirechat.chat.services.history import MEMBERSHIP, check_member, check_member_row, reader_for
from wirechat.chat.services.outputs import message_out
from wirechat.chat.services.rooms import require_member
from wirechat.db.session import SessionFactory, transaction
from wirechat.db.sqlite import stored_time

__all__ = [
    "MessageResult",
    "StoredEvent",
    "delete",
    "edit",
    "events_after",
    "find_sent",
    "last_seq",
    "send",
]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event of a room's stream; ``seq`` as a string is its tracked id."""

    room_id: int
    seq: int
    type: EventType
    message: schemas.Message

    @property
    def tracked_id(self) -> str:
        """The id ``messages.onMessage`` sends with this event (``lastEventId`` on resume)."""
        return str(self.seq)

    def to_schema(self) -> schemas.MessageEvent:
        """The event's data as api.md ``MessageEvent``."""
        return schemas.MessageEvent(type=self.type, message=self.message)


@dataclass(frozen=True, slots=True)
class MessageResult:
    """What a send, edit or delete produced.

    ``event`` is the new event to publish to subscribers, or None when nothing changed
    (an idempotent replay of a send, or deleting an already deleted message).
    """

    message: schemas.Message
    event: StoredEvent | None


async def _next_seq(session: AsyncSession, room_id: int) -> int:
    seq = await session.scalar(
        update(Room)
        .where(Room.id == room_id)
        .values(last_seq=Room.last_seq + 1)
        .returning(Room.last_seq)
        .execution_options(synchronize_session=False)
    )
    if seq is None:
        raise NotFound("room")
    return seq


async def _append_event(
    session: AsyncSession, message: Message, author: User, type_: EventType
) -> StoredEvent:
    seq = await _next_seq(session, message.room_id)
    session.add(
        RoomEvent(
            room_id=message.room_id,
            seq=seq,
            type=type_,
            message_id=message.id,
            created_at=utc_now(),
        )
    )
    await session.flush()
    return StoredEvent(message.room_id, seq, type_, message_out(message, author))


_BY_CLIENT_ID = (
    select(
        Message.id,
        Message.room_id,
        User.id,
        User.username,
        User.display_name,
        Message.text,
        Message.created_at,
        Message.edited_at,
        Message.deleted_at,
    )
    .join(User, User.id == Message.author_id)
    .where(
        Message.author_id == bindparam("author_id"),
        Message.client_message_id == bindparam("client_message_id"),
        # A clientMessageId answers for its own room only: the same id sent to another
        # room is not a retry of this message (and must not reveal it).
        Message.room_id == bindparam("room_id"),
    )
)


async def _by_client_id(
    session: AsyncSession, room_id: int, author_id: int, client_message_id: str
) -> schemas.Message | None:
    conn = await session.connection()
    row = (
        await conn.execute(
            _BY_CLIENT_ID,
            {"room_id": room_id, "author_id": author_id, "client_message_id": client_message_id},
        )
    ).first()
    return None if row is None else _client_id_message(row, client_message_id)


def _aware(value: Any) -> datetime | None:
    """A time from a row: a datetime already, or SQLite's stored UTC text (fast path)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value  # type: ignore[no-any-return]


def _client_id_message(row: Any, client_message_id: str) -> schemas.Message:
    mid, room_id, uid, username, display_name, text, *times = row
    created, edited, deleted = (_aware(t) for t in times)
    assert created is not None
    return schemas.Message(
        id=mid,
        room_id=room_id,
        author=schemas.Author(id=uid, username=username, display_name=display_name),
        text="" if deleted is not None else text,
        client_message_id=client_message_id,
        created_at=created,
        edited_at=edited,
        deleted_at=deleted,
    )


async def _author(session: AsyncSession, user_id: int) -> User:
    author = await session.get(User, user_id)
    if author is None:
        raise NotFound("user")
    return author


async def find_sent(
    sessions: SessionFactory, *, room_id: int, author_id: int, client_message_id: str
) -> schemas.Message | None:
    """The message ``author_id`` already stored with ``client_message_id``, if any.

    Lets the caller answer a retried send before charging the rate limit: a retry after
    a network failure must get the stored message back (api.md "Idempotent send"), not
    ``TOO_MANY_REQUESTS``. :func:`send` does the same lookup itself; this is only a fast
    path, so a None here is no promise that ``send`` will store a new message.

    Raises:
        NotFound: no such room.
        Forbidden: the author is not a member.
    """
    async with transaction(sessions) as session:
        await check_member(await session.connection(), room_id, author_id)
        return await _by_client_id(session, room_id, author_id, client_message_id)


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
_AUTHOR = select(User.id, User.username, User.display_name).where(User.id == bindparam("user_id"))


async def send(
    sessions: SessionFactory,
    *,
    room_id: int,
    author_id: int,
    text: str,
    client_message_id: str | None = None,
) -> MessageResult:
    """Store a message and its ``created`` event (``messages.send``).

    ``text`` is stored as given (the input schema trims it). With a
    ``client_message_id`` the author already used, returns the message stored the first
    time and ``event=None``, even when the retries run concurrently: the unique
    ``(author_id, client_message_id)`` index lets one insert win, the others roll back
    (returning their sequence number) and read the winner's row.

    The busiest write of the chat, so it runs as four Core statements (no ORM unit of
    work): membership, the message, the room's next ``seq`` (row-locked on PostgreSQL
    until commit), the event.

    Raises:
        NotFound: no such room.
        Forbidden: the author is not a member.
    """
    now = utc_now()
    params: dict[str, Any] = {
        "room_id": room_id,
        "author_id": author_id,
        "user_id": author_id,
        "text": text,
        "client_message_id": client_message_id,
        "type": "created",
    }
    fast = reader_for(sessions)
    try:
        if fast is not None:
            # SQLite: the whole transaction runs synchronously on the fast connection.
            params["created_at"] = stored_time(now)
            async with fast.write_lock:
                with fast.write():
                    check_member_row(fast.first(MEMBERSHIP, params))
                    if client_message_id is not None:
                        row = fast.first(_BY_CLIENT_ID, params)
                        if row is not None:
                            return MessageResult(_client_id_message(row, client_message_id), None)
                    author = fast.first(_AUTHOR, params)
                    if author is None:
                        raise NotFound("user")
                    params["message_id"] = fast.all(_INSERT_MESSAGE, params)[0][0]
                    params["seq"] = fast.all(_NEXT_SEQ, params)[0][0]
                    fast.all(_INSERT_EVENT, params)
        else:
            params["created_at"] = now
            async with transaction(sessions, write=True) as session:
                conn = await session.connection()
                await check_member(conn, room_id, author_id)
                if client_message_id is not None:
                    stored = await _by_client_id(session, room_id, author_id, client_message_id)
                    if stored is not None:
                        return MessageResult(stored, None)
                author = (await conn.execute(_AUTHOR, params)).first()
                if author is None:
                    raise NotFound("user")
                params["message_id"] = (await conn.execute(_INSERT_MESSAGE, params)).scalar_one()
                params["seq"] = (await conn.execute(_NEXT_SEQ, params)).scalar_one()
                await conn.execute(_INSERT_EVENT, params)
        message = schemas.Message(
            id=params["message_id"],
            room_id=room_id,
            author=schemas.Author(id=author[0], username=author[1], display_name=author[2]),
            text=text,
            client_message_id=client_message_id,
            created_at=now,
            edited_at=None,
            deleted_at=None,
        )
        return MessageResult(message, StoredEvent(room_id, params["seq"], "created", message))
    except (IntegrityError, sqlite3.IntegrityError):
        if client_message_id is None:
            raise
        async with transaction(sessions) as session:
            stored = await _by_client_id(session, room_id, author_id, client_message_id)
        if stored is None:
            # The (author, clientMessageId) index is per author, not per room.
            raise ValidationFailed(
                ("clientMessageId",), "already used for a message in another room"
            ) from None
        return MessageResult(stored, None)


async def _locked_message(session: AsyncSession, message_id: int) -> Message:
    # FOR UPDATE (PostgreSQL; SQLite holds the write lock already): an edit racing a
    # delete must see the deletion, not overwrite it.
    message = await session.get(Message, message_id, with_for_update=True)
    if message is None:
        raise NotFound("message")
    return message


async def edit(
    sessions: SessionFactory, *, message_id: int, user_id: int, text: str
) -> MessageResult:
    """Replace a message's text and append an ``edited`` event (``messages.edit``).

    A deleted message is gone for editing purposes: :class:`NotFound`, as it is gone
    from history.

    Raises:
        NotFound: no such message, or it was deleted.
        Forbidden: the caller is not a member of its room, or not its author.
    """
    async with transaction(sessions, write=True) as session:
        message = await _locked_message(session, message_id)
        await require_member(session, message.room_id, user_id)
        if message.author_id != user_id:
            raise Forbidden("only the author can edit a message")
        if message.deleted_at is not None:
            raise NotFound("message")
        message.text = text
        message.edited_at = utc_now()
        await session.flush()
        event = await _append_event(
            session, message, await _author(session, message.author_id), "edited"
        )
    return MessageResult(event.message, event)


async def delete(sessions: SessionFactory, *, message_id: int, user_id: int) -> MessageResult:
    """Delete a message and append a ``deleted`` event (``messages.delete``).

    The row stays with its text erased and ``deleted_at`` set; the result is that
    deleted form. Deleting it again returns the same form with ``event=None``.

    Raises:
        NotFound: no such message.
        Forbidden: the caller is not a member of its room, or neither its author nor the
            room's owner (in a direct room: not its author).
    """
    async with transaction(sessions, write=True) as session:
        message = await _locked_message(session, message_id)
        room = await require_member(session, message.room_id, user_id)
        # In a direct room the "owner" is only whoever opened it first: neither side
        # may delete the other's messages.
        if user_id != message.author_id and (room.is_direct or user_id != room.owner_id):
            raise Forbidden("only the author or the room owner can delete a message")
        author = await _author(session, message.author_id)
        if message.deleted_at is not None:
            return MessageResult(message_out(message, author), None)
        message.text = ""
        message.deleted_at = utc_now()
        await session.flush()
        event = await _append_event(session, message, author, "deleted")
    return MessageResult(event.message, event)


async def events_after(
    session: AsyncSession, room_id: int, after_seq: int, limit: int = 100
) -> list[StoredEvent]:
    """Events of a room with ``seq > after_seq``, in order, at most ``limit`` of them.

    For replay on resume. Each event carries its message as it is NOW, so replaying an
    old ``created`` event of a since-deleted message shows ``text == ""`` and
    ``deletedAt``, never the deleted text. Check membership before calling; call again
    from the last ``seq`` returned while a full page comes back.
    """
    rows = await session.execute(
        select(RoomEvent.seq, RoomEvent.type, Message, User)
        .join(Message, Message.id == RoomEvent.message_id)
        .join(User, User.id == Message.author_id)
        .where(RoomEvent.room_id == room_id, RoomEvent.seq > after_seq)
        .order_by(RoomEvent.seq)
        .limit(limit)
    )
    return [
        StoredEvent(room_id, seq, _event_type(type_), message_out(message, author))
        for seq, type_, message, author in rows
    ]


def _event_type(value: str) -> EventType:
    for known in EVENT_TYPES:
        if value == known:
            return known
    raise ValueError(f"unknown room event type {value!r}")


async def last_seq(session: AsyncSession, room_id: int) -> int:
    """The ``seq`` of the room's latest event (0 before the first one).

    Raises:
        NotFound: no such room.
    """
    seq = await session.scalar(select(Room.last_seq).where(Room.id == room_id))
    if seq is None:
        raise NotFound("room")
    return seq
