"""Rooms and membership (``rooms.*``), and the membership checks every call relies on.

Permission order everywhere: a room that does not exist is :class:`NotFound`; a room
the caller is not in is :class:`Forbidden` and nothing else about it is revealed
(docs/api.md "Membership").
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ScalarSelect, and_, delete, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wirechat.chat import schemas
from wirechat.chat.errors import Forbidden, NotFound, ValidationFailed
from wirechat.chat.models import Room, RoomMember, User, utc_now
from wirechat.chat.services.outputs import room_out, user_out
from wirechat.chat.store.sql import run
from wirechat.chat.store.transactions import membership
from wirechat.db.session import SessionFactory, retry_on_conflict, transaction

__all__ = [
    "add_member",
    "create",
    "direct_key",
    "is_member",
    "join",
    "leave",
    "list_for_user",
    "list_public",
    "members",
    "open_direct",
    "remove_member",
    "require_member",
]


def _member_count() -> ScalarSelect[int]:
    return (
        select(func.count())
        .select_from(RoomMember)
        .where(RoomMember.room_id == Room.id)
        .correlate(Room)
        .scalar_subquery()
    )


def direct_key(user_a: int, user_b: int) -> str:
    """The ``rooms.direct_key`` of the direct room between two users, in either order."""
    low, high = sorted((user_a, user_b))
    return f"{low}:{high}"


async def require_member(session: AsyncSession, room_id: int, user_id: int) -> Room:
    """Return the room if ``user_id`` is a member, inside the caller's transaction.

    The same check as the chat store's (:func:`wirechat.chat.store.transactions.membership`).

    Raises:
        NotFound: the room does not exist.
        Forbidden: it exists but the user is not a member.
    """
    await run(await session.connection(), membership(room_id, user_id))
    room = await session.get(Room, room_id)
    if room is None:  # pragma: no cover - the check above just read it
        raise NotFound("room")
    return room


async def is_member(session: AsyncSession, room_id: int, user_id: int) -> bool:
    """Return whether ``user_id`` is a member of ``room_id`` (False if no such room)."""
    try:
        await run(await session.connection(), membership(room_id, user_id))
    except (NotFound, Forbidden):
        return False
    return True


async def _room_with_count(session: AsyncSession, room: Room) -> schemas.Room:
    count = await session.scalar(
        select(func.count()).select_from(RoomMember).where(RoomMember.room_id == room.id)
    )
    return room_out(room, count or 0)


async def create(
    sessions: SessionFactory,
    *,
    owner_id: int,
    name: str,
    is_private: bool = False,
    member_ids: Iterable[int] = (),
) -> schemas.Room:
    """Create a room owned by ``owner_id``, who becomes its first member (``rooms.create``).

    ``member_ids`` are added too; duplicates and the owner's own id are ignored.

    Raises:
        ValidationFailed: an id in ``member_ids`` is not a user (path ``memberIds.<i>``).
    """
    ids = list(member_ids)
    others = list(dict.fromkeys(i for i in ids if i != owner_id))
    async with transaction(sessions, write=True) as session:
        if others:
            found = set(await session.scalars(select(User.id).where(User.id.in_(others))))
            for index, user_id in enumerate(ids):
                if user_id != owner_id and user_id not in found:
                    raise ValidationFailed(("memberIds", index), f"user {user_id} does not exist")
        now = utc_now()
        room = Room(
            name=name,
            is_private=is_private,
            is_direct=False,
            owner_id=owner_id,
            created_at=now,
            last_seq=0,
        )
        session.add(room)
        await session.flush()
        session.add_all(
            RoomMember(room_id=room.id, user_id=user_id, joined_at=now)
            for user_id in [owner_id, *others]
        )
    return room_out(room, 1 + len(others))


async def open_direct(sessions: SessionFactory, *, user_id: int, other_id: int) -> schemas.Room:
    """Return the direct room of two users, creating it on first use (``rooms.openDirect``).

    Every call, in either order and concurrently, returns the same room: the unique
    ``direct_key`` lets one creation win and the others retry and find it. Creating it
    makes both users members. Afterwards a call re-adds only the caller: a user who
    left stays out (and stops receiving the conversation) until they open it again
    themselves; the other side's messages meanwhile reach nobody else. The room is
    private; its owner is whoever opened it first (which gives no say over the other's
    messages); its name lists both usernames by user id order.

    Raises:
        ValidationFailed: ``other_id`` is the caller (a direct room has two members).
        NotFound: ``other_id`` is not a user.
    """
    if user_id == other_id:
        raise ValidationFailed(("userId",), "cannot open a direct room with yourself")
    key = direct_key(user_id, other_id)

    async def attempt() -> schemas.Room:
        async with transaction(sessions, write=True) as session:
            now = utc_now()
            room = await session.scalar(select(Room).where(Room.direct_key == key))
            if room is None:
                users = {
                    user.id: user
                    for user in await session.scalars(
                        select(User).where(User.id.in_([user_id, other_id]))
                    )
                }
                if other_id not in users:
                    raise NotFound("user")
                low, high = sorted((user_id, other_id))
                room = Room(
                    name=f"{users[low].username}, {users[high].username}",
                    is_private=True,
                    is_direct=True,
                    owner_id=user_id,
                    created_at=now,
                    last_seq=0,
                    direct_key=key,
                )
                session.add(room)
                await session.flush()
                session.add_all(
                    RoomMember(room_id=room.id, user_id=member, joined_at=now)
                    for member in (user_id, other_id)
                )
                await session.flush()
                return room_out(room, 2)
            present = set(
                await session.scalars(
                    select(RoomMember.user_id).where(RoomMember.room_id == room.id)
                )
            )
            if user_id not in present:
                session.add(RoomMember(room_id=room.id, user_id=user_id, joined_at=now))
                await session.flush()
                present.add(user_id)
        return room_out(room, len(present))

    return await retry_on_conflict(attempt)


async def list_for_user(sessions: SessionFactory, user_id: int) -> list[schemas.Room]:
    """Rooms ``user_id`` belongs to, by id ascending (``rooms.list``)."""
    async with transaction(sessions) as session:
        rows = await session.execute(
            select(Room, _member_count())
            .join(RoomMember, and_(RoomMember.room_id == Room.id, RoomMember.user_id == user_id))
            .order_by(Room.id)
        )
        return [room_out(room, count) for room, count in rows]


async def list_public(
    sessions: SessionFactory, *, cursor: int | None = None, limit: int = 50
) -> schemas.Page[schemas.Room]:
    """One page of public rooms by id ascending (``rooms.listPublic``).

    ``cursor`` is the ``nextCursor`` of the previous page (the last id it held);
    ``nextCursor`` is null when no room follows this page.
    """
    query = select(Room, _member_count()).where(Room.is_private == false())
    if cursor is not None:
        query = query.where(Room.id > cursor)
    async with transaction(sessions) as session:
        rows = (await session.execute(query.order_by(Room.id).limit(limit + 1))).all()
    items = [room_out(room, count) for room, count in rows[:limit]]
    return schemas.Page[schemas.Room](
        items=items, next_cursor=items[-1].id if len(rows) > limit else None
    )


async def join(sessions: SessionFactory, *, room_id: int, user_id: int) -> schemas.Room:
    """Join a public room; joining a room one is already in changes nothing (``rooms.join``).

    Raises:
        NotFound: no such room.
        Forbidden: the room is private or direct and the user is not in it.
    """

    async def attempt() -> schemas.Room:
        async with transaction(sessions, write=True) as session:
            room = await session.get(Room, room_id)
            if room is None:
                raise NotFound("room")
            if not await is_member(session, room_id, user_id):
                if room.is_private or room.is_direct:
                    raise Forbidden("this room is private; ask its owner to add you")
                session.add(RoomMember(room_id=room_id, user_id=user_id, joined_at=utc_now()))
                await session.flush()
            return await _room_with_count(session, room)

    # Two concurrent joins by one user: the second insert loses and its retry sees the row.
    return await retry_on_conflict(attempt)


async def leave(sessions: SessionFactory, *, room_id: int, user_id: int) -> schemas.Ok:
    """Leave a room (``rooms.leave``). The owner may leave too and keeps ownership.

    Raises:
        NotFound: no such room.
        Forbidden: the user is not a member.
    """
    async with transaction(sessions, write=True) as session:
        await require_member(session, room_id, user_id)
        await session.execute(
            delete(RoomMember).where(RoomMember.room_id == room_id, RoomMember.user_id == user_id)
        )
    return schemas.Ok()


async def add_member(
    sessions: SessionFactory, *, room_id: int, actor_id: int, user_id: int
) -> schemas.Room:
    """Add ``user_id`` to a room owned by ``actor_id``; idempotent (``rooms.addMember``).

    The owner must currently be a member: an owner who left has no say until back.

    Raises:
        NotFound: no such room, or no such user to add.
        Forbidden: the caller is not a member, not the owner, or the room is direct.
    """

    async def attempt() -> schemas.Room:
        async with transaction(sessions, write=True) as session:
            room = await require_member(session, room_id, actor_id)
            if room.owner_id != actor_id:
                raise Forbidden("only the room owner can add members")
            if room.is_direct:
                raise Forbidden("members cannot be added to a direct room")
            if await session.get(User, user_id) is None:
                raise NotFound("user")
            if not await is_member(session, room_id, user_id):
                session.add(RoomMember(room_id=room_id, user_id=user_id, joined_at=utc_now()))
                await session.flush()
            return await _room_with_count(session, room)

    return await retry_on_conflict(attempt)


async def remove_member(
    sessions: SessionFactory, *, room_id: int, actor_id: int, user_id: int
) -> schemas.Room:
    """Remove ``user_id`` from a room owned by ``actor_id`` (``rooms.removeMember``).

    The caller must end the removed user's streams of the room, as for a leave.

    Raises:
        NotFound: no such room.
        Forbidden: the caller is not a member, or not the owner.
        ValidationFailed: the room is direct, ``user_id`` is the owner, or not a member.
    """
    async with transaction(sessions, write=True) as session:
        room = await require_member(session, room_id, actor_id)
        if room.owner_id != actor_id:
            raise Forbidden("only the room owner can remove members")
        if room.is_direct:
            raise ValidationFailed(("roomId",), "members cannot be removed from a direct room")
        if user_id == room.owner_id:
            raise ValidationFailed(("userId",), "the owner cannot be removed")
        removed = await session.execute(
            delete(RoomMember).where(RoomMember.room_id == room_id, RoomMember.user_id == user_id)
        )
        if removed.rowcount != 1:  # type: ignore[attr-defined]
            raise ValidationFailed(("userId",), "this user is not a member of the room")
        return await _room_with_count(session, room)


async def members(sessions: SessionFactory, *, room_id: int, user_id: int) -> list[schemas.User]:
    """The members of a room, in joining order (``rooms.members``).

    Raises:
        NotFound: no such room.
        Forbidden: ``user_id`` is not a member.
    """
    async with transaction(sessions) as session:
        await require_member(session, room_id, user_id)
        users = await session.scalars(
            select(User)
            .join(RoomMember, RoomMember.user_id == User.id)
            .where(RoomMember.room_id == room_id)
            .order_by(RoomMember.joined_at, User.id)
        )
        return [user_out(user) for user in users]
