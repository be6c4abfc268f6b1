"""Everything a procedure needs besides its input, built once by ``chat.app``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from wirechat.chat.auth import PasswordHasher, TokenService
from wirechat.chat.guard import SessionGuard
from wirechat.chat.hub import RoomHub
from wirechat.chat.metrics import ChatMetrics
from wirechat.chat.presence import PresenceStore
from wirechat.chat.services.ratelimit import RateLimiter
from wirechat.chat.services.users import UserCache
from wirechat.chat.store import ChatStore
from wirechat.db.session import SessionFactory

__all__ = ["Deps"]


@dataclass(frozen=True, slots=True)
class Deps:
    sessions: SessionFactory
    store: ChatStore
    hasher: PasswordHasher
    tokens: TokenService
    hub: RoomHub
    presence: PresenceStore
    limiter: RateLimiter
    metrics: ChatMetrics
    users: UserCache
    guard: SessionGuard
    refresh_expires_in: timedelta
    """Lifetime of a refresh token (``REFRESH_EXPIRES_IN``)."""
