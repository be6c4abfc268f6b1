"""The room hub on its own: a real in-process broker and a real chat store.

Events reach listeners gap-free and once, in ``seq`` order, whatever the broker does:
a jump is filled from the stored log (over several pages), a repeat is dropped. Typing
expires by itself, presence signals coalesce, a full queue ends in ``Lagged``, and a
channel lives exactly as long as it has listeners.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from chat.factories import MakeRoom, MakeUser
from wirechat.broker import MemoryBroker
from wirechat.chat import schemas
from wirechat.chat.errors import NotFound
from wirechat.chat.hub import EventRecord, Lagged, Listener, RoomHub
from wirechat.chat.store import EVENT_PAGE, ChatStore

TIMEOUT = 10


@pytest.fixture
async def hub(store: ChatStore) -> AsyncIterator[RoomHub]:
    broker = MemoryBroker()
    hub = RoomHub(broker, store, typing_ttl=0.05, namespace="t:")
    yield hub
    await hub.aclose()
    await broker.aclose()


async def _room(make_user: MakeUser, make_room: MakeRoom) -> tuple[schemas.User, schemas.Room]:
    alice = await make_user("alice")
    return alice, await make_room(alice)


async def _take(listener: Listener, n: int) -> list[EventRecord | bytes]:
    async def take() -> list[EventRecord | bytes]:
        return [await anext(listener) for _ in range(n)]

    return await asyncio.wait_for(take(), TIMEOUT)


async def _store_events(store: ChatStore, room_id: int, author_id: int, n: int) -> list[bytes]:
    """Store ``n`` messages without publishing them; their events' wire forms."""
    for i in range(n):
        await store.send(room_id=room_id, author_id=author_id, text=f"m{i}")
    return [payload for _, payload in await store.events_after(room_id, 0, n)]


async def test_a_published_event_reaches_every_listener_of_the_room_once(
    hub: RoomHub, store: ChatStore, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, room = await _room(make_user, make_room)
    first = await hub.attach(room.id, alice.id, "events")
    second = await hub.attach(room.id, alice.id, "events")
    typing = await hub.attach(room.id, alice.id, "typing")
    assert (first.start_seq, second.start_seq) == (0, 0)
    (payload,) = await _store_events(store, room.id, alice.id, 1)
    await hub.publish_event(room.id, 1, payload)
    await hub.publish_event(room.id, 1, payload)  # a repeat is dropped
    for listener in (first, second):
        (record,) = await _take(listener, 1)
        assert isinstance(record, EventRecord)
        assert (record.seq, record.payload) == (1, payload)
        assert record.tracked.id == "1"
    await hub.publish_typing(room.id, b'{"user":{"id":1},"isTyping":false}')
    assert await _take(typing, 1) == [b'{"user":{"id":1},"isTyping":false}']
    assert not first._queue  # the repeat was dropped


async def test_a_live_event_reaches_listeners_within_the_publishers_call(
    hub: RoomHub, store: ChatStore, make_user: MakeUser, make_room: MakeRoom
) -> None:
    """An idle channel dispatches an in-order event as it is published: no turn of the
    event loop between storing a message and queueing its frames."""
    alice, room = await _room(make_user, make_room)
    listener = await hub.attach(room.id, alice.id, "events")
    for _ in range(5):
        await asyncio.sleep(0)  # the channel's task reaches its wait for the broker
    (payload,) = await _store_events(store, room.id, alice.id, 1)
    await hub.publish_event(room.id, 1, payload)
    queued = list(listener._queue or ())  # read before anything else may run
    assert [(r.seq, r.payload) for r in queued if isinstance(r, EventRecord)] == [(1, payload)]


async def test_a_jump_in_seq_is_filled_from_the_log_across_pages(
    hub: RoomHub, store: ChatStore, make_user: MakeUser, make_room: MakeRoom
) -> None:
    """More than one page of events stored but not published: the next published event
    brings every one of them, in order, none twice."""
    alice, room = await _room(make_user, make_room)
    listener = await hub.attach(room.id, alice.id, "events")
    count = EVENT_PAGE * 2 + 5
    payloads = await _store_events(store, room.id, alice.id, count)
    await hub.publish_event(room.id, count, payloads[-1])
    await hub.publish_event(room.id, 3, payloads[2])  # late and already filled: dropped
    records = await _take(listener, count)
    assert [r.seq for r in records if isinstance(r, EventRecord)] == list(range(1, count + 1))
    assert [r.payload for r in records if isinstance(r, EventRecord)] == payloads
    await store.send(room_id=room.id, author_id=alice.id, text="next")
    ((seq, payload),) = await store.events_after(room.id, count)
    await hub.publish_event(room.id, seq, payload)
    (record,) = await _take(listener, 1)
    assert isinstance(record, EventRecord)
    assert record.seq == count + 1


async def test_a_listener_attached_later_starts_after_what_the_channel_has_seen(
    hub: RoomHub, store: ChatStore, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, room = await _room(make_user, make_room)
    payloads = await _store_events(store, room.id, alice.id, 3)
    listener = await hub.attach(room.id, alice.id, "events")
    assert listener.start_seq == 3  # the channel starts from the stored log's end
    await hub.publish_event(room.id, 2, payloads[1])  # before this listener: dropped
    await store.send(room_id=room.id, author_id=alice.id, text="four")
    ((seq, payload),) = await store.events_after(room.id, 3)
    await hub.publish_event(room.id, seq, payload)
    (record,) = await _take(listener, 1)
    assert isinstance(record, EventRecord)
    assert record.seq == 4


async def test_a_full_queue_ends_the_listener_with_lagged(
    hub: RoomHub, store: ChatStore, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, room = await _room(make_user, make_room)
    witness = await hub.attach(room.id, alice.id, "events")
    hub.listener_capacity = 5
    slow = await hub.attach(room.id, alice.id, "events")
    count = 6
    payloads = await _store_events(store, room.id, alice.id, count)
    for seq, payload in enumerate(payloads, start=1):
        await hub.publish_event(room.id, seq, payload)
    assert len(await _take(witness, count)) == count  # fanned out to every listener
    with pytest.raises(Lagged):
        await anext(slow)
    fresh = await hub.attach(room.id, alice.id, "events")
    assert fresh.start_seq == count


@pytest.mark.parametrize("left_first", [True, False])
async def test_an_overflow_keeps_a_pending_left_signal(
    hub: RoomHub, store: ChatStore, make_user: MakeUser, make_room: MakeRoom, left_first: bool
) -> None:
    """Issue 11: an overflow must end a user who left as left, not as lagged (a lagged
    stream catches up and attaches again)."""
    alice, room = await _room(make_user, make_room)
    witness = await hub.attach(room.id, alice.id, "events")
    hub.listener_capacity = 3
    slow = await hub.attach(room.id, alice.id, "events")
    payloads = await _store_events(store, room.id, alice.id, 6)
    if left_first:
        await hub.publish_left(room.id, alice.id)
    for seq, payload in enumerate(payloads, start=1):
        await hub.publish_event(room.id, seq, payload)
    if not left_first:
        await hub.publish_left(room.id, alice.id)
    with pytest.raises(StopAsyncIteration):
        for _ in range(10):
            await asyncio.wait_for(anext(slow), TIMEOUT)
    with pytest.raises(StopAsyncIteration):
        for _ in range(10):
            await asyncio.wait_for(anext(witness), TIMEOUT)


async def test_leaving_ends_only_that_users_listeners(
    hub: RoomHub, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, room = await _room(make_user, make_room)
    bob = await make_user("bob")
    gone = await hub.attach(room.id, bob.id, "events")
    stays = await hub.attach(room.id, alice.id, "presence")
    await hub.publish_left(room.id, bob.id)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(gone), TIMEOUT)
    await hub.publish_presence(room.id)
    assert await _take(stays, 1) == [b""]


async def test_presence_signals_coalesce_while_one_is_pending(
    hub: RoomHub, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, room = await _room(make_user, make_room)
    listener = await hub.attach(room.id, alice.id, "presence")
    for _ in range(5):
        await hub.publish_presence(room.id)
    assert await _take(listener, 1) == [b""]
    await hub.publish_presence(room.id)
    assert await _take(listener, 1) == [b""]
    assert not listener._queue


async def test_typing_true_expires_with_a_false_after_the_ttl(
    hub: RoomHub, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, room = await _room(make_user, make_room)
    listener = await hub.attach(room.id, alice.id, "typing")
    event = {"roomId": room.id, "user": {"id": alice.id}, "isTyping": True}
    await hub.publish_typing(room.id, orjson.dumps(event))
    started, expired = await _take(listener, 2)
    assert isinstance(started, bytes)
    assert isinstance(expired, bytes)
    assert orjson.loads(started) == event
    assert orjson.loads(expired) == {**event, "isTyping": False}


async def test_a_channel_lives_as_long_as_its_listeners(
    hub: RoomHub, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, room = await _room(make_user, make_room)
    one = await hub.attach(room.id, alice.id, "events")
    two = await hub.attach(room.id, alice.id, "typing")
    assert set(hub.channels) == {room.id}
    one.close()
    assert set(hub.channels) == {room.id}
    two.close()
    assert hub.channels == {}


async def test_attaching_to_a_room_that_does_not_exist_fails(
    hub: RoomHub, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    with pytest.raises(NotFound):
        await asyncio.wait_for(hub.attach(999_999, alice.id, "events"), TIMEOUT)
    assert hub.channels == {}
