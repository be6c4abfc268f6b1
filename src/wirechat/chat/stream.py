"""``messages.onMessage``: replay from the log, then live, with no gap and no duplicate.

The seam is race-free because of the order of operations:

1. attach a listener to the room channel (the broker subscription is in place,
   so every event committed from now on will reach the listener);
2. replay from the database every event after ``lastEventId``: this read
   happens after step 1, so it covers every event committed before the
   listener could see it;
3. go live: skip queued events the replay already delivered (``seq`` not above
   the last one sent), and fill any jump in ``seq`` from the database.

Every event has one ``seq`` per room, so "already delivered" and "missing" are
integer comparisons, and a replayed event carries the message as it is now (a
since-deleted message shows no text).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from wirechat.chat.deps import Deps
from wirechat.chat.hub import EventRecord, Lagged, Listener
from wirechat.chat.services import messages
from wirechat.db.session import transaction
from wirechat.rpc import Tracked, tracked
from wirechat.rpc.codec import dumps

__all__ = ["message_stream", "replay"]

PAGE = 100


async def _load(session: AsyncSession, room_id: int, after_seq: int) -> list[EventRecord]:
    events = await messages.events_after(session, room_id, after_seq, PAGE)
    return [EventRecord(e.seq, dumps(e.to_schema())) for e in events]


async def replay(
    deps: Deps, room_id: int, after_seq: int, until: int | None = None
) -> AsyncIterator[EventRecord]:
    """Stored events after ``after_seq`` (up to ``until``), page by page."""
    cursor = after_seq
    while until is None or cursor < until:
        async with transaction(deps.sessions) as session:
            page = await _load(session, room_id, cursor)
        for record in page:
            if until is not None and record.seq > until:
                return
            cursor = record.seq
            yield record
        if len(page) < PAGE:
            return


async def message_stream(
    deps: Deps, listener: Listener, room_id: int, user_id: int, after_seq: int | None
) -> AsyncIterator[Tracked[orjson.Fragment]]:
    """The events of one ``messages.onMessage`` subscription; ends when the user leaves."""
    delivered_total = deps.metrics.delivered.labels("messages.onMessage")
    gauge = deps.metrics.subscriptions.labels("messages.onMessage")
    gauge.inc()
    # Without lastEventId the stream starts live: from what the channel had seen
    # when the listener attached.
    delivered = listener.start_seq if after_seq is None else after_seq
    try:
        while True:
            try:
                async for record in replay(deps, room_id, delivered):
                    delivered = record.seq
                    delivered_total.inc()
                    yield tracked(str(record.seq), orjson.Fragment(record.payload))
                async for item in listener:
                    assert isinstance(item, EventRecord)
                    if item.seq <= delivered:
                        continue
                    if item.seq > delivered + 1:
                        async for record in replay(deps, room_id, delivered, item.seq - 1):
                            delivered = record.seq
                            delivered_total.inc()
                            yield tracked(str(record.seq), orjson.Fragment(record.payload))
                    delivered = item.seq
                    delivered_total.inc()
                    yield tracked(str(item.seq), orjson.Fragment(item.payload))
                return  # the user left the room
            except Lagged:
                # Too slow for the live feed: attach anew and catch up from the log.
                listener.close()
                listener = await deps.hub.attach(room_id, user_id, "events")
    finally:
        listener.close()
        gauge.dec()
        if await deps.presence.leave(room_id, user_id):
            await deps.hub.publish_presence(room_id)
