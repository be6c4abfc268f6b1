"""``messages.onMessage``: replay from the log, then live, with no gap and no duplicate.

The seam is race-free because of the order of operations:

1. attach a listener to the room channel (the broker subscription is in place,
   so every event committed from now on will reach the listener);
2. replay from the database every event after ``lastEventId``: this read
   happens after step 1, so it covers every event committed before the
   listener could see it;
3. go live: skip events the replay already delivered (``seq`` not above the
   last one sent); a jump in ``seq`` goes back to step 2 from the last one sent.

Every event has one ``seq`` per room, so "already delivered" and "missing" are
integer comparisons, and a replayed event carries the message as it is now (a
since-deleted message shows no text). Live events are emitted synchronously from
the room channel's fan-out (:meth:`Listener.follow`): no task switch per
subscriber per event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

import orjson

from wirechat.broker import BrokerClosed
from wirechat.chat.deps import Deps
from wirechat.chat.errors import Forbidden
from wirechat.chat.hub import EventRecord, Lagged, Listener
from wirechat.chat.store import EventLog, event_pages
from wirechat.rpc import Emit, PushSource, Tracked

__all__ = ["MessageStream", "replay"]


class _Gap(Exception):
    """A live event is not the next one: fill from the log before going on."""


_SLICE = 25
"""Events emitted between two yields to the event loop during a replay."""


async def replay(
    log: EventLog, room_id: int, after_seq: int, slots: asyncio.Semaphore | None = None
) -> AsyncGenerator[EventRecord, None]:
    """Stored events after ``after_seq``, page by page, in ``seq`` order.

    A page read on SQLite runs on the event loop, and emitting a page of long messages
    costs more than reading it; so a replay yields to the loop every few events and
    holds one of ``slots`` (shared by every replay of the process) from reading a page
    until its last event is out. However many replays run at once, the loop is then
    held by at most ``slots`` slices between two other tasks, and a replay whose
    subscription was cancelled (its connection gone) stops at the next yield.
    """
    pages = event_pages(log, room_id, after_seq)
    try:
        while True:
            async with slots or contextlib.nullcontext():
                page = await anext(pages, None)
                if page is None:
                    return
                for i, (seq, payload) in enumerate(page, start=1):
                    yield EventRecord(seq, payload)
                    if i % _SLICE == 0:
                        await asyncio.sleep(0)
            await asyncio.sleep(0)
    finally:
        await pages.aclose()


class MessageStream(PushSource[Tracked[orjson.Fragment]]):
    """The events of one ``messages.onMessage`` subscription (a push source).

    Completes when the user leaves the room. Set up (membership, listener, presence)
    is done by the caller before the client is told ``started``.
    """

    def __init__(
        self, deps: Deps, listener: Listener, room_id: int, user_id: int, after_seq: int | None
    ) -> None:
        self.deps = deps
        self.listener = listener
        self.room_id = room_id
        self.user_id = user_id
        # Without lastEventId the stream starts live: after what the channel had seen
        # when the listener attached.
        self.delivered = listener.start_seq if after_seq is None else after_seq

    async def run(self, emit: Emit) -> None:
        deps = self.deps
        gauge = deps.metrics.subscriptions.labels("messages.onMessage")
        replayed = deps.metrics.delivered.labels("messages.onMessage")
        gauge.inc()

        def live(record: EventRecord) -> None:
            if record.seq <= self.delivered:
                return
            if record.seq != self.delivered + 1:
                raise _Gap
            self.delivered = record.seq
            emit(record.tracked)

        try:
            while True:
                async for record in replay(
                    deps.store, self.room_id, self.delivered, deps.replay_slots
                ):
                    self.delivered = record.seq
                    replayed.inc()
                    emit(record.tracked)
                try:
                    await self.listener.follow(live)
                    return  # the user left the room
                except _Gap:
                    continue
                except Lagged:
                    # Fell behind while replaying: attach anew and catch up from the log,
                    # if still a member (a "left" signal may have been lost with the
                    # overflow on another process's side of the broker).
                    self.listener.close()
                    try:
                        await deps.store.require_member(self.room_id, self.user_id)
                    except Forbidden:
                        return
                    self.listener = await deps.hub.attach(self.room_id, self.user_id, "events")
        finally:
            self.listener.close()
            gauge.dec()
            if await deps.presence.leave(self.room_id, self.user_id):
                # Closed broker: the process is stopping and nobody is left to tell.
                # Raised here it would replace how the stream ended (a cancellation
                # would reach the client as INTERNAL_SERVER_ERROR).
                with contextlib.suppress(BrokerClosed):
                    await deps.hub.publish_presence(self.room_id)
