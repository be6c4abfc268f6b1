"""What the database holds, read back through the ORM, independently of the chat store:
the reference the store's own reads are checked against."""

from __future__ import annotations

from sqlalchemy import func, select

from wirechat.chat.models import EVENT_TYPES, EventType, Message, RoomEvent, User
from wirechat.chat.services.outputs import message_out
from wirechat.chat.store import StoredEvent
from wirechat.db.session import SessionFactory, transaction

__all__ = ["count", "events"]


def _event_type(value: str) -> EventType:
    for known in EVENT_TYPES:
        if value == known:
            return known
    raise ValueError(f"unknown room event type {value!r}")


async def events(sessions: SessionFactory, room_id: int, after: int = 0) -> list[StoredEvent]:
    """Every event of a room with ``seq > after``, in order, each with its message as it is
    now."""
    async with transaction(sessions) as session:
        rows = await session.execute(
            select(RoomEvent.seq, RoomEvent.type, Message, User)
            .join(Message, Message.id == RoomEvent.message_id)
            .join(User, User.id == Message.author_id)
            .where(RoomEvent.room_id == room_id, RoomEvent.seq > after)
            .order_by(RoomEvent.seq)
        )
        return [
            StoredEvent(room_id, seq, _event_type(type_), message_out(message, author))
            for seq, type_, message, author in rows
        ]


async def count(sessions: SessionFactory, model: type[Message] | type[RoomEvent]) -> int:
    async with transaction(sessions) as session:
        return (await session.scalar(select(func.count()).select_from(model))) or 0
