"""The chat store's contract, on both implementations (the direct SQLite connection and
SQL on PostgreSQL): idempotent send, gap-free sequence numbers under concurrency,
edit/delete rules, history pages, and replay that never leaks deleted text."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from chat.factories import MakeRoom, MakeUser
from chat.oracle import count, events
from wirechat.chat import schemas
from wirechat.chat.errors import Forbidden, NotFound
from wirechat.chat.models import Message, RoomEvent
from wirechat.chat.services import rooms
from wirechat.chat.store import ChatStore, StoredEvent, open_store
from wirechat.db.session import SessionFactory, transaction


class TestSend:
    async def test_stores_the_message_and_its_created_event(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice = await make_user("alice")
        room = await make_room(alice)
        result = await store.send(room_id=room.id, author_id=alice.id, text="hi")
        message = result.message
        assert (message.room_id, message.text, message.client_message_id) == (room.id, "hi", None)
        assert message.author == schemas.Author(id=alice.id, username="alice", display_name="alice")
        assert (message.edited_at, message.deleted_at) == (None, None)
        assert result.event == StoredEvent(room.id, 1, "created", message)
        assert result.event.to_schema() == schemas.MessageEvent(type="created", message=message)
        assert await events(sessions, room.id) == [result.event]

    async def test_same_client_message_id_returns_the_first_message_without_a_new_event(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice = await make_user("alice")
        room = await make_room(alice)
        first = await store.send(
            room_id=room.id, author_id=alice.id, text="hi", client_message_id="c1"
        )
        again = await store.send(
            room_id=room.id, author_id=alice.id, text="other", client_message_id="c1"
        )
        assert again.message == first.message
        assert again.event is None
        assert len(await events(sessions, room.id)) == 1

    async def test_find_sent_answers_a_retry_without_sending(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, eve = await make_user("alice"), await make_user("eve")
        room = await make_room(alice)
        ids = {"room_id": room.id, "client_message_id": "c1"}
        assert await store.find_sent(author_id=alice.id, **ids) is None
        sent = await store.send(
            room_id=room.id, author_id=alice.id, text="hi", client_message_id="c1"
        )
        assert await store.find_sent(author_id=alice.id, **ids) == sent.message
        with pytest.raises(Forbidden):
            await store.find_sent(author_id=eve.id, **ids)

    async def test_client_message_ids_are_per_author(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, bob = await make_user("alice"), await make_user("bob")
        room = await make_room(alice, members=[bob])
        a = await store.send(
            room_id=room.id, author_id=alice.id, text="a", client_message_id="same"
        )
        b = await store.send(room_id=room.id, author_id=bob.id, text="b", client_message_id="same")
        assert a.message.id != b.message.id
        assert b.event is not None

    async def test_twenty_concurrent_retries_store_one_message_and_one_event(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice = await make_user("alice")
        room = await make_room(alice)
        results = await asyncio.gather(
            *(
                store.send(
                    room_id=room.id,
                    author_id=alice.id,
                    text="once",
                    client_message_id="retry-me",
                )
                for _ in range(20)
            )
        )
        assert len({r.message for r in results}) == 1
        assert sum(r.event is not None for r in results) == 1
        assert await count(sessions, Message) == 1
        assert await count(sessions, RoomEvent) == 1
        assert await store.last_seq(room.id) == 1

    async def test_sequence_numbers_are_gap_free_and_increasing_under_concurrent_senders(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        users = [await make_user(f"user{i}") for i in range(5)]
        room = await make_room(users[0], members=users[1:])

        async def sender(user: schemas.User) -> list[int]:
            seqs = []
            for n in range(40):
                result = await store.send(
                    room_id=room.id, author_id=user.id, text=f"{user.username} {n}"
                )
                assert result.event is not None
                seqs.append(result.event.seq)
            return seqs

        per_sender = await asyncio.gather(*(sender(user) for user in users))
        for seqs in per_sender:
            assert seqs == sorted(seqs)
        assert sorted(seq for seqs in per_sender for seq in seqs) == list(range(1, 201))
        stored = await events(sessions, room.id)
        assert [e.seq for e in stored] == list(range(1, 201))
        assert await store.last_seq(room.id) == 200
        # Each sender's messages appear in its own sending order.
        for user in users:
            texts = [e.message.text for e in stored if e.message.author.id == user.id]
            assert texts == [f"{user.username} {n}" for n in range(40)]

    async def test_rooms_have_independent_sequences(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice = await make_user("alice")
        one, two = await make_room(alice, "one"), await make_room(alice, "two")
        for room in (one, two, one):
            await store.send(room_id=room.id, author_id=alice.id, text="x")
        assert [e.seq for e in await events(sessions, one.id)] == [1, 2]
        assert [e.seq for e in await events(sessions, two.id)] == [1]

    async def test_non_member_is_forbidden_and_unknown_room_not_found(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, eve = await make_user("alice"), await make_user("eve")
        room = await make_room(alice)
        with pytest.raises(Forbidden):
            await store.send(room_id=room.id, author_id=eve.id, text="hi")
        with pytest.raises(NotFound):
            await store.send(room_id=room.id + 100, author_id=alice.id, text="hi")
        assert await count(sessions, Message) == 0


class TestEditDelete:
    async def test_author_edits_and_an_edited_event_follows(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice = await make_user("alice")
        room = await make_room(alice)
        sent = await store.send(room_id=room.id, author_id=alice.id, text="helo")
        edited = await store.edit(message_id=sent.message.id, user_id=alice.id, text="hello")
        assert edited.message.text == "hello"
        assert edited.message.edited_at is not None
        assert edited.message.created_at == sent.message.created_at
        assert edited.event is not None
        assert (edited.event.seq, edited.event.type) == (2, "edited")

    async def test_edit_refusals(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, bob, eve = [await make_user(n) for n in ("alice", "bob", "eve")]
        room = await make_room(alice, members=[bob])
        mine = (await store.send(room_id=room.id, author_id=bob.id, text="b")).message
        with pytest.raises(Forbidden):  # the room owner is not the author
            await store.edit(message_id=mine.id, user_id=alice.id, text="x")
        with pytest.raises(Forbidden):  # not a member
            await store.edit(message_id=mine.id, user_id=eve.id, text="x")
        with pytest.raises(NotFound):
            await store.edit(message_id=mine.id + 100, user_id=bob.id, text="x")
        await store.delete(message_id=mine.id, user_id=bob.id)
        with pytest.raises(NotFound):  # a deleted message cannot be edited
            await store.edit(message_id=mine.id, user_id=bob.id, text="x")
        await rooms.leave(sessions, room_id=room.id, user_id=bob.id)
        with pytest.raises(Forbidden):
            await store.send(room_id=room.id, author_id=bob.id, text="x")

    async def test_author_and_room_owner_may_delete_others_may_not(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, bob, carol = [await make_user(n) for n in ("alice", "bob", "carol")]
        room = await make_room(alice, members=[bob, carol])
        by_bob = [
            (await store.send(room_id=room.id, author_id=bob.id, text=t)).message
            for t in ("one", "two")
        ]
        with pytest.raises(Forbidden):
            await store.delete(message_id=by_bob[0].id, user_id=carol.id)
        own = await store.delete(message_id=by_bob[0].id, user_id=bob.id)
        by_owner = await store.delete(message_id=by_bob[1].id, user_id=alice.id)
        for result in (own, by_owner):
            assert result.message.text == ""
            assert result.message.deleted_at is not None
            assert result.event is not None
            assert result.event.type == "deleted"
        with pytest.raises(NotFound):
            await store.delete(message_id=999_999, user_id=alice.id)

    async def test_deleting_twice_returns_the_deleted_form_without_a_second_event(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice = await make_user("alice")
        room = await make_room(alice)
        sent = await store.send(room_id=room.id, author_id=alice.id, text="oops")
        first = await store.delete(message_id=sent.message.id, user_id=alice.id)
        second = await store.delete(message_id=sent.message.id, user_id=alice.id)
        assert second.message == first.message
        assert second.event is None
        assert [e.type for e in await events(sessions, room.id)] == ["created", "deleted"]

    async def test_deleted_text_is_erased_from_the_database(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice = await make_user("alice")
        room = await make_room(alice)
        sent = await store.send(room_id=room.id, author_id=alice.id, text="secret")
        await store.delete(message_id=sent.message.id, user_id=alice.id)
        async with transaction(sessions) as session:
            row = await session.get(Message, sent.message.id)
        assert row is not None
        assert row.text == ""

    async def test_concurrent_edits_and_deletes_leave_the_message_deleted_and_seqs_gap_free(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice = await make_user("alice")
        room = await make_room(alice)
        sent = await store.send(room_id=room.id, author_id=alice.id, text="v0")

        async def edit(n: int) -> None:
            with contextlib.suppress(NotFound):  # lost the race to the delete
                await store.edit(message_id=sent.message.id, user_id=alice.id, text=f"v{n}")

        await asyncio.gather(
            *(edit(n) for n in range(1, 6)),
            store.delete(message_id=sent.message.id, user_id=alice.id),
            *(edit(n) for n in range(6, 11)),
        )
        stored = await events(sessions, room.id)
        assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
        assert [e.type for e in stored].count("deleted") == 1
        assert stored[-1].type == "deleted"


class TestEventsAfter:
    async def test_replays_events_after_a_sequence_number_in_order_with_a_limit(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice = await make_user("alice")
        room = await make_room(alice)
        for n in range(5):
            await store.send(room_id=room.id, author_id=alice.id, text=str(n))
        page = await store.events_after(room.id, 1, limit=2)
        assert [(seq, orjson.loads(e)["message"]["text"]) for seq, e in page] == [
            (2, "1"),
            (3, "2"),
        ]
        assert await store.events_after(room.id, 5) == []
        assert await store.events_after(room.id + 100, 0) == []

    async def test_replayed_events_show_the_current_message_never_deleted_text(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice = await make_user("alice")
        room = await make_room(alice)
        sent = await store.send(room_id=room.id, author_id=alice.id, text="secret")
        await store.edit(message_id=sent.message.id, user_id=alice.id, text="still")
        deleted = await store.delete(message_id=sent.message.id, user_id=alice.id)
        replay = await events(sessions, room.id)
        assert [e.type for e in replay] == ["created", "edited", "deleted"]
        for event in replay:
            assert event.message == deleted.message
            assert event.message.text == ""
            assert event.message.deleted_at is not None

    async def test_last_seq_of_a_new_room_is_zero_and_of_no_room_not_found(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        room = await make_room(await make_user("alice"))
        assert await store.last_seq(room.id) == 0
        with pytest.raises(NotFound):
            await store.last_seq(room.id + 100)


class TestHistory:
    async def _fill(
        self, store: ChatStore, make_user: MakeUser, make_room: MakeRoom, n: int
    ) -> tuple[schemas.User, schemas.Room, list[int]]:
        alice = await make_user("alice")
        room = await make_room(alice)
        ids = [
            (await store.send(room_id=room.id, author_id=alice.id, text=str(i))).message.id
            for i in range(n)
        ]
        return alice, room, ids

    async def test_empty_room_has_one_empty_page(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, room, _ = await self._fill(store, make_user, make_room, 0)
        page = orjson.loads(await store.history(room_id=room.id, user_id=alice.id))
        assert (page["items"], page["nextCursor"]) == ([], None)

    @pytest.mark.parametrize(("count", "limit"), [(3, 3), (4, 3), (5, 1), (101, 100), (7, 50)])
    async def test_pages_newest_first_until_the_cursor_is_null(
        self,
        store: ChatStore,
        sessions: SessionFactory,
        make_user: MakeUser,
        make_room: MakeRoom,
        count: int,
        limit: int,
    ) -> None:
        alice, room, ids = await self._fill(store, make_user, make_room, count)
        seen: list[int] = []
        cursor: int | None = None
        pages = 0
        while True:
            page = orjson.loads(
                await store.history(room_id=room.id, user_id=alice.id, cursor=cursor, limit=limit)
            )
            pages += 1
            assert len(page["items"]) <= limit
            seen += [m["id"] for m in page["items"]]
            if page["nextCursor"] is None:
                break
            assert page["nextCursor"] == min(m["id"] for m in page["items"])
            cursor = page["nextCursor"]
        assert seen == ids[::-1]
        assert pages == -(-count // limit)  # exactly limit items: no empty extra page

    async def test_cursor_past_the_end_gives_an_empty_last_page(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, room, ids = await self._fill(store, make_user, make_room, 2)
        page = orjson.loads(await store.history(room_id=room.id, user_id=alice.id, cursor=ids[0]))
        assert (page["items"], page["nextCursor"]) == ([], None)

    async def test_deleted_messages_are_left_out(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, room, ids = await self._fill(store, make_user, make_room, 3)
        await store.delete(message_id=ids[1], user_id=alice.id)
        page = orjson.loads(await store.history(room_id=room.id, user_id=alice.id))
        assert [m["id"] for m in page["items"]] == [ids[2], ids[0]]

    async def test_non_member_is_forbidden_and_unknown_room_not_found(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        _, room, _ = await self._fill(store, make_user, make_room, 1)
        eve = await make_user("eve")
        with pytest.raises(Forbidden):
            await store.history(room_id=room.id, user_id=eve.id)
        with pytest.raises(NotFound):
            await store.history(room_id=room.id + 100, user_id=eve.id)


class TestHistoryPages:
    """Pages kept by a store (``wirechat.chat.store.pages``) are checked against the
    database on every read: a change made through another store (another process, with
    pages of its own) shows at once, and membership is checked before a kept page."""

    async def test_a_page_read_again_is_the_kept_one(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice = await make_user("alice")
        room = await make_room(alice)
        await store.send(room_id=room.id, author_id=alice.id, text="hi")
        first = await store.history(room_id=room.id, user_id=alice.id)
        assert await store.history(room_id=room.id, user_id=alice.id) is first

    async def test_sends_edits_and_deletes_through_another_store_show_in_the_next_page(
        self,
        store: ChatStore,
        engine: AsyncEngine,
        sessions: SessionFactory,
        make_user: MakeUser,
        make_room: MakeRoom,
    ) -> None:
        alice = await make_user("alice")
        room = await make_room(alice)
        other = open_store(engine)
        try:

            async def texts(**page: int) -> list[str]:
                body = await store.history(room_id=room.id, user_id=alice.id, **page)
                return [m["text"] for m in orjson.loads(body)["items"]]

            ids = [
                (await other.send(room_id=room.id, author_id=alice.id, text=t)).message.id
                for t in ("a", "b")
            ]
            assert await texts() == ["b", "a"]
            assert await texts(cursor=ids[1], limit=1) == ["a"]
            await other.send(room_id=room.id, author_id=alice.id, text="c")
            assert await texts() == ["c", "b", "a"]
            await other.edit(message_id=ids[0], user_id=alice.id, text="a2")
            assert await texts() == ["c", "b", "a2"]
            assert await texts(cursor=ids[1], limit=1) == ["a2"]
            await other.delete(message_id=ids[1], user_id=alice.id)
            assert await texts() == ["c", "a2"]
            await other.delete(message_id=ids[0], user_id=alice.id)
            assert await texts(cursor=ids[1], limit=1) == []
        finally:
            await other.aclose()

    async def test_a_member_who_left_is_refused_a_kept_page(
        self, store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, bob = await make_user("alice"), await make_user("bob")
        room = await make_room(alice, members=[bob])
        await store.send(room_id=room.id, author_id=alice.id, text="hi")
        kept = await store.history(room_id=room.id, user_id=bob.id)
        await rooms.leave(sessions, room_id=room.id, user_id=bob.id)
        with pytest.raises(Forbidden):
            await store.history(room_id=room.id, user_id=bob.id)
        assert await store.history(room_id=room.id, user_id=alice.id) == kept

    async def test_no_page_is_kept_when_the_cache_holds_none(
        self, engine: AsyncEngine, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice = await make_user("alice")
        room = await make_room(alice)
        uncached = open_store(engine, history_bytes=0)
        try:
            await uncached.send(room_id=room.id, author_id=alice.id, text="hi")
            first = await uncached.history(room_id=room.id, user_id=alice.id)
            again = await uncached.history(room_id=room.id, user_id=alice.id)
            assert again == first
            assert again is not first
        finally:
            await uncached.aclose()


async def test_history_items_have_exactly_the_wire_shape_of_a_message(
    store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
) -> None:
    """The fast path of messages.list must serialize like the pydantic Message."""
    alice = await make_user("alice")
    room = await make_room(alice)
    sent = await store.send(room_id=room.id, author_id=alice.id, text="hi", client_message_id="c-1")
    edited = await store.edit(message_id=sent.message.id, user_id=alice.id, text="hi again")
    page = orjson.loads(await store.history(room_id=room.id, user_id=alice.id))
    assert page["items"] == [edited.message.model_dump(mode="json", by_alias=True)]


async def test_fast_replay_matches_the_stored_events_exactly(
    store: ChatStore, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
) -> None:
    """The wire form used to resume streams equals the pydantic MessageEvent, deleted
    text included (it never shows)."""
    alice = await make_user("alice")
    room = await make_room(alice)
    one = await store.send(room_id=room.id, author_id=alice.id, text="one")
    await store.send(room_id=room.id, author_id=alice.id, text="two", client_message_id="c")
    await store.edit(message_id=one.message.id, user_id=alice.id, text="uno")
    await store.delete(message_id=one.message.id, user_id=alice.id)
    expected = [
        (e.seq, e.to_schema().model_dump(mode="json", by_alias=True))
        for e in await events(sessions, room.id)
    ]
    fast = [(seq, orjson.loads(payload)) for seq, payload in await store.events_after(room.id, 0)]
    assert fast == expected
    assert [seq for seq, _ in fast] == [1, 2, 3, 4]
    assert fast[0][1]["message"]["text"] == ""
    assert await store.events_after(room.id, 2, limit=1) == [(3, orjson.dumps(fast[2][1]))]
