"""``auth.*``: register, log in, who am I."""

from __future__ import annotations

import contextlib

from wirechat.chat import schemas
from wirechat.chat.context import AuthedContext, Context
from wirechat.chat.errors import InvalidCredentials, RateLimited
from wirechat.chat.routers.base import authed, public
from wirechat.chat.services import accounts
from wirechat.rpc import Router

__all__ = ["auth_router"]


def _client_ip(ctx: Context) -> str:
    return ctx.deps.proxies.client_ip(ctx.info.peer, ctx.info.headers)


async def register(ctx: Context, input: schemas.RegisterInput) -> schemas.AuthResult:
    d = ctx.deps
    await d.limits.register.hit(f"register:{_client_ip(ctx)}")
    d.hasher.check_capacity()
    return await accounts.register(
        d.sessions,
        d.hasher,
        d.tokens,
        username=input.username,
        password=input.password,
        display_name=input.display_name,
    )


async def login(ctx: Context, input: schemas.LoginInput) -> schemas.AuthResult:
    """Limited per client address, and per username once it has failed too often (a
    password guesser spread over several addresses still gets a bounded number of tries)."""
    d = ctx.deps
    await d.limits.login.hit(f"login:{_client_ip(ctx)}")
    failed_key = f"login-failed:{input.username.lower()}"
    await d.limits.failed_logins.check(failed_key)
    d.hasher.check_capacity()
    try:
        return await accounts.login(
            d.sessions, d.hasher, d.tokens, username=input.username, password=input.password
        )
    except InvalidCredentials:
        with contextlib.suppress(RateLimited):
            await d.limits.failed_logins.hit(failed_key)
        raise


async def me(ctx: AuthedContext, input: None) -> schemas.User:
    return await ctx.deps.users.get(ctx.user_id)


auth_router = Router(
    {
        "register": public.input(schemas.RegisterInput).mutation(register),
        "login": public.input(schemas.LoginInput).mutation(login),
        "me": authed.query(me),
    }
)
