"""The seam between wirechat and its message backend: bytes in, bytes out, by topic.

A broker moves already-serialized payloads between processes. It does not encode,
order across publishers, deduplicate, detect gaps or throttle: the layer above does
that once for every backend, using the database event log as the source of truth and
the broker only as a low-latency doorbell.
"""

from __future__ import annotations

from typing import Protocol

from .subscription import Subscription

__all__ = ["Broker"]


class Broker(Protocol):
    """Topic-based fan-out of opaque payloads to every subscriber in every process.

    Guarantees, per topic: a payload published after a subscription was entered reaches
    it, in the order a single publisher published, unless the subscription ends with
    ``SubscriptionLost`` (see ``wirechat.broker.errors``), which marks the only place a
    gap can start. There is no history: payloads published with no subscriber are gone.
    """

    @property
    def healthy(self) -> bool:
        """Whether the broker is currently connected to its backend; cheap, no I/O."""
        ...

    async def publish(self, topic: str, payload: bytes) -> None:
        """Send ``payload`` unchanged to every current subscriber of ``topic``.

        Raises ``BrokerUnavailable`` within the broker's timeout if the backend cannot be
        reached, ``BrokerClosed`` after ``aclose()``. Never waits for slow subscribers.
        """
        ...

    def subscribe(self, topic: str) -> Subscription:
        """Return a subscription to ``topic``; it registers when entered with ``async with``.

        Entering raises ``BrokerUnavailable`` if the backend does not confirm in time and
        ``BrokerClosed`` after ``aclose()``.
        """
        ...

    async def ping(self) -> bool:
        """Check the backend with a round trip, for readiness probes; never raises."""
        ...

    async def aclose(self) -> None:
        """Stop background work and release connections; idempotent.

        Live subscriptions end with ``BrokerClosed``.
        """
        ...
