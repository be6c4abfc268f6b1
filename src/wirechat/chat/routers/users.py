"""``users.get``."""

from __future__ import annotations

from wirechat.chat import schemas
from wirechat.chat.context import AuthedContext
from wirechat.chat.routers.base import authed
from wirechat.rpc import Router

__all__ = ["users_router"]


async def get(ctx: AuthedContext, input: schemas.GetUserInput) -> schemas.User:
    return await ctx.deps.users.get(input.user_id)


users_router = Router({"get": authed.input(schemas.GetUserInput).query(get)})
