"""In-process broker: fan-out within one process, and the fake for tests above it."""

from __future__ import annotations

from .errors import BrokerClosed, BrokerReset
from .subscription import DEFAULT_CAPACITY, Subscription

__all__ = ["MemoryBroker"]


class MemoryBroker:
    """Deliver payloads to subscriptions in this process only.

    ``publish`` hands the payload to each subscription's bounded queue without awaiting,
    so a slow subscriber never delays the publisher or the others; the slow one ends with
    ``SubscriberOverflow`` when its queue is full.

    Limits: one process only. With no ``REDIS_URL`` that is the deployment; with several
    processes use ``RedisBroker``.
    """

    def __init__(self, *, capacity: int = DEFAULT_CAPACITY) -> None:
        """``capacity``: payloads each subscription may buffer before it overflows."""
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        # A dict per topic keeps subscribers in subscription order and gives O(1) removal.
        self._topics: dict[str, dict[Subscription, None]] = {}
        self._closed = False

    @property
    def healthy(self) -> bool:
        """True until ``aclose()``."""
        return not self._closed

    async def publish(self, topic: str, payload: bytes) -> None:
        """Queue ``payload`` for every current subscriber of ``topic``; never waits.

        Raises ``BrokerClosed`` after ``aclose()``.
        """
        if self._closed:
            raise BrokerClosed
        subscriptions = self._topics.get(topic)
        if subscriptions:
            for subscription in subscriptions:
                subscription.deliver(payload)

    def subscribe(self, topic: str) -> Subscription:
        """Return a subscription to ``topic``; registered as soon as it is entered."""
        return Subscription(
            topic, capacity=self._capacity, attach=self._attach, detach=self._detach
        )

    async def ping(self) -> bool:
        """True until ``aclose()``."""
        return not self._closed

    async def aclose(self) -> None:
        """End every live subscription with ``BrokerClosed``; later publishes raise it."""
        if self._closed:
            return
        self._closed = True
        topics, self._topics = self._topics, {}
        for subscriptions in topics.values():
            for subscription in subscriptions:
                subscription.interrupt(BrokerClosed())

    def simulate_reset(self) -> None:
        """End every live subscription with ``BrokerReset``, as a backend reconnect would.

        For tests of the layer above: it lets them exercise their catch-up path without
        a real Redis. The broker stays usable; new subscriptions work at once.
        """
        for topic, subscriptions in self._topics.items():
            for subscription in subscriptions:
                subscription.interrupt(BrokerReset(topic, down_for=0.0))

    async def _attach(self, subscription: Subscription) -> None:
        if self._closed:
            raise BrokerClosed
        self._topics.setdefault(subscription.topic, {})[subscription] = None

    def _detach(self, subscription: Subscription) -> None:
        subscriptions = self._topics.get(subscription.topic)
        if subscriptions is None:
            return
        subscriptions.pop(subscription, None)
        if not subscriptions:
            del self._topics[subscription.topic]
