"""The procedure bases (``public``, ``authed``) and the one domain-error mapping table."""

from __future__ import annotations

from typing import Any

from wirechat.chat.context import AuthedContext, Context, require_user
from wirechat.chat.errors import (
    ChatError,
    Conflict,
    Forbidden,
    InvalidCredentials,
    NotFound,
    RateLimited,
    SessionRefused,
    ValidationFailed,
)
from wirechat.rpc import Call, ErrorCode, Next, ProcedureBuilder, RPCError, init_rpc

__all__ = ["authed", "public", "to_rpc"]

_CODES: dict[type[ChatError], ErrorCode] = {
    NotFound: ErrorCode.NOT_FOUND,
    Forbidden: ErrorCode.FORBIDDEN,
    Conflict: ErrorCode.CONFLICT,
    InvalidCredentials: ErrorCode.UNAUTHORIZED,
    SessionRefused: ErrorCode.UNAUTHORIZED,
    RateLimited: ErrorCode.TOO_MANY_REQUESTS,
    ValidationFailed: ErrorCode.BAD_REQUEST,
}


def to_rpc(exc: ChatError) -> RPCError:
    """The tRPC error a client sees for a domain error."""
    code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), ErrorCode.BAD_REQUEST)
    data: dict[str, Any] | None = None
    if isinstance(exc, ValidationFailed):
        data = {"issues": [{"path": list(exc.path), "message": exc.message}]}
    elif isinstance(exc, RateLimited):
        data = {"retryAfterMs": int(exc.retry_after * 1000)}
    return RPCError(code, str(exc), cause=exc, data=data)


async def map_domain_errors(call: Call[Context], next: Next[Context]) -> Any:
    try:
        return await next(call.ctx)
    except ChatError as exc:
        raise to_rpc(exc) from exc


t = init_rpc(Context)
public: ProcedureBuilder[Context, Any] = t.procedure.use(map_domain_errors)
authed: ProcedureBuilder[AuthedContext, Any] = public.use(require_user)
