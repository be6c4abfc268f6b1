"""Stored rows turned into the API's shapes, on both store implementations alike.

The hottest reads (history pages, replayed events) skip the ORM and pydantic: rows
become the wire shape of ``Message`` (docs/api.md "Shapes": camelCase keys, times as
``…T12:00:00.000Z``), which orjson encodes as is. Times come back raw: SQLite's stored
UTC text, or the aware datetimes of PostgreSQL's driver; both are handled here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypedDict

import orjson
from sqlalchemy import String, type_coerce

from wirechat.chat import schemas
from wirechat.chat.models import Message, User

__all__ = [
    "MESSAGE_COLUMNS",
    "AuthorJSON",
    "MessageJSON",
    "MessagePageJSON",
    "event_json",
    "message_json",
    "message_schema",
    "stored_datetime",
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
"""The columns of one message (join ``User`` on its author), in the order the functions
below read them."""


def wire_time(value: Any) -> str | None:
    """A stored time as the API writes times (``2026-01-31T12:00:00.000Z``).

    SQLite's stored text (``2026-01-31 12:00:00.000000``, always UTC) is re-cut without
    parsing; PostgreSQL drivers return aware datetimes.
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


def stored_datetime(value: Any) -> datetime | None:
    """A stored time as an aware UTC datetime (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


def message_json(row: Sequence[Any], room_id: int) -> MessageJSON:
    """A ``Message`` from :data:`MESSAGE_COLUMNS`; deleted text never shows."""
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


def message_schema(row: Sequence[Any], room_id: int) -> schemas.Message:
    """The same message as :func:`message_json`, as the schema mutations return."""
    mid, author_id, username, display_name, text, client_id, created, edited, deleted = row
    created_at = stored_datetime(created)
    assert created_at is not None
    return schemas.Message(
        id=mid,
        room_id=room_id,
        author=schemas.Author(id=author_id, username=username, display_name=display_name),
        text="" if deleted is not None else text,
        client_message_id=client_id,
        created_at=created_at,
        edited_at=stored_datetime(edited),
        deleted_at=stored_datetime(deleted),
    )


def event_json(type_: str, row: Sequence[Any], room_id: int) -> bytes:
    """The ``MessageEvent`` of a message row, JSON-encoded."""
    return orjson.dumps({"type": type_, "message": message_json(row, room_id)})
