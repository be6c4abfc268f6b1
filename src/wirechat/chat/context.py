"""The chat's tRPC context: who is calling, read from the token once per request or
connection, and re-checked for expiry on every call."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wirechat.chat.auth import TokenClaims, token_from_request
from wirechat.chat.deps import Deps
from wirechat.rpc import Call, ErrorCode, Next, RequestInfo, RPCError

__all__ = ["AuthedContext", "Context", "ContextFactory", "require_user"]


@dataclass(frozen=True, slots=True)
class Context:
    deps: Deps
    user_id: int | None
    expires_at: datetime | None
    info: RequestInfo


@dataclass(frozen=True, slots=True)
class AuthedContext:
    deps: Deps
    user_id: int
    info: RequestInfo


class ContextFactory:
    """``create_context`` for the engine: a missing or invalid token is anonymous.

    Verified tokens are remembered (at most ``cache_size``, least recently used
    first out): a client sends the same token with every request, and checking its
    signature costs about as much as a small call. Expiry is still checked on every
    call by :func:`require_user`, so a remembered token stops working on time.
    """

    def __init__(self, deps: Deps, cache_size: int = 10_000) -> None:
        self.deps = deps
        self._verified: OrderedDict[str, TokenClaims] = OrderedDict()
        self._cache_size = cache_size

    async def __call__(self, info: RequestInfo) -> Context:
        token = token_from_request(
            info.headers, info.query, info.connection_params, websocket=info.transport == "ws"
        )
        claims = self._claims(token) if token else None
        if claims is None:
            return Context(self.deps, None, None, info)
        return Context(self.deps, claims.user_id, claims.expires_at, info)

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
    """*auth* procedures: UNAUTHORIZED for anonymous callers and for a token that has
    expired since the connection was opened (api.md "Authentication")."""
    ctx = call.ctx
    if ctx.user_id is None or ctx.expires_at is None or ctx.expires_at <= datetime.now(UTC):
        raise RPCError(ErrorCode.UNAUTHORIZED, "Sign in to call this procedure")
    return await next(AuthedContext(ctx.deps, ctx.user_id, ctx.info))
