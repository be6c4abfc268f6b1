"""One subscriber's bounded, ordered feed of a topic's payloads.

Written once for every backend: a broker only calls ``deliver()`` for each payload and
``interrupt()`` when the feed must end, and supplies the two callbacks that register and
unregister the subscription with it.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from .errors import BrokerError, SubscriberOverflow, SubscriptionLost

__all__ = ["DEFAULT_CAPACITY", "Subscription"]

DEFAULT_CAPACITY = 10_000
"""Payloads a subscription buffers before it is ended with ``SubscriberOverflow``."""


class _State(enum.Enum):
    NEW = "new"
    OPENING = "opening"
    OPEN = "open"
    CLOSED = "closed"


class Subscription:
    """An async context manager and async iterator over one topic's payloads.

    Use it as::

        async with broker.subscribe("room:42:events") as sub:
            async for payload in sub:
                ...

    Contract:

    - When ``async with`` has entered, the subscription is registered with the backend:
      a payload published after that point is delivered.
    - Payloads come out in the order the backend delivered them, which for one publisher
      is publish order. Nothing is decoded, deduplicated or reordered here.
    - ``handle_directly`` lets the subscriber take payloads in the deliverer's call,
      while it waits with nothing buffered, instead of being woken for each.
    - The feed is bounded by ``capacity``. A subscriber that falls that far behind is
      ended with ``SubscriberOverflow``; the publisher and other subscribers never wait.
    - The iteration ends with an exception, never silently: ``SubscriptionLost``
      (``SubscriberOverflow``, ``BrokerReset``) or ``BrokerClosed``, raised after every
      payload received before it has been yielded. After exiting the ``async with`` block
      the iteration just stops.

    Limits: a subscription is entered once and is not reusable; iterate it from one task.
    """

    __slots__ = (
        "_attach",
        "_buffer",
        "_capacity",
        "_detach",
        "_direct",
        "_end",
        "_state",
        "_topic",
        "_waiter",
    )

    def __init__(
        self,
        topic: str,
        *,
        capacity: int,
        attach: Callable[[Subscription], Awaitable[None]],
        detach: Callable[[Subscription], None],
    ) -> None:
        """Create an unregistered subscription; brokers call this from ``subscribe()``.

        ``attach`` must register the subscription and return only once the backend
        listens to ``topic`` (raising ``BrokerError`` otherwise, and cleaning up after
        itself on any exception, cancellation included). ``detach`` must unregister it
        without waiting.
        """
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._topic = topic
        self._capacity = capacity
        self._attach = attach
        self._detach = detach
        self._buffer: deque[bytes] = deque()
        self._end: BrokerError | None = None
        self._state = _State.NEW
        self._waiter: asyncio.Future[None] | None = None
        self._direct: Callable[[bytes], bool] | None = None

    def __repr__(self) -> str:
        return f"<Subscription {self._topic!r} {self._state.value} pending={len(self._buffer)}>"

    @property
    def topic(self) -> str:
        """The topic this subscription listens to."""
        return self._topic

    @property
    def capacity(self) -> int:
        """How many payloads may wait unread before the subscription overflows."""
        return self._capacity

    @property
    def pending(self) -> int:
        """Payloads received and not yet yielded (for slow-consumer metrics)."""
        return len(self._buffer)

    async def __aenter__(self) -> Self:
        if self._state is not _State.NEW:
            raise RuntimeError("a Subscription can be entered only once")
        self._state = _State.OPENING
        try:
            await self._attach(self)
        except BaseException:
            self._state = _State.CLOSED
            raise
        self._state = _State.OPEN
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        self._detach(self)
        self._buffer.clear()
        self._wake()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        while True:
            if self._buffer:
                return self._buffer.popleft()
            if self._end is not None:
                raise self._end
            if self._state is _State.CLOSED:
                raise StopAsyncIteration
            if self._state is not _State.OPEN:
                raise RuntimeError("enter the Subscription with `async with` before iterating")
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None

    def handle_directly(self, handler: Callable[[bytes], bool] | None) -> None:
        """Offer each payload to ``handler`` in ``deliver``'s caller while the subscriber
        waits in ``__anext__`` with nothing buffered; None stops it.

        Waking the subscriber's task costs a turn of the event loop per payload, and
        everything else ready runs in that turn first. ``handler`` returns True when it
        has dealt with the payload, False to have it queued and yielded as usual. If it
        raises, the subscription ends with ``SubscriptionLost`` (the subscriber recovers
        as from any other loss), and the deliverer never sees the exception.
        """
        self._direct = handler

    def deliver(self, payload: bytes) -> None:
        """Queue ``payload`` for the subscriber without waiting; for brokers only.

        Once the subscription has ended, payloads are ignored: the exception it ends
        with already tells the subscriber that it may have missed some.
        """
        if self._end is not None or self._state is _State.CLOSED:
            return
        direct = self._direct
        waiter = self._waiter
        # Only while the subscriber is parked on an empty buffer: then no payload
        # before this one is still on its way, so handling it here keeps the order.
        if direct is not None and waiter is not None and not waiter.done():
            try:
                if direct(payload):
                    return
            except Exception as exc:
                lost = SubscriptionLost(self._topic)
                lost.__cause__ = exc
                self.interrupt(lost)
                return
        if len(self._buffer) >= self._capacity:
            self.interrupt(SubscriberOverflow(self._topic, self._capacity))
            return
        self._buffer.append(payload)
        self._wake()

    def interrupt(self, error: BrokerError) -> None:
        """End the feed with ``error`` once the buffered payloads are yielded; for brokers.

        Only the first call counts: the first loss is where the gap starts.
        """
        if self._end is not None or self._state is _State.CLOSED:
            return
        self._end = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
