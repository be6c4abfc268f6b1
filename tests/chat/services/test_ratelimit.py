"""The in-process sliding-window rate limiter."""

from __future__ import annotations

import pytest

from wirechat.chat.errors import RateLimited
from wirechat.chat.services.ratelimit import MemoryRateLimiter, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_allows_the_limit_then_refuses_with_the_wait_time() -> None:
    clock = Clock()
    limiter: RateLimiter = MemoryRateLimiter(30, 10.0, clock=clock)
    for _ in range(30):
        await limiter.hit("user:1")
        clock.now += 0.1
    with pytest.raises(RateLimited) as info:
        await limiter.hit("user:1")
    # The first hit was 3.0 s ago, so it leaves the window in 7.0 s.
    assert info.value.retry_after == pytest.approx(7.0)


async def test_window_slides_refused_hits_do_not_count() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(2, 10.0, clock=clock)
    await limiter.hit("k")
    clock.now += 5
    await limiter.hit("k")
    for _ in range(5):
        with pytest.raises(RateLimited):
            await limiter.hit("k")
    clock.now += 5  # the first hit leaves the window
    await limiter.hit("k")
    with pytest.raises(RateLimited):
        await limiter.hit("k")


async def test_keys_are_independent() -> None:
    limiter = MemoryRateLimiter(1, 10.0, clock=Clock())
    await limiter.hit("user:1")
    await limiter.hit("user:2")
    with pytest.raises(RateLimited):
        await limiter.hit("user:1")


async def test_idle_keys_are_forgotten() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(1, 1.0, clock=clock)
    for user in range(200):
        await limiter.hit(f"user:{user}")
    clock.now += 2
    for _ in range(100):
        await limiter.hit("busy")
        clock.now += 1
    assert len(limiter._hits) == 1


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        MemoryRateLimiter(0, 10.0)
    with pytest.raises(ValueError):
        MemoryRateLimiter(30, 0)
