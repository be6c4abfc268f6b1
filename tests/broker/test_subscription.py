"""Subscription's feed and state rules, driven directly as a broker would."""

from __future__ import annotations

import asyncio

import pytest

from wirechat.broker import (
    BrokerClosed,
    BrokerReset,
    BrokerUnavailable,
    SubscriberOverflow,
    Subscription,
    SubscriptionLost,
)

from .conftest import next_payload


class FakeBroker:
    """Records attach/detach calls; ``fail_with`` makes attaching raise."""

    def __init__(self) -> None:
        self.attached: list[Subscription] = []
        self.detached: list[Subscription] = []
        self.fail_with: BaseException | None = None

    async def attach(self, subscription: Subscription) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.attached.append(subscription)

    def detach(self, subscription: Subscription) -> None:
        self.detached.append(subscription)

    def subscribe(self, topic: str = "t", capacity: int = 10) -> Subscription:
        return Subscription(topic, capacity=capacity, attach=self.attach, detach=self.detach)


async def test_entering_registers_and_exiting_unregisters_once() -> None:
    fake = FakeBroker()
    sub = fake.subscribe()
    async with sub:
        assert fake.attached == [sub]
    await sub.__aexit__(None, None, None)
    assert fake.detached == [sub]


async def test_subscription_cannot_be_entered_twice() -> None:
    sub = FakeBroker().subscribe()
    async with sub:
        with pytest.raises(RuntimeError, match="only once"):
            await sub.__aenter__()


async def test_iterating_before_entering_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await anext(FakeBroker().subscribe())


async def test_failed_registration_propagates_and_closes_the_subscription() -> None:
    fake = FakeBroker()
    fake.fail_with = BrokerUnavailable("subscribe")
    sub = fake.subscribe()
    with pytest.raises(BrokerUnavailable):
        await sub.__aenter__()
    with pytest.raises(StopAsyncIteration):
        await anext(sub)


async def test_payloads_come_out_in_delivery_order_and_are_counted() -> None:
    async with FakeBroker().subscribe() as sub:
        for payload in (b"a", b"b", b"c"):
            sub.deliver(payload)
        assert sub.pending == 3
        assert [await anext(sub) for _ in range(3)] == [b"a", b"b", b"c"]
        assert sub.pending == 0


async def test_first_interruption_wins_and_later_payloads_are_ignored() -> None:
    async with FakeBroker().subscribe(capacity=1) as sub:
        sub.deliver(b"kept")
        sub.deliver(b"overflow")
        sub.interrupt(BrokerReset("t", 1.0))
        sub.deliver(b"ignored")
        assert await anext(sub) == b"kept"
        with pytest.raises(SubscriberOverflow):
            await anext(sub)
        # The end is sticky: asking again gives the same answer.
        with pytest.raises(SubscriberOverflow):
            await anext(sub)


async def test_waiting_reader_is_woken_by_delivery_and_by_interruption() -> None:
    async with FakeBroker().subscribe() as sub:
        waiting = asyncio.create_task(anext(sub))
        await asyncio.sleep(0)
        sub.deliver(b"woken")
        assert await asyncio.wait_for(waiting, 1) == b"woken"
        waiting = asyncio.create_task(anext(sub))
        await asyncio.sleep(0)
        sub.interrupt(BrokerClosed())
        with pytest.raises(BrokerClosed):
            await asyncio.wait_for(waiting, 1)


async def test_cancelled_read_leaves_the_subscription_usable() -> None:
    async with FakeBroker().subscribe() as sub:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(sub), 0.01)
        sub.deliver(b"still works")
        assert await next_payload(sub) == b"still works"


async def test_exiting_stops_a_reader_waiting_in_another_task() -> None:
    sub = FakeBroker().subscribe()
    async with sub:
        waiting = asyncio.create_task(anext(sub))
        await asyncio.sleep(0)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 1)


async def test_a_waiting_reader_takes_payloads_directly_in_the_deliverers_call() -> None:
    taken: list[bytes] = []

    def take(payload: bytes) -> bool:
        taken.append(payload)
        return payload != b"needs the task"

    async with FakeBroker().subscribe() as sub:
        sub.handle_directly(take)
        waiting = asyncio.create_task(anext(sub))
        await asyncio.sleep(0)
        sub.deliver(b"direct")
        assert taken == [b"direct"]  # before deliver returned, with no task switch
        assert not waiting.done() and sub.pending == 0
        sub.deliver(b"needs the task")  # declined: queued and yielded as usual
        assert await asyncio.wait_for(waiting, 1) == b"needs the task"


async def test_payloads_arriving_while_the_reader_is_busy_are_queued_in_order() -> None:
    taken: list[bytes] = []
    async with FakeBroker().subscribe() as sub:
        sub.handle_directly(lambda payload: taken.append(payload) is None)
        # Nobody waits: the handler must not jump ahead of what is buffered.
        sub.deliver(b"first")
        sub.deliver(b"second")
        assert taken == []
        assert [await anext(sub), await anext(sub)] == [b"first", b"second"]
        sub.handle_directly(None)
        waiting = asyncio.create_task(anext(sub))
        await asyncio.sleep(0)
        sub.deliver(b"after stop")
        assert await asyncio.wait_for(waiting, 1) == b"after stop"
        assert taken == []


async def test_a_failing_direct_handler_ends_the_subscription_not_the_deliverer() -> None:
    def broken(payload: bytes) -> bool:
        raise KeyError(payload)

    async with FakeBroker().subscribe() as sub:
        sub.handle_directly(broken)
        waiting = asyncio.create_task(anext(sub))
        await asyncio.sleep(0)
        sub.deliver(b"boom")  # does not raise into the broker's publish
        sub.deliver(b"ignored")
        with pytest.raises(SubscriptionLost) as lost:
            await asyncio.wait_for(waiting, 1)
        assert isinstance(lost.value.__cause__, KeyError)
        assert sub.pending == 0


def test_capacity_below_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="capacity"):
        FakeBroker().subscribe(capacity=0)
