"""The Broker contract (``wirechat/broker/base.py``), run over every implementation."""

from __future__ import annotations

import asyncio

import pytest

from wirechat.broker import Broker, BrokerClosed, SubscriberOverflow

from .conftest import BrokerFactory, collect, next_payload, other_tasks


class DeliveryTests:
    """Payloads reach every current subscriber, unchanged and in publish order."""


async def test_subscriber_receives_10k_messages_in_publish_order(
    broker: Broker, topic: str
) -> None:
    count = 10_000
    async with broker.subscribe(topic) as sub:
        received = asyncio.create_task(collect(sub, count, within=30))
        for i in range(count):
            await broker.publish(topic, b"%d" % i)
        assert await received == [b"%d" % i for i in range(count)]


async def test_every_subscriber_receives_every_message(broker: Broker, topic: str) -> None:
    expected = [b"m%d" % i for i in range(100)]
    async with (
        broker.subscribe(topic) as first,
        broker.subscribe(topic) as second,
        broker.subscribe(topic) as third,
    ):
        for payload in expected:
            await broker.publish(topic, payload)
        for sub in (first, second, third):
            assert await collect(sub, len(expected)) == expected


async def test_payload_bytes_arrive_unchanged(broker: Broker, topic: str) -> None:
    payloads = [b"", b"\x00\xff\xfe binary", '{"text":"héllo ✓"}'.encode(), b"x" * 1_048_576]
    async with broker.subscribe(topic) as sub:
        for payload in payloads:
            await broker.publish(topic, payload)
        assert await collect(sub, len(payloads)) == payloads


async def test_message_published_right_after_subscribing_is_delivered(
    broker: Broker, topic: str
) -> None:
    # Each round is a fresh topic, so each entry waits for a new SUBSCRIBE to take effect.
    for attempt in range(50):
        fresh_topic = f"{topic}:{attempt}"
        async with broker.subscribe(fresh_topic) as sub:
            await broker.publish(fresh_topic, b"first")
            assert await next_payload(sub) == b"first"


async def test_subscriber_receives_nothing_from_other_topics(broker: Broker, topic: str) -> None:
    async with broker.subscribe(topic) as sub:
        await broker.publish(f"{topic}:other", b"not for you")
        await broker.publish(topic, b"for you")
        assert await next_payload(sub) == b"for you"


async def test_publish_without_subscribers_succeeds(broker: Broker, topic: str) -> None:
    await broker.publish(topic, b"nobody listens")


async def test_leaving_subscription_stops_delivery_to_it_only(broker: Broker, topic: str) -> None:
    async with broker.subscribe(topic) as staying:
        async with broker.subscribe(topic) as leaving:
            await broker.publish(topic, b"both")
            assert await next_payload(leaving) == b"both"
        await broker.publish(topic, b"after leave")
        assert await collect(staying, 2) == [b"both", b"after leave"]
        assert leaving.pending == 0
        with pytest.raises(StopAsyncIteration):
            await anext(leaving)


async def test_resubscribing_to_a_topic_works(broker: Broker, topic: str) -> None:
    for round_ in range(3):
        async with broker.subscribe(topic) as sub:
            await broker.publish(topic, b"round %d" % round_)
            assert await next_payload(sub) == b"round %d" % round_


async def test_slow_subscriber_overflows_without_affecting_fast_one(
    make_broker: BrokerFactory, topic: str
) -> None:
    broker = make_broker(capacity=100)
    count = 1_000
    async with broker.subscribe(topic) as slow, broker.subscribe(topic) as fast:
        received = asyncio.create_task(collect(fast, count))
        for i in range(count):
            await broker.publish(topic, b"%d" % i)
            # Let the fast consumer run, as a real one would between publishes.
            await asyncio.sleep(0)
        assert await received == [b"%d" % i for i in range(count)]
        # The slow one gets what fitted, in order, then a clear error: never a silent gap.
        assert await collect(slow, 100) == [b"%d" % i for i in range(100)]
        with pytest.raises(SubscriberOverflow) as excinfo:
            await anext(slow)
        assert excinfo.value.topic == topic
        assert excinfo.value.capacity == 100


async def test_overflowed_subscriber_can_resubscribe(
    make_broker: BrokerFactory, topic: str
) -> None:
    broker = make_broker(capacity=2)
    async with broker.subscribe(topic) as sub, broker.subscribe(topic + ":after") as after:
        for i in range(3):
            await broker.publish(topic, b"%d" % i)
        # Redis delivers asynchronously, so reading now could take "0" before "2" arrives
        # and no overflow would happen. One connection delivers in publish order: once
        # the later topic's payload is here, all three have been delivered.
        await broker.publish(topic + ":after", b"marker")
        assert await next_payload(after) == b"marker"
        assert await collect(sub, 2) == [b"0", b"1"]
        with pytest.raises(SubscriberOverflow):
            await next_payload(sub)
    async with broker.subscribe(topic) as sub:
        await broker.publish(topic, b"fresh")
        assert await next_payload(sub) == b"fresh"


class LifecycleTests:
    """Health, close and cleanup."""


async def test_broker_is_healthy_while_usable(broker: Broker, topic: str) -> None:
    assert await broker.ping() is True
    assert broker.healthy is True


async def test_live_subscription_ends_with_broker_closed_on_aclose(
    broker: Broker, topic: str
) -> None:
    async with broker.subscribe(topic) as sub:
        await broker.publish(topic, b"before close")
        assert await next_payload(sub) == b"before close"
        waiting = asyncio.create_task(anext(sub))
        await asyncio.sleep(0)
        await broker.aclose()
        with pytest.raises(BrokerClosed):
            await asyncio.wait_for(waiting, 1)


async def test_closed_broker_refuses_publish_and_subscribe(broker: Broker, topic: str) -> None:
    await broker.aclose()
    with pytest.raises(BrokerClosed):
        await broker.publish(topic, b"late")
    with pytest.raises(BrokerClosed):
        async with broker.subscribe(topic):
            pass
    assert broker.healthy is False
    assert await broker.ping() is False


async def test_aclose_is_idempotent_and_leaves_no_tasks(broker: Broker, topic: str) -> None:
    async with broker.subscribe(topic) as sub:
        await broker.publish(topic, b"x")
        assert await next_payload(sub) == b"x"
    await broker.aclose()
    await broker.aclose()
    assert other_tasks() == set()
