"""The chat's tRPC context: who is calling, read from the token once per request or
connection, and re-checked on every call (expiry, and whether its session is live)."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from wirechat.chat.auth import TokenClaims, token_from_request
from wirechat.chat.deps import Deps
from wirechat.chat.guard import SESSION_ENDED
from wirechat.rpc import Call, ErrorCode, Next, RequestInfo, RPCError

__all__ = ["AuthedContext", "Context", "ContextFactory", "context_for", "require_user"]


@dataclass(frozen=True, slots=True)
class Context:
    deps: Deps
    user_id: int | None
    session_id: int | None
    valid_until: float
    """Unix time after which the token no longer counts: its ``exp``, plus the grace
    period on a WebSocket (docs/api.md "Expiry on an open connection"); 0 when anonymous."""
    info: RequestInfo


@dataclass(frozen=True, slots=True)
class AuthedContext:
    deps: Deps
    user_id: int
    session_id: int
    info: RequestInfo


def context_for(deps: Deps, info: RequestInfo, claims: TokenClaims | None) -> Context:
    """The context of a verified token (or anonymous) on the request or connection ``info``.

    A WebSocket or SSE stream is handed to the session guard, which ends its
    subscriptions when the session ends or the token expires unrefreshed.
    """
    if claims is None:
        return Context(deps, None, None, 0.0, info)
    expires = claims.expires_at.timestamp()
    connection = info.connection
    if connection is not None:
        deps.guard.watch(connection, info.transport, claims.session_id, expires)
    valid_until = expires + deps.guard.grace if info.transport == "ws" else expires
    return Context(deps, claims.user_id, claims.session_id, valid_until, info)


class ContextFactory:
    """``create_context`` for the engine: a missing or invalid token is anonymous.

    Verified tokens are remembered (at most ``cache_size``, least recently used
    first out): a client sends the same token with every request, and checking its
    signature costs about as much as a small call. Expiry and the session are still
    checked on every call by :func:`require_user`, so a remembered token stops working
    on time.
    """

    def __init__(self, deps: Deps, cache_size: int = 10_000) -> None:
        self.deps = deps
        self._verified: OrderedDict[str, TokenClaims] = OrderedDict()
        self._cache_size = cache_size

    async def __call__(self, info: RequestInfo) -> Context:
        token = token_from_request(
            info.headers, info.query, info.connection_params, websocket=info.transport == "ws"
        )
        return context_for(self.deps, info, self._claims(token) if token else None)

    def _claims(self, token: str) -> TokenClaims | None:
        claims = self._verified.get(token)
        if claims is not None:
            self._verified.move_to_end(token)
            return claims
        claims = self.deps.tokens.verify(token)
        if claims is not None:
            # Only valid tokens are kept: random junk cannot fill the cache.
            self._verified[token] = claims
            if len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        return claims


async def require_user(call: Call[Context], next: Next[AuthedContext]) -> Any:
    """*auth* procedures: UNAUTHORIZED for anonymous callers, for a token that has expired
    since the connection was opened (after the grace on a WebSocket), and for a token
    whose session has ended (docs/api.md "Ending a session")."""
    ctx = call.ctx
    if ctx.user_id is None or ctx.valid_until <= time.time():
        raise RPCError(ErrorCode.UNAUTHORIZED, "Sign in to call this procedure")
    assert ctx.session_id is not None
    guard = ctx.deps.guard
    live = guard.cached(ctx.session_id)
    if live is None:
        live = await guard.is_live(ctx.session_id)
    if not live:
        raise RPCError(ErrorCode.UNAUTHORIZED, SESSION_ENDED)
    return await next(AuthedContext(ctx.deps, ctx.user_id, ctx.session_id, ctx.info))
