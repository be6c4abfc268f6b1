"""``typing.*``: ephemeral typing indicators, never stored; ``true`` expires after 5 s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import orjson

from wirechat.chat import schemas
from wirechat.chat.context import AuthedContext
from wirechat.chat.hub import Listener
from wirechat.chat.routers.base import authed
from wirechat.rpc import Router, WireType

__all__ = ["typing_router"]

TypingEventWire = Annotated[orjson.Fragment, WireType(schemas.TypingEvent)]
"""A typing event, encoded once by the sender for every subscriber."""


async def set_typing(ctx: AuthedContext, input: schemas.SetTypingInput) -> schemas.Ok:
    d = ctx.deps
    await d.limits.typing.hit(f"typing:{ctx.user_id}:{input.room_id}")
    await d.store.require_member(input.room_id, ctx.user_id)
    user = await d.users.get(ctx.user_id)
    event = {
        "roomId": input.room_id,
        "user": {"id": user.id, "username": user.username, "displayName": user.display_name},
        "isTyping": input.is_typing,
    }
    await d.hub.publish_typing(input.room_id, orjson.dumps(event))
    return schemas.Ok()


async def _typing_events(listener: Listener) -> AsyncIterator[TypingEventWire]:
    try:
        async for payload in listener:
            assert isinstance(payload, bytes)
            yield orjson.Fragment(payload)
    finally:
        listener.close()


async def on_typing(
    ctx: AuthedContext, input: schemas.RoomIdInput
) -> AsyncIterator[TypingEventWire]:
    d = ctx.deps
    await d.store.require_member(input.room_id, ctx.user_id)
    listener = await d.hub.attach(input.room_id, ctx.user_id, "typing")
    return _typing_events(listener)


typing_router = Router(
    {
        "set": authed.input(schemas.SetTypingInput).mutation(set_typing),
        "onTyping": authed.input(schemas.RoomIdInput).subscription(on_typing),
    }
)
