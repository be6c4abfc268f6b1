"""Fixtures for the broker tests: one contract suite over every Broker implementation.

The ``broker`` and ``make_broker`` fixtures run each test over ``MemoryBroker`` and over
``RedisBroker`` at ``REDIS_URL``. When that Redis is unreachable the Redis variants fail
if the ``CI`` environment variable is set (CI must not silently lose coverage) and are
skipped otherwise.
"""

from __future__ import annotations

import asyncio
import functools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import pytest

from wirechat.broker import Broker, MemoryBroker, Subscription

REDIS_URL = "redis://127.0.0.1:6379/0"


class BrokerFactory(Protocol):
    def __call__(self, **options: Any) -> Broker: ...


@functools.cache
def redis_unreachable_reason() -> str | None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"Redis is not reachable at {REDIS_URL}: {exc}"
    finally:
        client.close()
    return None


def require_redis() -> None:
    reason = redis_unreachable_reason()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so Redis tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    """A topic no other test (or earlier run against the same Redis) uses."""
    return f"test:{request.node.name}:{uuid.uuid4().hex}"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_broker(request: pytest.FixtureRequest) -> AsyncIterator[BrokerFactory]:
    """Build brokers of the parametrized kind; all are closed after the test."""
    kind: str = request.param
    if kind == "redis":
        require_redis()
    created: list[Broker] = []

    def make(**options: Any) -> Broker:
        broker: Broker
        if kind == "redis":
            from wirechat.broker.redis import RedisBroker

            broker = RedisBroker(REDIS_URL, **options)
        else:
            broker = MemoryBroker(**options)
        created.append(broker)
        return broker

    yield make
    for broker in created:
        await broker.aclose()


@pytest.fixture
def broker(make_broker: BrokerFactory) -> Broker:
    return make_broker()


@pytest.fixture
def redis_url() -> str:
    require_redis()
    return REDIS_URL


async def next_payload(subscription: Subscription, within: float = 2.0) -> bytes:
    return await asyncio.wait_for(anext(subscription), within)


async def collect(subscription: Subscription, count: int, within: float = 10.0) -> list[bytes]:
    async def take() -> list[bytes]:
        return [await anext(subscription) for _ in range(count)]

    return await asyncio.wait_for(take(), within)


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], within: float = 3.0, step: float = 0.005
) -> None:
    """Poll ``condition`` until it holds; fail the test after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {within}s")
        await asyncio.sleep(step)


def other_tasks() -> set[asyncio.Task[Any]]:
    """Tasks still alive besides the running test."""
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current}
