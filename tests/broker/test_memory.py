"""MemoryBroker beyond the shared contract: synchronous fan-out and the reset fake."""

from __future__ import annotations

import pytest

from wirechat.broker import BrokerReset, MemoryBroker

from .conftest import collect, next_payload


async def test_publish_completes_without_suspending(topic: str) -> None:
    broker = MemoryBroker(capacity=1)
    async with broker.subscribe(topic) as sub:
        # A publisher is never made to wait, not even for a full subscriber.
        for payload in (b"fits", b"overflows"):
            with pytest.raises(StopIteration):
                broker.publish(topic, payload).send(None)
        assert await next_payload(sub) == b"fits"


async def test_simulate_reset_ends_live_subscriptions_after_their_buffer(topic: str) -> None:
    broker = MemoryBroker()
    async with broker.subscribe(topic) as sub:
        await broker.publish(topic, b"before")
        broker.simulate_reset()
        await broker.publish(topic, b"during")
        assert await collect(sub, 1) == [b"before"]
        with pytest.raises(BrokerReset) as excinfo:
            await next_payload(sub)
        assert excinfo.value.topic == topic
    async with broker.subscribe(topic) as sub:
        await broker.publish(topic, b"after")
        assert await next_payload(sub) == b"after"


def test_capacity_below_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="capacity"):
        MemoryBroker(capacity=0)
