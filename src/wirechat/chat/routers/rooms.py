"""``rooms.*``: create, direct rooms, listing, joining, leaving, members, removal."""

from __future__ import annotations

from wirechat.chat import schemas
from wirechat.chat.context import AuthedContext
from wirechat.chat.routers.base import authed
from wirechat.chat.services import rooms
from wirechat.rpc import Router

__all__ = ["rooms_router"]


async def create(ctx: AuthedContext, input: schemas.CreateRoomInput) -> schemas.Room:
    await ctx.deps.limits.rooms.hit(f"rooms:{ctx.user_id}")
    return await rooms.create(
        ctx.deps.sessions,
        owner_id=ctx.user_id,
        name=input.name,
        is_private=input.is_private,
        member_ids=input.member_ids,
    )


async def open_direct(ctx: AuthedContext, input: schemas.OpenDirectInput) -> schemas.Room:
    await ctx.deps.limits.rooms.hit(f"rooms:{ctx.user_id}")
    return await rooms.open_direct(ctx.deps.sessions, user_id=ctx.user_id, other_id=input.user_id)


async def list_mine(ctx: AuthedContext, input: None) -> list[schemas.Room]:
    return await rooms.list_for_user(ctx.deps.sessions, ctx.user_id)


async def list_public(
    ctx: AuthedContext, input: schemas.ListPublicRoomsInput | None
) -> schemas.Page[schemas.Room]:
    page = input or schemas.ListPublicRoomsInput()
    return await rooms.list_public(ctx.deps.sessions, cursor=page.cursor, limit=page.limit)


async def join(ctx: AuthedContext, input: schemas.RoomIdInput) -> schemas.Room:
    await ctx.deps.limits.rooms.hit(f"rooms:{ctx.user_id}")
    return await rooms.join(ctx.deps.sessions, room_id=input.room_id, user_id=ctx.user_id)


async def leave(ctx: AuthedContext, input: schemas.RoomIdInput) -> schemas.Ok:
    await ctx.deps.limits.rooms.hit(f"rooms:{ctx.user_id}")
    result = await rooms.leave(ctx.deps.sessions, room_id=input.room_id, user_id=ctx.user_id)
    # End this user's streams of the room on every process (docs/api.md "Membership").
    await ctx.deps.hub.publish_left(input.room_id, ctx.user_id)
    return result


async def add_member(ctx: AuthedContext, input: schemas.AddMemberInput) -> schemas.Room:
    await ctx.deps.limits.rooms.hit(f"rooms:{ctx.user_id}")
    return await rooms.add_member(
        ctx.deps.sessions, room_id=input.room_id, actor_id=ctx.user_id, user_id=input.user_id
    )


async def remove_member(ctx: AuthedContext, input: schemas.RemoveMemberInput) -> schemas.Room:
    room = await rooms.remove_member(
        ctx.deps.sessions, room_id=input.room_id, actor_id=ctx.user_id, user_id=input.user_id
    )
    # The removed user's streams of the room end on every process, as after a leave.
    await ctx.deps.hub.publish_left(input.room_id, input.user_id)
    return room


async def members(ctx: AuthedContext, input: schemas.RoomIdInput) -> list[schemas.User]:
    return await rooms.members(ctx.deps.sessions, room_id=input.room_id, user_id=ctx.user_id)


rooms_router = Router(
    {
        "create": authed.input(schemas.CreateRoomInput).mutation(create),
        "openDirect": authed.input(schemas.OpenDirectInput).mutation(open_direct),
        "list": authed.query(list_mine),
        "listPublic": authed.input(schemas.ListPublicRoomsInput | None).query(list_public),
        "join": authed.input(schemas.RoomIdInput).mutation(join),
        "leave": authed.input(schemas.RoomIdInput).mutation(leave),
        "addMember": authed.input(schemas.AddMemberInput).mutation(add_member),
        "members": authed.input(schemas.RoomIdInput).query(members),
        "removeMember": authed.input(schemas.RemoveMemberInput).mutation(remove_member),
    }
)
