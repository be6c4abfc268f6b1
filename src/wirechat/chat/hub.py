"""Room traffic between processes, and its fan-out to this process's subscribers.

One broker topic per room (``<namespace>room:<id>``) carries four kinds of payload, each
encoded once by its publisher:

    E<seq>\\n<MessageEvent JSON>   a stored message event (its seq is the tracked id)
    T<typing event JSON>          a typing change
    P                             presence changed; subscribers read a new snapshot
    L<user id>                    a member left: end that user's streams of the room

A process listens to a room's topic only while it has local subscribers (one
broker subscription per room, not per subscriber). The channel delivers message
events gap-free and in ``seq`` order: a jump in ``seq`` (events published out of
commit order, a lost broker connection) is filled from the database log, and
duplicates are dropped. Each local listener has its own bounded queue, so a slow
subscriber never delays the others: when its queue is full it is told it lagged
and catches up from the database by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Literal

import orjson

from wirechat.broker import (
    Broker,
    BrokerClosed,
    BrokerError,
    BrokerUnavailable,
    SubscriptionLost,
)
from wirechat.chat.store import EventLog, event_pages
from wirechat.rpc import Tracked, tracked

__all__ = ["EventRecord", "Lagged", "Listener", "ListenerKind", "RoomHub"]

logger = logging.getLogger("wirechat.hub")

ListenerKind = Literal["events", "typing", "presence"]


class EventRecord:
    """One stored event as subscribers receive it, encoded once for all of them."""

    __slots__ = ("payload", "seq", "tracked")

    def __init__(self, seq: int, payload: bytes) -> None:
        self.seq = seq
        self.payload = payload
        """The MessageEvent, JSON-encoded once."""
        self.tracked: Tracked[orjson.Fragment] = tracked(str(seq), orjson.Fragment(payload))
        """What ``messages.onMessage`` emits: shared by every subscriber of the event."""

    def __repr__(self) -> str:
        return f"EventRecord(seq={self.seq})"


class Lagged(Exception):
    """The listener's queue overflowed; catch up from the database and attach again."""


class _Left:
    __slots__ = ()


_LEFT = _Left()
_PRESENCE = b""

Item = EventRecord | bytes | _Left


class Listener:
    """One local subscriber's feed from a room channel. Iterate from one task."""

    __slots__ = (
        "_channel",
        "_ended",
        "_follow",
        "_queue",
        "_waiter",
        "capacity",
        "kind",
        "start_seq",
        "user_id",
    )

    def __init__(
        self, channel: _RoomChannel, user_id: int, kind: ListenerKind, capacity: int
    ) -> None:
        self._channel = channel
        self.user_id = user_id
        self.kind = kind
        self.capacity = capacity
        # Made on the first queued item: a following listener (the usual, live case)
        # never queues, and an empty deque costs ~600 bytes per subscriber.
        self._queue: deque[Item] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._ended: BaseException | None = None
        self.start_seq = 0
        """The last event seq the channel had seen when this listener attached."""
        self._follow: tuple[Callable[[EventRecord], None], asyncio.Future[None]] | None = None

    def push(self, item: Item) -> None:
        if self._follow is not None:
            self._deliver(item)
            return
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        if self._ended is not None:
            if isinstance(item, _Left):
                # Left after an overflow: end as left, not as lagged (no catch-up).
                self._ended = None
                queue.append(_LEFT)
                waiter = self._waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
            return
        if self.kind == "presence" and item is _PRESENCE and _PRESENCE in queue:
            return  # presence signals coalesce: one pending snapshot is enough
        if len(queue) >= self.capacity:
            # Overflow: the events are dropped (the stream catches up from the log), but
            # a pending "left the room" must survive it, or a user who left would be
            # re-attached by the catch-up and keep receiving the room.
            left = _LEFT in queue
            queue.clear()
            if left or isinstance(item, _Left):
                queue.append(_LEFT)
            else:
                self._ended = Lagged()
        else:
            queue.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def follow(self, callback: Callable[[EventRecord], None]) -> asyncio.Future[None]:
        """Deliver the queued events, then each new one as it is dispatched, by calling
        ``callback`` synchronously: no task switch per subscriber per event.

        The returned future completes when the user leaves the room, or fails with
        :class:`Lagged` (the queue overflowed before following) or with whatever the
        callback raised.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._follow = (callback, done)
        queue = self._queue
        while queue and self._follow is not None:
            self._deliver(queue.popleft())
        if not queue:
            self._queue = None
        if self._follow is not None and self._ended is not None:
            self._follow = None
            done.set_exception(self._ended)
        return done

    def unfollow(self) -> None:
        self._follow = None

    def _deliver(self, item: Item) -> None:
        assert self._follow is not None
        callback, done = self._follow
        if isinstance(item, _Left):
            self._follow = None
            done.set_result(None)
            return
        try:
            callback(item)  # type: ignore[arg-type]
        except Exception as exc:
            self._follow = None
            done.set_exception(exc)

    def __aiter__(self) -> Listener:
        return self

    async def __anext__(self) -> EventRecord | bytes:
        """The next event record (events), typing payload (typing) or ``b""`` (presence).

        Stops when the user left the room; raises :class:`Lagged` after an overflow.
        """
        while True:
            if self._queue:
                item = self._queue.popleft()
                if isinstance(item, _Left):
                    raise StopAsyncIteration
                return item
            if self._ended is not None:
                raise self._ended
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def close(self) -> None:
        self._follow = None
        self._channel.detach(self)


def _split_event(payload: bytes) -> tuple[int, bytes]:
    """``E<seq>\\n<MessageEvent JSON>`` as its seq and JSON."""
    head, _, body = payload.partition(b"\n")
    return int(head[1:]), body


class _RoomChannel:
    """This process's view of one room topic: a broker subscription and its listeners."""

    def __init__(self, hub: RoomHub, room_id: int) -> None:
        self.hub = hub
        self.room_id = room_id
        self.topic = hub.topic(room_id)
        self.listeners: set[Listener] = set()
        self.last_seq = 0
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task = asyncio.ensure_future(self._run())
        self.typing_timers: dict[int, asyncio.TimerHandle] = {}

    async def _run(self) -> None:
        first = True
        delay = 0.05
        while True:
            try:
                async with self.hub.broker.subscribe(self.topic) as subscription:
                    if first:
                        self.last_seq = await self.hub.log.last_seq(self.room_id)
                        first = False
                        self.ready.set_result(None)
                    else:
                        await self._catch_up(None)
                        self._dispatch_all(_PRESENCE, "presence")
                    delay = 0.05
                    subscription.handle_directly(self._take)
                    async for payload in subscription:
                        await self._receive(payload)
            except asyncio.CancelledError:
                raise
            except BrokerClosed:
                return  # the process is shutting down
            except (SubscriptionLost, BrokerError) as exc:
                logger.warning(
                    "room %s: broker subscription lost (%s); resubscribing", self.room_id, exc
                )
            except Exception as exc:
                if not self.ready.done():
                    self.ready.set_exception(exc)
                    return
                logger.exception("room %s: channel failed; resubscribing", self.room_id)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _receive(self, payload: bytes) -> None:
        if self._take(payload):
            return
        # An event past a gap: fill the gap from the log first.
        seq, body = _split_event(payload)
        await self._catch_up(seq)
        self._dispatch_event(seq, body)

    def _take(self, payload: bytes) -> bool:
        """Dispatch ``payload`` now; False for an event past a gap, which needs the log.

        Also called by the broker's publisher while this channel is idle (see
        ``Subscription.handle_directly``): a live event then reaches the sockets in
        the turn of the event loop that stored it.
        """
        kind = payload[:1]
        if kind == b"E":
            seq, body = _split_event(payload)
            if seq > self.last_seq + 1:
                return False
            self._dispatch_event(seq, body)
        elif kind == b"T":
            self._typing(payload[1:])
        elif kind == b"P":
            self._dispatch_all(_PRESENCE, "presence")
        elif kind == b"L":
            user_id = int(payload[1:])
            for listener in list(self.listeners):
                if listener.user_id == user_id:
                    listener.push(_LEFT)
        return True

    async def _catch_up(self, until: int | None) -> None:
        """Fill a gap from the database log (events are committed before publication):
        up to ``until``, or everything stored when it is None."""
        pages = event_pages(self.hub.log, self.room_id, self.last_seq)
        try:
            async for page in pages:
                for seq, payload in page:
                    self._dispatch_event(seq, payload)
                if until is not None and self.last_seq >= until:
                    return
        finally:
            await pages.aclose()

    def _dispatch_event(self, seq: int, payload: bytes) -> None:
        """Dispatch the event ``seq`` unless it has been already (a repeat is dropped)."""
        if seq > self.last_seq:
            self.last_seq = seq
            self._dispatch_all(EventRecord(seq, payload), "events")

    def _dispatch_all(self, item: Item, kind: ListenerKind) -> None:
        count = 0
        for listener in self.listeners:
            if listener.kind == kind:
                listener.push(item)
                count += 1
        if count and kind == "events":
            self.hub.on_dispatch(count)

    def _typing(self, payload: bytes) -> None:
        """Relay a typing change; expire ``isTyping: true`` here after the TTL, so every
        process emits the ``false`` even when the sender's process has gone."""
        event = orjson.loads(payload)
        user_id = int(event["user"]["id"])
        timer = self.typing_timers.pop(user_id, None)
        if timer is not None:
            timer.cancel()
        if event.get("isTyping"):
            expired = orjson.dumps({**event, "isTyping": False})
            self.typing_timers[user_id] = asyncio.get_running_loop().call_later(
                self.hub.typing_ttl, self._typing_expired, user_id, expired
            )
        self._dispatch_all(payload, "typing")

    def _typing_expired(self, user_id: int, payload: bytes) -> None:
        self.typing_timers.pop(user_id, None)
        self._dispatch_all(payload, "typing")

    def detach(self, listener: Listener) -> None:
        self.listeners.discard(listener)
        if not self.listeners and self.hub.channels.get(self.room_id) is self:
            del self.hub.channels[self.room_id]
            self.close()

    def close(self) -> None:
        self.task.cancel()
        for timer in self.typing_timers.values():
            timer.cancel()
        self.typing_timers.clear()


class RoomHub:
    """Publishes room traffic through the broker and fans it out to local listeners."""

    def __init__(
        self,
        broker: Broker,
        log: EventLog,
        *,
        listener_capacity: int = 1000,
        typing_ttl: float = 5.0,
        on_dispatch: Callable[[int], None] = lambda count: None,
        namespace: str = "",
    ) -> None:
        self.broker = broker
        self.namespace = namespace
        """Prefix of every topic, so deployments sharing one Redis never mix rooms."""
        self.on_dispatch = on_dispatch
        """Told how many local subscribers each live message event went to (metrics)."""
        self.log = log
        """Where stored events are read back from to fill gaps."""
        self.listener_capacity = listener_capacity
        self.typing_ttl = typing_ttl
        self.channels: dict[int, _RoomChannel] = {}

    def tables(self) -> Iterator[set[Any] | dict[Any, Any]]:
        """The tables sized by the number of listeners (shrunk after a wave)."""
        yield self.channels
        for channel in self.channels.values():
            yield channel.listeners
            yield channel.typing_timers

    def listener_count(self) -> int:
        """Local listeners over every room (a gauge on /metrics)."""
        return sum(len(channel.listeners) for channel in self.channels.values())

    def topic(self, room_id: int) -> str:
        return f"{self.namespace}room:{room_id}"

    def rooms(self) -> list[int]:
        """The rooms this process has listeners in (of any kind)."""
        return list(self.channels)

    async def attach(self, room_id: int, user_id: int, kind: ListenerKind) -> Listener:
        """A listener that receives everything published to the room from now on.

        Returns once the broker subscription is in place, so an event published
        after this returns is delivered.
        """
        channel = self.channels.get(room_id)
        if channel is None:
            channel = self.channels[room_id] = _RoomChannel(self, room_id)
        listener = Listener(channel, user_id, kind, self.listener_capacity)
        channel.listeners.add(listener)
        try:
            await asyncio.shield(channel.ready)
        except BaseException:
            channel.detach(listener)
            raise
        listener.start_seq = channel.last_seq
        return listener

    async def _publish(self, room_id: int, payload: bytes) -> None:
        try:
            await self.broker.publish(self.topic(room_id), payload)
        except BrokerUnavailable as exc:
            # The change is stored; subscribers fill the gap from the log later.
            logger.warning("room %s: publish failed (%s)", room_id, exc)

    async def publish_event(self, room_id: int, seq: int, event_json: bytes) -> None:
        await self._publish(room_id, b"E%d\n" % seq + event_json)

    async def publish_typing(self, room_id: int, event_json: bytes) -> None:
        await self._publish(room_id, b"T" + event_json)

    async def publish_presence(self, room_id: int) -> None:
        await self._publish(room_id, b"P")

    async def publish_left(self, room_id: int, user_id: int) -> None:
        await self._publish(room_id, b"L%d" % user_id)

    async def aclose(self) -> None:
        channels = list(self.channels.values())
        self.channels.clear()
        for channel in channels:
            channel.close()
        for channel in channels:
            with contextlib.suppress(BaseException):
                await channel.task
