"""``messages.*``: send, history, edit, delete and the resumable ``onMessage`` stream."""

from __future__ import annotations

from typing import Annotated

import orjson

from wirechat.chat import schemas
from wirechat.chat.context import AuthedContext
from wirechat.chat.deps import Deps
from wirechat.chat.routers.base import authed
from wirechat.chat.store import MessageResult
from wirechat.chat.stream import MessageStream
from wirechat.rpc import PushSource, Router, Tracked, WireType
from wirechat.rpc.codec import dumps

__all__ = ["messages_router"]

# What the fast paths send, for the TypeScript generator (the same JSON as the models).
MessagePageWire = Annotated[orjson.Fragment, WireType(schemas.MessagePage)]
MessageEventWire = Annotated[orjson.Fragment, WireType(schemas.MessageEvent)]
MessageWire = Annotated[orjson.Fragment, WireType(schemas.Message)]


async def _publish(deps: Deps, result: MessageResult) -> MessageWire:
    """Publish ``result``'s event, if any, and answer with its message: encoded once
    for both, since a send's answer and its event carry the same message."""
    message = orjson.Fragment(dumps(result.message))
    event = result.event
    if event is not None:
        payload = orjson.dumps({"type": event.type, "message": message})
        await deps.hub.publish_event(event.room_id, event.seq, payload)
    return message


async def send(ctx: AuthedContext, input: schemas.SendMessageInput) -> MessageWire:
    d = ctx.deps
    if input.client_message_id is not None:
        # A retry must get the stored message back, not TOO_MANY_REQUESTS.
        stored = await d.store.find_sent(
            room_id=input.room_id,
            author_id=ctx.user_id,
            client_message_id=input.client_message_id,
        )
        if stored is not None:
            return orjson.Fragment(dumps(stored))
    await d.limiter.hit(f"send:{ctx.user_id}")
    result = await d.store.send(
        room_id=input.room_id,
        author_id=ctx.user_id,
        text=input.text,
        client_message_id=input.client_message_id,
    )
    return await _publish(d, result)


async def list_(ctx: AuthedContext, input: schemas.ListMessagesInput) -> MessagePageWire:
    page = await ctx.deps.store.history(
        room_id=input.room_id, user_id=ctx.user_id, cursor=input.cursor, limit=input.limit
    )
    return orjson.Fragment(page)


async def edit(ctx: AuthedContext, input: schemas.EditMessageInput) -> MessageWire:
    await ctx.deps.limits.edits.hit(f"edit:{ctx.user_id}")
    result = await ctx.deps.store.edit(
        message_id=input.message_id, user_id=ctx.user_id, text=input.text
    )
    return await _publish(ctx.deps, result)


async def delete(ctx: AuthedContext, input: schemas.DeleteMessageInput) -> MessageWire:
    await ctx.deps.limits.edits.hit(f"edit:{ctx.user_id}")
    result = await ctx.deps.store.delete(message_id=input.message_id, user_id=ctx.user_id)
    return await _publish(ctx.deps, result)


async def on_message(
    ctx: AuthedContext, input: schemas.OnMessageInput
) -> PushSource[Tracked[MessageEventWire]]:
    """Set up before ``started`` is sent: membership checked, listener attached,
    presence counted; the replay and live events follow in the stream."""
    d = ctx.deps
    await d.store.require_member(input.room_id, ctx.user_id)
    listener = await d.hub.attach(input.room_id, ctx.user_id, "events")
    try:
        # join() counts the stream before its first await, so leave() below matches it.
        if await d.presence.join(input.room_id, ctx.user_id):
            await d.hub.publish_presence(input.room_id)
    except BaseException:
        # Stopped (or failed) during set-up: the stream that would clean up never runs.
        listener.close()
        await d.presence.leave(input.room_id, ctx.user_id)
        raise
    return MessageStream(d, listener, input.room_id, ctx.user_id, input.after_seq)


messages_router = Router(
    {
        "send": authed.input(schemas.SendMessageInput).mutation(send),
        "list": authed.input(schemas.ListMessagesInput).query(list_),
        "edit": authed.input(schemas.EditMessageInput).mutation(edit),
        "delete": authed.input(schemas.DeleteMessageInput).mutation(delete),
        "onMessage": authed.input(schemas.OnMessageInput).subscription(on_message),
    }
)
