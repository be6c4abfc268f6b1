"""``auth.*``: register, log in, who am I, and the session procedures (refresh, switch a
connection's token, log out, log out everywhere, change the password)."""

from __future__ import annotations

import contextlib

from wirechat.chat import schemas
from wirechat.chat.auth import TokenClaims
from wirechat.chat.context import AuthedContext, Context, context_for
from wirechat.chat.errors import (
    Forbidden,
    InvalidCredentials,
    RateLimited,
    RefreshReused,
    SessionRefused,
)
from wirechat.chat.guard import SESSION_ENDED
from wirechat.chat.routers.base import authed, public
from wirechat.chat.services import accounts
from wirechat.chat.services import sessions as signins
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
        refresh_expires_in=d.refresh_expires_in,
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
            d.sessions,
            d.hasher,
            d.tokens,
            username=input.username,
            password=input.password,
            refresh_expires_in=d.refresh_expires_in,
        )
    except InvalidCredentials:
        with contextlib.suppress(RateLimited):
            await d.limits.failed_logins.hit(failed_key)
        raise


async def me(ctx: AuthedContext, input: None) -> schemas.User:
    return await ctx.deps.users.get(ctx.user_id)


def _on_websocket(ctx: Context) -> bool:
    return ctx.info.transport == "ws" and ctx.info.connection is not None


def _switch(ctx: Context, claims: TokenClaims) -> None:
    """Run the caller's WebSocket with this token from now on; its subscriptions go on."""
    connection = ctx.info.connection
    assert connection is not None
    connection.replace_context(context_for(ctx.deps, ctx.info, claims))


async def refresh(ctx: Context, input: schemas.RefreshInput) -> schemas.AuthResult:
    """Rotate the refresh token; over a WebSocket, the connection switches to the new
    access token (only a token of the connection's own user). Limited per client
    address, counted before the token is looked up."""
    d = ctx.deps
    await d.limits.refresh.hit(f"refresh:{_client_ip(ctx)}")
    on_socket = _on_websocket(ctx)
    try:
        grant = await signins.rotate(
            d.sessions,
            input.refresh_token,
            d.refresh_expires_in,
            expected_user=ctx.user_id if on_socket else None,
        )
    except RefreshReused as exc:
        await d.guard.revoke([exc.session_id])
        raise
    token = d.tokens.issue(grant.user_id, grant.session_id)
    if on_socket:
        claims = d.tokens.verify(token)
        assert claims is not None
        _switch(ctx, claims)
    user = await d.users.get(grant.user_id)
    return schemas.AuthResult(token=token, refresh_token=grant.refresh_token, user=user)


async def use_token(ctx: Context, input: schemas.UseTokenInput) -> schemas.UserResult:
    """Check an access token; over a WebSocket, switch the connection to it (same user)."""
    d = ctx.deps
    claims = d.tokens.verify(input.token)
    if claims is None:
        raise SessionRefused("the token is invalid or expired")
    on_socket = _on_websocket(ctx)
    if on_socket and ctx.user_id is not None and claims.user_id != ctx.user_id:
        raise Forbidden("the token belongs to another user")
    if not await d.guard.is_live(claims.session_id):
        raise SessionRefused(SESSION_ENDED)
    if on_socket:
        _switch(ctx, claims)
    return schemas.UserResult(user=await d.users.get(claims.user_id))


async def logout(ctx: AuthedContext, input: None) -> schemas.Ok:
    d = ctx.deps
    await d.guard.revoke(await signins.end(d.sessions, ctx.session_id))
    return schemas.Ok()


async def logout_all(ctx: AuthedContext, input: None) -> schemas.Ok:
    d = ctx.deps
    await d.guard.revoke(await signins.end_all(d.sessions, ctx.user_id))
    return schemas.Ok()


async def change_password(
    ctx: AuthedContext, input: schemas.ChangePasswordInput
) -> schemas.AuthResult:
    """Limited per session, every call counted, right password or not: each verifies
    the current password, and the caller may be a thief holding only the access token.
    Ends every other session of the user."""
    d = ctx.deps
    # Per session, not per user: a thief who used up the allowance has not also locked
    # the owner out of the change that ends the thief's session. Only a sign-in or a
    # registration makes a session, so the guesses stay bounded by the tokens stolen.
    await d.limits.change_password.hit(f"change-password:{ctx.user_id}:{ctx.session_id}")
    result, ended = await accounts.change_password(
        d.sessions,
        d.hasher,
        d.tokens,
        user_id=ctx.user_id,
        current_password=input.current_password,
        new_password=input.new_password,
        refresh_expires_in=d.refresh_expires_in,
    )
    await d.guard.revoke(ended)
    return result


auth_router = Router(
    {
        "register": public.input(schemas.RegisterInput).mutation(register),
        "login": public.input(schemas.LoginInput).mutation(login),
        "me": authed.query(me),
        "refresh": public.input(schemas.RefreshInput).mutation(refresh),
        "useToken": public.input(schemas.UseTokenInput).mutation(use_token),
        "logout": authed.mutation(logout),
        "logoutAll": authed.mutation(logout_all),
        "changePassword": authed.input(schemas.ChangePasswordInput).mutation(change_password),
    }
)
