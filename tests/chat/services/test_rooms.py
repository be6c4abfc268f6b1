"""Rooms and membership: create, direct rooms, listing, join/leave/add, permissions."""

from __future__ import annotations

import asyncio

import pytest

from chat.factories import MakeRoom, MakeUser
from wirechat.chat.errors import Forbidden, NotFound, ValidationFailed
from wirechat.chat.services import rooms
from wirechat.db.session import SessionFactory, transaction


class TestCreate:
    async def test_owner_becomes_the_first_member(
        self, sessions: SessionFactory, make_user: MakeUser
    ) -> None:
        alice = await make_user("alice")
        room = await rooms.create(sessions, owner_id=alice.id, name="general")
        assert (room.name, room.owner_id, room.member_count) == ("general", alice.id, 1)
        assert (room.is_private, room.is_direct) == (False, False)
        assert await rooms.members(sessions, room_id=room.id, user_id=alice.id) == [alice]

    async def test_member_ids_are_added_once_ignoring_the_owner_and_duplicates(
        self, sessions: SessionFactory, make_user: MakeUser
    ) -> None:
        alice, bob, carol = [await make_user(n) for n in ("alice", "bob", "carol")]
        room = await rooms.create(
            sessions,
            owner_id=alice.id,
            name="team",
            is_private=True,
            member_ids=[bob.id, alice.id, carol.id, bob.id],
        )
        assert room.member_count == 3
        assert room.is_private
        members = await rooms.members(sessions, room_id=room.id, user_id=carol.id)
        assert {m.id for m in members} == {alice.id, bob.id, carol.id}

    async def test_unknown_member_id_fails_naming_its_position_and_creates_nothing(
        self, sessions: SessionFactory, make_user: MakeUser
    ) -> None:
        alice, bob = await make_user("alice"), await make_user("bob")
        with pytest.raises(ValidationFailed) as info:
            await rooms.create(
                sessions, owner_id=alice.id, name="r", member_ids=[bob.id, bob.id + 100]
            )
        assert info.value.path == ("memberIds", 1)
        assert await rooms.list_for_user(sessions, alice.id) == []


class TestOpenDirect:
    async def test_returns_a_private_direct_room_with_both_users(
        self, sessions: SessionFactory, make_user: MakeUser
    ) -> None:
        alice, bob = await make_user("alice"), await make_user("bob")
        room = await rooms.open_direct(sessions, user_id=bob.id, other_id=alice.id)
        assert (room.is_private, room.is_direct, room.member_count) == (True, True, 2)
        assert room.name == "alice, bob"

    async def test_returns_the_same_room_every_call_in_either_order(
        self, sessions: SessionFactory, make_user: MakeUser
    ) -> None:
        alice, bob = await make_user("alice"), await make_user("bob")
        first = await rooms.open_direct(sessions, user_id=alice.id, other_id=bob.id)
        assert await rooms.open_direct(sessions, user_id=alice.id, other_id=bob.id) == first
        assert await rooms.open_direct(sessions, user_id=bob.id, other_id=alice.id) == first

    async def test_returns_one_room_under_concurrent_calls(
        self, sessions: SessionFactory, make_user: MakeUser
    ) -> None:
        alice, bob = await make_user("alice"), await make_user("bob")
        results = await asyncio.gather(
            *(
                rooms.open_direct(sessions, user_id=a.id, other_id=b.id)
                for a, b in [(alice, bob), (bob, alice)] * 10
            )
        )
        assert len({room.id for room in results}) == 1
        assert all(room.member_count == 2 for room in results)

    async def test_does_not_bring_back_a_user_who_left_until_they_open_it(
        self, sessions: SessionFactory, make_user: MakeUser
    ) -> None:
        alice, bob = await make_user("alice"), await make_user("bob")
        room = await rooms.open_direct(sessions, user_id=alice.id, other_id=bob.id)
        await rooms.leave(sessions, room_id=room.id, user_id=bob.id)
        again = await rooms.open_direct(sessions, user_id=alice.id, other_id=bob.id)
        assert (again.id, again.member_count) == (room.id, 1)
        back = await rooms.open_direct(sessions, user_id=bob.id, other_id=alice.id)
        assert (back.id, back.member_count) == (room.id, 2)

    async def test_with_yourself_is_a_validation_error(
        self, sessions: SessionFactory, make_user: MakeUser
    ) -> None:
        alice = await make_user("alice")
        with pytest.raises(ValidationFailed) as info:
            await rooms.open_direct(sessions, user_id=alice.id, other_id=alice.id)
        assert info.value.path == ("userId",)

    async def test_with_an_unknown_user_is_not_found(
        self, sessions: SessionFactory, make_user: MakeUser
    ) -> None:
        alice = await make_user("alice")
        with pytest.raises(NotFound):
            await rooms.open_direct(sessions, user_id=alice.id, other_id=alice.id + 100)

    def test_direct_key_ignores_order(self) -> None:
        assert rooms.direct_key(7, 3) == rooms.direct_key(3, 7) == "3:7"


class TestListing:
    async def test_list_for_user_returns_only_their_rooms_with_member_counts(
        self, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, bob = await make_user("alice"), await make_user("bob")
        mine = await make_room(alice, "mine", members=[bob])
        await make_room(bob, "theirs")
        secret = await make_room(alice, "secret", is_private=True)
        listed = await rooms.list_for_user(sessions, alice.id)
        assert [(r.id, r.member_count) for r in listed] == [(mine.id, 2), (secret.id, 1)]

    async def test_list_public_on_an_empty_database(self, sessions: SessionFactory) -> None:
        page = await rooms.list_public(sessions)
        assert (page.items, page.next_cursor) == ([], None)

    async def test_list_public_leaves_out_private_and_direct_rooms(
        self, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, bob = await make_user("alice"), await make_user("bob")
        public = await make_room(alice, "public", members=[bob])
        await make_room(alice, "private", is_private=True)
        await rooms.open_direct(sessions, user_id=alice.id, other_id=bob.id)
        page = await rooms.list_public(sessions)
        assert [(r.id, r.member_count) for r in page.items] == [(public.id, 2)]
        assert page.next_cursor is None

    @pytest.mark.parametrize(("count", "limit"), [(3, 3), (4, 3), (5, 1), (101, 100)])
    async def test_list_public_pages_by_id_until_the_cursor_is_null(
        self,
        sessions: SessionFactory,
        make_user: MakeUser,
        make_room: MakeRoom,
        count: int,
        limit: int,
    ) -> None:
        alice = await make_user("alice")
        created = [(await make_room(alice, f"room {i}")).id for i in range(count)]
        seen: list[int] = []
        cursor: int | None = None
        pages = 0
        while True:
            page = await rooms.list_public(sessions, cursor=cursor, limit=limit)
            pages += 1
            assert len(page.items) <= limit
            seen += [room.id for room in page.items]
            if page.next_cursor is None:
                break
            assert page.next_cursor == page.items[-1].id
            cursor = page.next_cursor
        assert seen == created
        assert pages == -(-count // limit)  # exactly limit items: no empty extra page

    async def test_list_public_with_a_cursor_past_the_end_is_empty(
        self, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        room = await make_room(await make_user("alice"))
        page = await rooms.list_public(sessions, cursor=room.id)
        assert (page.items, page.next_cursor) == ([], None)


class TestJoinLeaveAdd:
    async def test_join_a_public_room_is_idempotent(
        self, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, bob = await make_user("alice"), await make_user("bob")
        room = await make_room(alice)
        joined = await rooms.join(sessions, room_id=room.id, user_id=bob.id)
        assert joined.member_count == 2
        assert await rooms.join(sessions, room_id=room.id, user_id=bob.id) == joined

    async def test_concurrent_joins_by_one_user_add_one_membership(
        self, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, bob = await make_user("alice"), await make_user("bob")
        room = await make_room(alice)
        results = await asyncio.gather(
            *(rooms.join(sessions, room_id=room.id, user_id=bob.id) for _ in range(10))
        )
        assert {r.member_count for r in results} == {2}

    async def test_join_a_private_or_direct_room_is_forbidden(
        self, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, bob, eve = [await make_user(n) for n in ("alice", "bob", "eve")]
        private = await make_room(alice, is_private=True)
        direct = await rooms.open_direct(sessions, user_id=alice.id, other_id=bob.id)
        for room in (private, direct):
            with pytest.raises(Forbidden):
                await rooms.join(sessions, room_id=room.id, user_id=eve.id)
        # A member "joining" their own private room changes nothing.
        assert await rooms.join(sessions, room_id=private.id, user_id=alice.id) == private

    async def test_join_an_unknown_room_is_not_found(
        self, sessions: SessionFactory, make_user: MakeUser
    ) -> None:
        with pytest.raises(NotFound):
            await rooms.join(sessions, room_id=12345, user_id=(await make_user("bob")).id)

    async def test_leave_then_membership_checks_fail(
        self, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, bob = await make_user("alice"), await make_user("bob")
        room = await make_room(alice, members=[bob])
        assert (await rooms.leave(sessions, room_id=room.id, user_id=bob.id)).ok is True
        with pytest.raises(Forbidden):
            await rooms.members(sessions, room_id=room.id, user_id=bob.id)
        with pytest.raises(Forbidden):
            await rooms.leave(sessions, room_id=room.id, user_id=bob.id)
        with pytest.raises(NotFound):
            await rooms.leave(sessions, room_id=room.id + 100, user_id=bob.id)

    async def test_owner_adds_members_idempotently(
        self, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, bob = await make_user("alice"), await make_user("bob")
        room = await make_room(alice, is_private=True)
        added = await rooms.add_member(sessions, room_id=room.id, actor_id=alice.id, user_id=bob.id)
        assert added.member_count == 2
        again = await rooms.add_member(sessions, room_id=room.id, actor_id=alice.id, user_id=bob.id)
        assert again == added

    async def test_add_member_refusals(
        self, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, bob, carol, eve = [await make_user(n) for n in ("alice", "bob", "carol", "eve")]
        room = await make_room(alice, members=[bob])
        direct = await rooms.open_direct(sessions, user_id=alice.id, other_id=bob.id)
        cases = [
            (room.id + 100, alice.id, carol.id, NotFound),  # no such room
            (room.id, eve.id, carol.id, Forbidden),  # not a member
            (room.id, bob.id, carol.id, Forbidden),  # member, not owner
            (direct.id, alice.id, carol.id, Forbidden),  # direct room
            (room.id, alice.id, eve.id + 100, NotFound),  # no such user
        ]
        for room_id, actor_id, user_id, error in cases:
            with pytest.raises(error):
                await rooms.add_member(
                    sessions, room_id=room_id, actor_id=actor_id, user_id=user_id
                )

    async def test_owner_who_left_keeps_ownership_but_must_rejoin_to_use_it(
        self, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, bob, carol = [await make_user(n) for n in ("alice", "bob", "carol")]
        room = await make_room(alice, members=[bob])
        await rooms.leave(sessions, room_id=room.id, user_id=alice.id)
        with pytest.raises(Forbidden):
            await rooms.add_member(sessions, room_id=room.id, actor_id=alice.id, user_id=carol.id)
        await rooms.join(sessions, room_id=room.id, user_id=alice.id)
        added = await rooms.add_member(
            sessions, room_id=room.id, actor_id=alice.id, user_id=carol.id
        )
        assert (added.owner_id, added.member_count) == (alice.id, 3)


class TestMembershipChecks:
    async def test_require_member_tells_missing_room_from_non_member(
        self, sessions: SessionFactory, make_user: MakeUser, make_room: MakeRoom
    ) -> None:
        alice, eve = await make_user("alice"), await make_user("eve")
        room = await make_room(alice)
        async with transaction(sessions) as session:
            assert (await rooms.require_member(session, room.id, alice.id)).id == room.id
            with pytest.raises(Forbidden):
                await rooms.require_member(session, room.id, eve.id)
            with pytest.raises(NotFound):
                await rooms.require_member(session, room.id + 100, alice.id)
            assert await rooms.is_member(session, room.id, alice.id)
            assert not await rooms.is_member(session, room.id, eve.id)
            assert not await rooms.is_member(session, room.id + 100, alice.id)

    async def test_members_of_an_unknown_room_is_not_found(
        self, sessions: SessionFactory, make_user: MakeUser
    ) -> None:
        with pytest.raises(NotFound):
            await rooms.members(sessions, room_id=999, user_id=(await make_user("alice")).id)
