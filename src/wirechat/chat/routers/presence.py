"""``presence.onPresence``: a snapshot of who is online in a room, then one per change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from wirechat.chat import schemas
from wirechat.chat.context import AuthedContext
from wirechat.chat.deps import Deps
from wirechat.chat.errors import Forbidden
from wirechat.chat.hub import Lagged, Listener
from wirechat.chat.routers.base import authed
from wirechat.rpc import Router, WireType

__all__ = ["presence_router"]

PresenceEventWire = Annotated[dict[str, Any], WireType(schemas.PresenceEvent)]
"""A presence snapshot (``online`` holds ``User`` models)."""


async def snapshot(deps: Deps, room_id: int) -> dict[str, Any]:
    ids = await deps.presence.online(room_id)
    return {"roomId": room_id, "online": [await deps.users.get(i) for i in ids]}


async def _presence_events(
    deps: Deps, listener: Listener, room_id: int
) -> AsyncIterator[PresenceEventWire]:
    try:
        last: dict[str, Any] | None = None
        current = await snapshot(deps, room_id)
        while True:
            if current != last:
                yield current
                last = current
            try:
                await anext(listener)
            except StopAsyncIteration:
                return
            except Lagged:
                listener.close()
                # Re-attach only a member: a "left" signal may have gone with the overflow.
                try:
                    await deps.store.require_member(room_id, listener.user_id)
                except Forbidden:
                    return
                listener = await deps.hub.attach(room_id, listener.user_id, "presence")
            current = await snapshot(deps, room_id)
    finally:
        listener.close()


async def on_presence(
    ctx: AuthedContext, input: schemas.RoomIdInput
) -> AsyncIterator[PresenceEventWire]:
    d = ctx.deps
    await d.store.require_member(input.room_id, ctx.user_id)
    listener = await d.hub.attach(input.room_id, ctx.user_id, "presence")
    return _presence_events(d, listener, input.room_id)


presence_router = Router(
    {"onPresence": authed.input(schemas.RoomIdInput).subscription(on_presence)}
)
