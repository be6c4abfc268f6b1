"""``auth.*``: register, log in, who am I."""

from __future__ import annotations

from wirechat.chat import schemas
from wirechat.chat.context import AuthedContext, Context
from wirechat.chat.routers.base import authed, public
from wirechat.chat.services import accounts
from wirechat.rpc import Router

__all__ = ["auth_router"]


async def register(ctx: Context, input: schemas.RegisterInput) -> schemas.AuthResult:
    d = ctx.deps
    return await accounts.register(
        d.sessions,
        d.hasher,
        d.tokens,
        username=input.username,
        password=input.password,
        display_name=input.display_name,
    )


async def login(ctx: Context, input: schemas.LoginInput) -> schemas.AuthResult:
    d = ctx.deps
    return await accounts.login(
        d.sessions, d.hasher, d.tokens, username=input.username, password=input.password
    )


async def me(ctx: AuthedContext, input: None) -> schemas.User:
    return await ctx.deps.users.get(ctx.user_id)


auth_router = Router(
    {
        "register": public.input(schemas.RegisterInput).mutation(register),
        "login": public.input(schemas.LoginInput).mutation(login),
        "me": authed.query(me),
    }
)
