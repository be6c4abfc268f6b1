"""Errors raised by the broker layer.

The tree::

    BrokerError
    ├── BrokerUnavailable       the backend could not be reached in time
    ├── BrokerClosed            the broker was closed with ``aclose()``
    └── SubscriptionLost        a subscription ended; messages after it may be missing
        ├── SubscriberOverflow  its bounded queue filled up (slow consumer)
        └── BrokerReset         the connection to the backend dropped and came back

``SubscriptionLost`` is the one the layer above handles: whatever the cause, the remedy is
the same. Open a new subscription, then catch up from the database log from the last
event you processed. Every payload received before the exception arrived in publish
order with no gap, so "the last event you processed" is a safe starting point.
"""

from __future__ import annotations

__all__ = [
    "BrokerClosed",
    "BrokerError",
    "BrokerReset",
    "BrokerUnavailable",
    "SubscriberOverflow",
    "SubscriptionLost",
]


class BrokerError(Exception):
    """Base class of every error the broker raises."""


class BrokerUnavailable(BrokerError):
    """The backend did not answer within the broker's timeout.

    Raised by ``publish()`` and by entering a subscription. Nothing was published or
    registered; the caller decides whether to retry (the message itself should already be
    in the database).
    """

    def __init__(self, operation: str, cause: BaseException | None = None) -> None:
        self.operation = operation
        self.cause = cause
        super().__init__(operation, cause)

    def __str__(self) -> str:
        if self.cause is None:
            return f"broker unavailable during {self.operation}"
        return f"broker unavailable during {self.operation}: {self.cause}"


class BrokerClosed(BrokerError):
    """The broker was closed: no publish, no new subscription, live ones end with this."""

    def __str__(self) -> str:
        return "broker is closed"


class SubscriptionLost(BrokerError):
    """A subscription ended early; payloads published after this point may be missing.

    Raised by ``Subscription.__anext__`` after every payload received before the loss has
    been yielded. The subscription is finished: exit its ``async with`` block, open a new
    one, then catch up from the database.
    """

    def __init__(self, topic: str) -> None:
        self.topic = topic
        super().__init__(topic)

    def __str__(self) -> str:
        return f"subscription to {self.topic!r} lost"


class SubscriberOverflow(SubscriptionLost):
    """The subscriber fell ``capacity`` payloads behind, so the broker stopped feeding it.

    The broker never blocks a publisher or other subscribers for a slow one, and never
    drops silently: this exception is how the slow one learns it lost messages.
    """

    def __init__(self, topic: str, capacity: int) -> None:
        super().__init__(topic)
        self.capacity = capacity

    def __str__(self) -> str:
        return f"subscriber to {self.topic!r} fell more than {self.capacity} payloads behind"


class BrokerReset(SubscriptionLost):
    """The connection to the backend was lost and has been re-established.

    Payloads published while it was down were not delivered. Raised only once the topic
    is listened to again, so a new subscription opened right away succeeds; ``down_for``
    is how long (seconds) the topic was not listened to.
    """

    def __init__(self, topic: str, down_for: float) -> None:
        super().__init__(topic)
        self.down_for = down_for

    def __str__(self) -> str:
        return (
            f"broker connection was reset; {self.topic!r} was not listened to "
            f"for {self.down_for:.3f}s"
        )
