"""Move serialized payloads between processes by topic.

``create_broker(url)`` picks the backend from ``REDIS_URL``. Importing this package does
not import redis: ``RedisBroker`` is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Broker
from .errors import (
    BrokerClosed,
    BrokerError,
    BrokerReset,
    BrokerUnavailable,
    SubscriberOverflow,
    SubscriptionLost,
)
from .memory import MemoryBroker
from .subscription import DEFAULT_CAPACITY, Subscription

if TYPE_CHECKING:
    from .redis import RedisBroker

__all__ = [
    "DEFAULT_CAPACITY",
    "Broker",
    "BrokerClosed",
    "BrokerError",
    "BrokerReset",
    "BrokerUnavailable",
    "MemoryBroker",
    "RedisBroker",
    "SubscriberOverflow",
    "Subscription",
    "SubscriptionLost",
    "create_broker",
]

_REDIS_SCHEMES = ("redis://", "rediss://")


def create_broker(url: str | None, *, capacity: int = DEFAULT_CAPACITY) -> Broker:
    """Return the broker for ``url``: in-process for ``None``, Redis for a Redis URL.

    ``capacity`` is the per-subscription buffer (see ``Subscription``). No connection is
    made here; a ``RedisBroker`` connects on first use. Raises ``ValueError`` for any
    other URL scheme, naming the setting to fix.
    """
    if url is None:
        return MemoryBroker(capacity=capacity)
    if url.startswith(_REDIS_SCHEMES):
        from .redis import RedisBroker

        return RedisBroker(url, capacity=capacity)
    scheme = url.partition("://")[0] if "://" in url else "none"
    # Only the scheme is echoed: the rest of a URL may hold a password.
    raise ValueError(f"REDIS_URL must start with redis:// or rediss:// (scheme: {scheme!r})")


def __getattr__(name: str) -> Any:
    # PEP 562: import redis only when RedisBroker is asked for.
    if name == "RedisBroker":
        from .redis import RedisBroker

        return RedisBroker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
