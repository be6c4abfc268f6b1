"""``messages.list``: a page of a room's history, read on the fast path.

The busiest read of a chat client, so it skips the ORM and pydantic: one Core
query for membership, one for the page, and rows turned straight into the wire
shape of api.md ``Message`` (camelCase keys, times as ``…T12:00:00.000Z``),
which orjson encodes as is. Deleted messages are left out, so no row here can
reveal deleted text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypedDict

from sqlalchemy import String, and_, bindparam, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from wirechat.chat.errors import Forbidden, NotFound
from wirechat.chat.models import Message, Room, RoomMember, User
from wirechat.chat.services.rooms import NOT_A_MEMBER
from wirechat.db.session import SessionFactory, transaction
from wirechat.db.sqlite import FastReader, fast_reader

__all__ = [
    "MEMBERSHIP",
    "MESSAGE_COLUMNS",
    "AuthorJSON",
    "MessageJSON",
    "MessagePageJSON",
    "check_member",
    "check_member_row",
    "history",
    "message_json",
    "reader_for",
    "wire_time",
]


class AuthorJSON(TypedDict):
    id: int
    username: str
    displayName: str


class MessageJSON(TypedDict):
    id: int
    roomId: int
    author: AuthorJSON
    text: str
    clientMessageId: str | None
    createdAt: str
    editedAt: str | None
    deletedAt: str | None


class MessagePageJSON(TypedDict):
    items: list[MessageJSON]
    nextCursor: int | None


def wire_time(value: Any) -> str | None:
    """A stored time as api.md writes times (``2026-01-31T12:00:00.000Z``).

    SQLite hands back its stored text (``2026-01-31 12:00:00.000000``, always UTC),
    which is re-cut without parsing; PostgreSQL drivers return aware datetimes.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return f"{value[:10]}T{value[11:23]}Z"
    assert isinstance(value, datetime)
    moment: datetime = value
    if moment.tzinfo is not None and moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


MEMBERSHIP = (
    select(Room.id, RoomMember.user_id)
    .outerjoin(
        RoomMember,
        and_(RoomMember.room_id == Room.id, RoomMember.user_id == bindparam("user_id")),
    )
    .where(Room.id == bindparam("room_id"))
)


MESSAGE_COLUMNS = (
    Message.id,
    Message.author_id,
    User.username,
    User.display_name,
    Message.text,
    Message.client_message_id,
    # Raw stored values: wire_time formats them without a datetime round trip.
    type_coerce(Message.created_at, String),
    type_coerce(Message.edited_at, String),
    type_coerce(Message.deleted_at, String),
)
"""The columns :func:`message_json` turns into an api.md ``Message`` (join ``User``)."""


def message_json(row: Sequence[Any], room_id: int) -> MessageJSON:
    """An api.md ``Message`` from :data:`MESSAGE_COLUMNS`; deleted text never shows."""
    mid, author_id, username, display_name, text, client_id, created, edited, deleted = row
    return {
        "id": mid,
        "roomId": room_id,
        "author": {"id": author_id, "username": username, "displayName": display_name},
        "text": "" if deleted is not None else text,
        "clientMessageId": client_id,
        "createdAt": wire_time(created),  # type: ignore[typeddict-item]
        "editedAt": wire_time(edited),
        "deletedAt": wire_time(deleted),
    }


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


async def check_member(conn: AsyncConnection, room_id: int, user_id: int) -> None:
    """Raises NotFound (no such room) or Forbidden (not a member)."""
    check_member_row(
        (await conn.execute(MEMBERSHIP, {"room_id": room_id, "user_id": user_id})).first()
    )


def check_member_row(row: Any) -> None:
    if row is None:
        raise NotFound("room")
    if row[1] is None:
        raise Forbidden(NOT_A_MEMBER)


def reader_for(sessions: SessionFactory) -> FastReader | None:
    """The fast SQLite connection behind ``sessions``, or None (PostgreSQL)."""
    engine = sessions.kw.get("bind")
    if engine is None:
        return None
    return fast_reader(engine.dialect, engine.url.database)


async def history(
    sessions: SessionFactory,
    *,
    room_id: int,
    user_id: int,
    cursor: int | None = None,
    limit: int = 50,
) -> MessagePageJSON:
    """One page of a room's messages, newest first, deleted ones left out.

    ``cursor`` is the smallest id of the previous page (its ``nextCursor``);
    ``nextCursor`` is null when no older message remains.

    Raises:
        NotFound: no such room.
        Forbidden: ``user_id`` is not a member.
    """
    params = {"room_id": room_id, "user_id": user_id, "limit": limit + 1, "cursor": cursor}
    query = _PAGE if cursor is None else _PAGE_BEFORE
    reader = reader_for(sessions)
    if reader is not None:
        # SQLite: two plain reads on the fast reader, no transaction needed (WAL).
        check_member_row(next(iter(reader.all(MEMBERSHIP, params)), None))
        rows: Sequence[Any] = reader.all(query, params)
    else:
        async with transaction(sessions) as session:
            conn = await session.connection()
            await check_member(conn, room_id, user_id)
            rows = (await conn.execute(query, params)).all()
    items = [message_json(row, room_id) for row in rows[:limit]]
    return {"items": items, "nextCursor": items[-1]["id"] if len(rows) > limit else None}
