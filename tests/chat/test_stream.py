"""``messages.onMessage``'s stream on its own: replay from the stored log, then live, with
no gap and no duplicate at the seam; it ends when the user leaves the room.

Runs on a real chat store, an in-process broker and the room hub; the emitted values are
what the transport would send.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
import pytest

from chat.factories import MakeRoom, MakeUser
from wirechat.broker import MemoryBroker
from wirechat.chat.auth import PasswordHasher, TokenService
from wirechat.chat.deps import Deps
from wirechat.chat.guard import SessionGuard
from wirechat.chat.hub import Lagged, RoomHub
from wirechat.chat.metrics import ChatMetrics
from wirechat.chat.presence import MemoryPresence
from wirechat.chat.services import sessions as signins
from wirechat.chat.services.ratelimit import MemoryRateLimiter, RateLimits
from wirechat.chat.services.users import UserCache
from wirechat.chat.store import EVENT_PAGE, ChatStore
from wirechat.chat.stream import MessageStream, replay
from wirechat.db.session import SessionFactory
from wirechat.proxies import TrustedProxies
from wirechat.rpc import Tracked

TIMEOUT = 15


@pytest.fixture
async def deps(store: ChatStore, sessions: SessionFactory) -> AsyncIterator[Deps]:
    broker = MemoryBroker()
    hub = RoomHub(broker, store)
    guard = SessionGuard(
        broker,
        lambda sid: signins.is_live(sessions, sid),
        lambda sids: signins.ended_among(sessions, sids),
        grace=60,
    )
    yield Deps(
        sessions=sessions,
        store=store,
        hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
        tokens=TokenService("s" * 32, timedelta(hours=1)),
        hub=hub,
        presence=MemoryPresence(),
        limiter=MemoryRateLimiter(),
        metrics=ChatMetrics(),
        users=UserCache(sessions),
        guard=guard,
        refresh_expires_in=timedelta(days=30),
        limits=RateLimits(*(MemoryRateLimiter() for _ in range(8))),
        proxies=TrustedProxies("127.0.0.1"),
    )
    await guard.aclose()
    await hub.aclose()
    await broker.aclose()


async def _send(deps: Deps, room_id: int, author_id: int, text: str) -> int:
    """Store and publish a message, as ``messages.send`` does; its event's seq."""
    result = await deps.store.send(room_id=room_id, author_id=author_id, text=text)
    assert result.event is not None
    ((seq, payload),) = await deps.store.events_after(room_id, result.event.seq - 1, 1)
    await deps.hub.publish_event(room_id, seq, payload)
    return seq


class Collector:
    def __init__(self) -> None:
        self.values: list[Tracked[Any]] = []
        self.changed = asyncio.Event()

    def __call__(self, value: Any) -> None:
        assert isinstance(value, Tracked)
        self.values.append(value)
        self.changed.set()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(TIMEOUT):
            while len(self.values) < count:
                self.changed.clear()
                await self.changed.wait()

    def seqs(self) -> list[int]:
        return [int(value.id) for value in self.values]


async def test_replay_pages_through_the_whole_log_in_order(
    store: ChatStore, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice = await make_user("alice")
    room = await make_room(alice)
    count = EVENT_PAGE * 2
    for i in range(count):
        await store.send(room_id=room.id, author_id=alice.id, text=f"m{i}")
    records = [record async for record in replay(store, room.id, 7)]
    assert [r.seq for r in records] == list(range(8, count + 1))
    assert orjson.loads(records[0].payload)["message"]["text"] == "m7"
    assert [r async for r in replay(store, room.id, count)] == []


async def test_resume_replays_then_goes_live_without_gap_or_duplicate(
    deps: Deps, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice = await make_user("alice")
    room = await make_room(alice)
    stored = EVENT_PAGE + 20
    for i in range(stored):
        await deps.store.send(room_id=room.id, author_id=alice.id, text=f"old {i}")
    listener = await deps.hub.attach(room.id, alice.id, "events")
    await deps.presence.join(room.id, alice.id)
    # Published while the stream has not started yet: both in the log and in the queue.
    await _send(deps, room.id, alice.id, "queued")
    stream = MessageStream(deps, listener, room.id, alice.id, after_seq=5)
    emit = Collector()
    task = asyncio.ensure_future(stream.run(emit))
    await emit.until(stored + 1 - 5)
    for i in range(10):
        await _send(deps, room.id, alice.id, f"live {i}")
    await emit.until(stored + 11 - 5)
    assert emit.seqs() == list(range(6, stored + 12))
    texts = [orjson.loads(orjson.dumps(v.data))["message"]["text"] for v in emit.values]
    assert texts[-1] == "live 9"
    await deps.hub.publish_left(room.id, alice.id)
    await asyncio.wait_for(task, TIMEOUT)  # the stream completes when the user leaves
    assert await deps.presence.leave(room.id, alice.id) is False  # it already left


async def test_without_last_event_id_the_stream_starts_live(
    deps: Deps, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice = await make_user("alice")
    room = await make_room(alice)
    for i in range(3):
        await deps.store.send(room_id=room.id, author_id=alice.id, text=f"old {i}")
    listener = await deps.hub.attach(room.id, alice.id, "events")
    await deps.presence.join(room.id, alice.id)
    emit = Collector()
    task = asyncio.ensure_future(MessageStream(deps, listener, room.id, alice.id, None).run(emit))
    seq = await _send(deps, room.id, alice.id, "new")
    await emit.until(1)
    assert emit.seqs() == [seq] == [4]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert deps.hub.channels == {}  # cancelling released the listener


async def test_a_lagging_stream_catches_up_from_the_log(
    deps: Deps, make_user: MakeUser, make_room: MakeRoom
) -> None:
    """Its queue overflows before the stream runs: it attaches anew and loses nothing."""
    alice = await make_user("alice")
    room = await make_room(alice)
    witness = await deps.hub.attach(room.id, alice.id, "events")
    deps.hub.listener_capacity = 3
    listener = await deps.hub.attach(room.id, alice.id, "events")
    await deps.presence.join(room.id, alice.id)
    for i in range(10):
        await _send(deps, room.id, alice.id, f"m{i}")
    async with asyncio.timeout(TIMEOUT):
        assert len([await anext(witness) for _ in range(10)]) == 10
    with pytest.raises(Lagged):  # what the stream will find in its queue
        listener.follow(lambda record: None).result()
    listener.unfollow()
    emit = Collector()
    task = asyncio.ensure_future(MessageStream(deps, listener, room.id, alice.id, 0).run(emit))
    await emit.until(10)
    await _send(deps, room.id, alice.id, "after")
    await emit.until(11)
    assert emit.seqs() == list(range(1, 12))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_stream_cancelled_after_the_broker_closed_ends_cancelled(
    deps: Deps, make_user: MakeUser, make_room: MakeRoom
) -> None:
    """At shutdown the last leave cannot be published; the stream still ends as it was
    ended (a cancellation), not with the broker's error, which would reach the client."""
    alice = await make_user("alice")
    room = await make_room(alice)
    listener = await deps.hub.attach(room.id, alice.id, "events")
    await deps.presence.join(room.id, alice.id)
    emit = Collector()
    task = asyncio.ensure_future(MessageStream(deps, listener, room.id, alice.id, None).run(emit))
    await _send(deps, room.id, alice.id, "before")
    await emit.until(1)
    await deps.hub.broker.aclose()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await deps.presence.leave(room.id, alice.id) is False  # counted out all the same
