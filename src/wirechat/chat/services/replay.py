"""Stored room events in their wire form, for resuming streams and filling gaps.

A reconnect storm replays the same events to many subscribers, so this reads on
the fast path (the SQLite fast reader, or one Core query) and encodes each event
straight from its row. Each event carries its message as it is now: a message
deleted since shows ``text: ""`` and ``deletedAt``, never its old text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import bindparam, select

from wirechat.chat.models import Message, RoomEvent, User
from wirechat.chat.services.history import MESSAGE_COLUMNS, message_json, reader_for
from wirechat.db.session import SessionFactory, transaction

__all__ = ["events_after"]

_EVENTS = (
    select(RoomEvent.seq, RoomEvent.type, *MESSAGE_COLUMNS)
    .join(Message, Message.id == RoomEvent.message_id)
    .join(User, User.id == Message.author_id)
    .where(RoomEvent.room_id == bindparam("room_id"), RoomEvent.seq > bindparam("after"))
    .order_by(RoomEvent.seq)
    .limit(bindparam("limit"))
)


async def events_after(
    sessions: SessionFactory, room_id: int, after_seq: int, limit: int = 100
) -> list[tuple[int, bytes]]:
    """Up to ``limit`` events with ``seq > after_seq`` as ``(seq, MessageEvent JSON)``,
    in order. Check membership before calling."""
    params = {"room_id": room_id, "after": after_seq, "limit": limit}
    reader = reader_for(sessions)
    rows: Sequence[Any]
    if reader is not None:
        rows = reader.all(_EVENTS, params)
    else:
        async with transaction(sessions) as session:
            conn = await session.connection()
            rows = (await conn.execute(_EVENTS, params)).all()
    return [(row[0], _event_json(row, room_id)) for row in rows]


def _event_json(row: Any, room_id: int) -> bytes:
    return orjson.dumps({"type": row[1], "message": message_json(row[2:], room_id)})
