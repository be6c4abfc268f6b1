"""SQLAlchemy tables of the chat: users, their sign-in sessions and refresh tokens, rooms,
memberships, messages and room events.

The schema itself is created by the Alembic migrations in ``wirechat/db/migrations``;
these classes must stay in step with them (``tests/db/test_migrations.py`` compares the two).
Times are stored in UTC truncated to milliseconds, the precision of the API's times
(docs/api.md "Shapes"), so a value read back formats exactly as it was sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "EVENT_TYPES",
    "ID_TYPE",
    "AuthSession",
    "Base",
    "EventType",
    "Message",
    "RefreshToken",
    "Room",
    "RoomEvent",
    "RoomMember",
    "User",
    "UtcDateTime",
    "utc_now",
]

EventType = Literal["created", "edited", "deleted"]
EVENT_TYPES: tuple[EventType, ...] = ("created", "edited", "deleted")

# SQLite only auto-assigns ids to a column spelled exactly INTEGER PRIMARY KEY;
# PostgreSQL gets BIGINT so ids never wrap.
ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")

# Constraint names are fixed so that migrations can refer to them on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> datetime:
    """Return the current UTC time truncated to milliseconds."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime with millisecond precision on every backend.

    SQLite's DATETIME drops the offset and PostgreSQL keeps microseconds; this type
    converts to UTC and truncates on the way in and re-attaches UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        value = value.replace(microsecond=value.microsecond // 1000 * 1000)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base holding the shared metadata."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """An account. ``username_lower`` makes usernames unique ignoring case."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(32))
    username_lower: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Room(Base):
    """A chat room; a direct room has ``is_direct`` and a ``direct_key``.

    ``direct_key`` is ``"<smaller user id>:<larger user id>"``; its unique index is what
    makes ``rooms.openDirect`` return one room per pair even under concurrent calls.
    ``last_seq`` is the last event number handed out in this room; incrementing it with
    ``UPDATE ... RETURNING`` locks the row, which serializes event numbering per room.
    """

    __tablename__ = "rooms"

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    is_private: Mapped[bool] = mapped_column(Boolean)
    is_direct: Mapped[bool] = mapped_column(Boolean)
    owner_id: Mapped[int] = mapped_column(ID_TYPE, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    direct_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    __table_args__ = (Index(None, "is_private", "id"),)


class RoomMember(Base):
    """Membership of a user in a room."""

    __tablename__ = "room_members"

    room_id: Mapped[int] = mapped_column(
        ID_TYPE, ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ID_TYPE, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Message(Base):
    """A chat message. Deleting keeps the row with empty ``text`` and ``deleted_at`` set.

    ``(author_id, client_message_id)`` is unique so a retried send finds the first copy;
    both databases treat NULLs as distinct, so messages without a client id never clash.
    """

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    room_id: Mapped[int] = mapped_column(ID_TYPE, ForeignKey("rooms.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ID_TYPE, ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    client_message_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    edited_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("author_id", "client_message_id"),
        # History pages newest first within one room.
        Index(None, "room_id", "id"),
    )


class RoomEvent(Base):
    """One numbered event of a room's stream, pointing at the message it concerns."""

    __tablename__ = "room_events"

    room_id: Mapped[int] = mapped_column(
        ID_TYPE, ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[int] = mapped_column(
        ID_TYPE, ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (CheckConstraint("type IN ('created', 'edited', 'deleted')", name="type"),)


class AuthSession(Base):
    """One sign-in (``auth.register``, ``auth.login``, ``auth.changePassword``).

    Its id is the ``sid`` claim of every access token issued for it; ``ended_at`` set
    means those tokens are refused. ``expires_at`` is when its newest refresh token
    expires: nothing can renew the session after that.
    """

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        ID_TYPE, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RefreshToken(Base):
    """A refresh token of a session, by the SHA-256 of its value (the value is never stored).

    Each use rotates it: ``rotated_at`` is set and a new row follows. Rotated rows are
    kept until they expire, so that a second use of one is recognised as theft.
    """

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ID_TYPE, ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
