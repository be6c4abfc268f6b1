"""Per-key rate limiting (docs/api.md "Rates": 30 messages per user per 10 s by default).

Besides ``messages.send``, every call that writes or fans out has its own limit
(:class:`RateLimits`), as have registration, login and refresh per client address,
failed logins per username and password changes per user (docs/reliability.md).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from wirechat.chat.errors import RateLimited

__all__ = ["MemoryRateLimiter", "RateLimiter", "RateLimits"]


class RateLimiter(Protocol):
    """Allows at most a fixed number of hits per key in a time window."""

    async def hit(self, key: str) -> None:
        """Count one call for ``key``.

        Raises:
            RateLimited: the key is over its limit; the call was not counted.
        """
        ...

    async def check(self, key: str) -> None:
        """Raise :class:`RateLimited` if ``key`` is over its limit, without counting.

        For limits counted only after the fact (failed logins): check first, then
        :meth:`hit` when the call turns out to count.
        """
        ...


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The limiters of the calls other than ``messages.send``, one per kind of call.

    Keys are prefixed by kind (``edit:<user>``), so limiters may share a store.
    """

    edits: RateLimiter
    """``messages.edit`` / ``messages.delete``, per user."""
    rooms: RateLimiter
    """Room membership and creation calls, per user."""
    typing: RateLimiter
    """``typing.set``, per user and room."""
    register: RateLimiter
    """``auth.register``, per client address."""
    login: RateLimiter
    """``auth.login``, per client address."""
    failed_logins: RateLimiter
    """Failed ``auth.login``, per lower-cased username."""
    refresh: RateLimiter
    """``auth.refresh``, per client address (the caller is not known before the token
    is checked)."""
    change_password: RateLimiter
    """``auth.changePassword``, per user: it verifies a password hash, so this bounds
    guessing with a stolen access token."""


class MemoryRateLimiter:
    """Sliding-window log in process memory: exactly ``limit`` hits in any ``window``.

    Each key keeps the times of its last ``limit`` hits, so memory is bounded by
    ``limit`` floats per key active within the last window; idle keys are swept every
    ``limit`` * 100 hits. Limits are per process: with several processes behind a load
    balancer, a user gets up to ``limit`` per process (use a shared backend there).
    """

    def __init__(
        self,
        limit: int = 30,
        window: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self._limit = limit
        self._window = window
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._until_sweep = limit * 100

    async def hit(self, key: str) -> None:
        """Count one call for ``key``; raise :class:`RateLimited` when over the limit."""
        now = self._clock()
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self._sweep(now)
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque(maxlen=self._limit)
        while hits and hits[0] <= now - self._window:
            hits.popleft()
        if len(hits) >= self._limit:
            raise RateLimited(retry_after=hits[0] + self._window - now)
        hits.append(now)

    async def check(self, key: str) -> None:
        """Raise :class:`RateLimited` when ``key`` is over the limit; count nothing."""
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            return
        while hits and hits[0] <= now - self._window:
            hits.popleft()
        if len(hits) >= self._limit:
            raise RateLimited(retry_after=hits[0] + self._window - now)

    def _sweep(self, now: float) -> None:
        self._until_sweep = self._limit * 100
        cutoff = now - self._window
        for key in [key for key, hits in self._hits.items() if not hits or hits[-1] <= cutoff]:
            del self._hits[key]
