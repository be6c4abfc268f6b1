"""Everything a procedure needs besides its input, built once by ``chat.app``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from wirechat.chat.auth import PasswordHasher, TokenService
from wirechat.chat.guard import SessionGuard
from wirechat.chat.hub import RoomHub
from wirechat.chat.metrics import ChatMetrics
from wirechat.chat.presence import PresenceStore
from wirechat.chat.services.ratelimit import RateLimiter, RateLimits
from wirechat.chat.services.users import UserCache
from wirechat.chat.store import ChatStore
from wirechat.db.session import SessionFactory
from wirechat.proxies import TrustedProxies

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
    limits: RateLimits
    proxies: TrustedProxies
    replay_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    """Stream replays reading and emitting a page at once (see ``stream.replay``)."""
