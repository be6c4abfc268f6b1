"""RedisPresence against the real Redis: a process that stops beating goes offline and
its rooms are told, even when Redis lost every presence key in between (a restart
without persistence, a flush): then the crashed process cannot be swept, and only the
live processes noticing the loss make the subscribers read presence again.

A crashed process is a RedisPresence that joined and never beats (never started)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from wirechat.chat.shared_state import RedisPresence

pytestmark = pytest.mark.redis

REDIS_URL = "redis://127.0.0.1:6379/0"
ROOM, OTHER_ROOM = 1, 2
BEAT, DEAD_AFTER = 0.05, 0.5
NEVER = 3600.0  # a dead_after or heartbeat that does not come within a test


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        reason = f"Redis is not reachable at {REDIS_URL}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so Redis tests must run)", pytrace=False)
        pytest.skip(reason)
    yield client
    await client.aclose()


class Announcements:
    """``on_change`` of a RedisPresence: the rooms it announced, in order."""

    def __init__(self) -> None:
        self.rooms: asyncio.Queue[int] = asyncio.Queue()

    async def __call__(self, room_id: int) -> None:
        await self.rooms.put(room_id)

    async def next(self, within: float = 10.0) -> int:
        return await asyncio.wait_for(self.rooms.get(), within)


@pytest.fixture
async def namespace(redis: Redis) -> AsyncIterator[str]:
    """Keys of this test only (other tests may use the same Redis meanwhile)."""
    name = f"test-presence-{uuid.uuid4().hex}"
    yield name
    # Another run restarting the shared Redis meanwhile took the keys already.
    with contextlib.suppress(RedisError, OSError):
        keys = [key async for key in redis.scan_iter(match=f"wirechat:{name}:*")]
        if keys:
            await redis.delete(*keys)


async def wipe(redis: Redis, namespace: str) -> None:
    """What a restart of Redis without persistence does to the presence keys."""
    keys = [key async for key in redis.scan_iter(match=f"wirechat:{namespace}:*")]
    assert keys
    await redis.delete(*keys)


@pytest.fixture
async def presences(redis: Redis, namespace: str) -> AsyncIterator[Callable[..., RedisPresence]]:
    made: list[RedisPresence] = []

    def make(**options: Any) -> RedisPresence:
        settings = {"heartbeat": BEAT, "dead_after": DEAD_AFTER, **options}
        presence = RedisPresence(redis, namespace=namespace, **settings)
        made.append(presence)
        return presence

    yield make
    for presence in made:
        await presence.aclose()


async def test_a_crashed_process_goes_offline_and_its_rooms_are_told(
    presences: Callable[..., RedisPresence],
) -> None:
    told = Announcements()
    crashed, live = presences(), presences(on_change=told)
    await crashed.join(ROOM, 1)
    await live.join(ROOM, 2)
    live.start()
    assert await live.online(ROOM) == [1, 2]

    assert await told.next() == ROOM
    assert await live.online(ROOM) == [2]


async def test_a_crashed_process_lost_with_the_redis_keys_still_goes_offline_everywhere(
    redis: Redis, namespace: str, presences: Callable[..., RedisPresence]
) -> None:
    told = Announcements()
    # Never dead by its heartbeat: only noticing the loss can announce anything.
    crashed = presences(dead_after=NEVER)
    live = presences(on_change=told, dead_after=NEVER, watched_rooms=lambda: [OTHER_ROOM])
    await crashed.join(ROOM, 1)
    await live.join(ROOM, 2)
    live.start()
    await asyncio.sleep(BEAT * 4)
    assert told.rooms.empty()
    assert await live.online(ROOM) == [1, 2]

    await wipe(redis, namespace)

    # The room it holds a user in, and the one it only watches (whose users may all
    # have been on the crashed process), both announced, after its fields are back.
    announced = {await told.next(), await told.next()}
    assert announced == {ROOM, OTHER_ROOM}
    assert await live.online(ROOM) == [2]


async def test_a_loss_first_seen_by_a_join_is_announced_by_the_next_heartbeat(
    redis: Redis, namespace: str, presences: Callable[..., RedisPresence]
) -> None:
    told = Announcements()
    crashed = presences(dead_after=NEVER)
    live = presences(on_change=told, dead_after=NEVER)
    await crashed.join(ROOM, 1)
    await live.join(ROOM, 2)
    await wipe(redis, namespace)

    await live.join(OTHER_ROOM, 3)  # puts the heartbeat entry back
    assert told.rooms.empty()
    live.start()  # its first beat finds its entry in place

    assert {await told.next(), await told.next()} == {ROOM, OTHER_ROOM}
    assert await live.online(ROOM) == [2]
