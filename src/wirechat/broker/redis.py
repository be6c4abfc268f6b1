"""Redis pub/sub broker: fan-out across every process that shares one Redis.

Per process there is one pub/sub connection, shared by all local subscriptions, and a
pool for PUBLISH. Three tasks run while the broker is in use: a supervisor that
(re)connects with capped exponential backoff, and, per connection, one reader that
dispatches messages to local subscriptions and one writer, the only task that sends
SUBSCRIBE/UNSUBSCRIBE/PING. A single writer keeps commands in the order they were
decided, and keeps a cancelled subscriber from ever interrupting a write on the shared
connection (redis-py drops a connection whose write was cancelled).

Reset signalling: when the pub/sub connection drops, every subscription that had been
promised delivery (its ``async with`` entered) is ended with ``BrokerReset`` as soon as
its channel is subscribed again on the new connection. Subscriptions still waiting to
enter simply wait for the new connection, up to the timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.maint_notifications import MaintNotificationsConfig

from .errors import BrokerClosed, BrokerReset, BrokerUnavailable
from .subscription import DEFAULT_CAPACITY, Subscription

__all__ = ["RedisBroker"]

logger = logging.getLogger(__name__)

_MESSAGE = b"message"
_ACKS = (b"subscribe", b"unsubscribe")


class _Channel:
    """The local subscriptions of one Redis channel and whether Redis confirmed it."""

    __slots__ = ("confirmed", "lost_at", "stale", "subscriptions")

    def __init__(self) -> None:
        self.subscriptions: dict[Subscription, None] = {}
        # Set while the current connection is subscribed to the channel and no
        # SUBSCRIBE/UNSUBSCRIBE for it is in flight; entering a subscription waits on it.
        self.confirmed = asyncio.Event()
        # Subscriptions that were promised delivery when the connection dropped; they
        # end with BrokerReset once the channel is confirmed again.
        self.stale: set[Subscription] = set()
        self.lost_at = 0.0


class RedisBroker:
    """Broker over Redis pub/sub (redis-py asyncio), for several processes.

    A process listens to a channel only while it has local subscribers: SUBSCRIBE when
    the first one enters, UNSUBSCRIBE after the last one leaves. Payloads are published
    and delivered as the exact bytes given. The broker connects on first use (publish,
    subscribe or ping) and keeps reconnecting, with backoff from ``backoff_initial``
    doubling to ``backoff_max`` seconds, until ``aclose()``.

    Limits: Redis pub/sub is fire-and-forget; anything published while a process is
    disconnected is lost to it, which its subscriptions learn through ``BrokerReset``.
    Ordering holds per publisher and channel. The pub/sub connection uses RESP2 and
    ignores the URL's database number (channels are global to a Redis server).
    """

    def __init__(
        self,
        url: str,
        *,
        capacity: int = DEFAULT_CAPACITY,
        timeout: float = 1.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 2.0,
        keepalive_interval: float = 10.0,
        client_name: str | None = None,
    ) -> None:
        """Prepare a broker for ``url`` (``redis://`` or ``rediss://``); no I/O yet.

        ``capacity``: payloads each subscription may buffer before it overflows.
        ``timeout``: seconds a publish, a subscription's registration or a ping may take
        before ``BrokerUnavailable`` (``False`` for ping).
        ``keepalive_interval``: after this many idle seconds the pub/sub connection is
        PINGed; no answer within another interval counts as a lost connection, which
        catches peers that vanished without closing the socket.
        ``client_name``: set with CLIENT SETNAME on every connection, to find this
        process's connections in CLIENT LIST.
        """
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._timeout = timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._keepalive_interval = keepalive_interval
        # One retry covers a pooled connection that died while idle.
        self._client = Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
            client_name=client_name,
        )
        # No retries here: the supervisor owns reconnection and its backoff. Maintenance
        # notifications need RESP3, which the pub/sub connection does not speak.
        self._sub_pool = ConnectionPool.from_url(
            url,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            client_name=client_name,
            protocol=2,
            maint_notifications_config=MaintNotificationsConfig(enabled=False),
        )
        # Pinned after construction because query options in the URL override keyword
        # arguments. No socket_timeout: with one, redis-py writes through asyncio.wait_for,
        # which on Python 3.11 can swallow a cancellation and leave a task running after
        # aclose(); asyncio.timeout bounds every operation instead. RESP2 with byte
        # replies on the pub/sub connection: RESP3 would route messages to a push handler.
        self._client.connection_pool.connection_kwargs.update(socket_timeout=None)
        self._sub_pool.connection_kwargs.update(
            socket_timeout=None, protocol=2, decode_responses=False
        )
        self._channels: dict[str, _Channel] = {}
        # What the server will be subscribed to once the commands sent so far are
        # processed, and how many SUBSCRIBE/UNSUBSCRIBE replies per channel are awaited.
        self._server: set[str] = set()
        self._in_flight: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._ping_due = False
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def healthy(self) -> bool:
        """True while the pub/sub connection is up; False before first use and after close."""
        return not self._closed and self._connected.is_set()

    async def publish(self, topic: str, payload: bytes) -> None:
        """PUBLISH ``payload`` to ``topic`` as given.

        Raises ``BrokerUnavailable`` if Redis does not answer within ``timeout`` and
        ``BrokerClosed`` after ``aclose()``.
        """
        if self._closed:
            raise BrokerClosed
        self._start()
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.publish(topic, payload)
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            raise BrokerUnavailable("publish", exc) from exc

    def subscribe(self, topic: str) -> Subscription:
        """Return a subscription to ``topic``.

        Entering it returns once Redis acknowledged the SUBSCRIBE (or once this process
        was already subscribed), so a payload published afterwards is delivered. It
        raises ``BrokerUnavailable`` after ``timeout`` without that acknowledgement.
        """
        return Subscription(
            topic, capacity=self._capacity, attach=self._attach, detach=self._detach
        )

    async def ping(self) -> bool:
        """True if Redis answers PING and the pub/sub connection is up within ``timeout``."""
        if self._closed:
            return False
        self._start()
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.ping()
                await self._connected.wait()
        except (RedisError, OSError):
            return False
        return True

    async def aclose(self) -> None:
        """End live subscriptions with ``BrokerClosed``, stop all tasks, close connections."""
        if self._closed:
            return
        self._closed = True
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            for subscription in channel.subscriptions:
                subscription.interrupt(BrokerClosed())
            # Wakes subscriptions still entering; they see the broker closed.
            channel.confirmed.set()
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        self._connected.clear()
        await self._client.aclose()
        await self._sub_pool.aclose()

    # Local registration, called by Subscription.

    async def _attach(self, subscription: Subscription) -> None:
        if self._closed:
            raise BrokerClosed
        self._start()
        topic = subscription.topic
        channel = self._channels.get(topic)
        if channel is None:
            channel = self._channels[topic] = _Channel()
        channel.subscriptions[subscription] = None
        self._mark_dirty(topic)
        try:
            async with asyncio.timeout(self._timeout):
                await channel.confirmed.wait()
        except TimeoutError:
            self._detach(subscription)
            raise BrokerUnavailable("subscribe") from None
        except BaseException:
            self._detach(subscription)
            raise
        if self._closed:
            raise BrokerClosed

    def _detach(self, subscription: Subscription) -> None:
        topic = subscription.topic
        channel = self._channels.get(topic)
        if channel is None or subscription not in channel.subscriptions:
            return
        del channel.subscriptions[subscription]
        channel.stale.discard(subscription)
        if not channel.subscriptions:
            del self._channels[topic]
            self._mark_dirty(topic)

    def _mark_dirty(self, topic: str) -> None:
        self._dirty.add(topic)
        self._wake.set()

    # Connection lifecycle.

    def _start(self) -> None:
        if self._supervisor is None and not self._closed:
            self._supervisor = asyncio.create_task(
                self._supervise(), name="wirechat.broker.redis.supervisor"
            )

    async def _supervise(self) -> None:
        delay = self._backoff_initial
        first_attempt = True
        while True:
            if not first_attempt:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff_max)
            first_attempt = False
            conn: AbstractConnection = self._sub_pool.make_connection()  # type: ignore[no-untyped-call]
            try:
                async with asyncio.timeout(self._timeout):
                    await conn.connect()  # type: ignore[no-untyped-call]
            except (RedisError, OSError) as exc:
                logger.warning("Redis pub/sub connect failed, retrying in %.2fs: %s", delay, exc)
                await conn.disconnect(nowait=True)
                continue
            except Exception:
                logger.exception("Redis pub/sub connect failed, retrying in %.2fs", delay)
                await conn.disconnect(nowait=True)
                continue
            delay = self._backoff_initial
            await self._serve(conn)

    async def _serve(self, conn: AbstractConnection) -> None:
        """Run one connection's reader and writer until either stops, then tear down."""
        self._on_connected()
        reader = asyncio.create_task(self._read(conn), name="wirechat.broker.redis.reader")
        writer = asyncio.create_task(self._write(conn), name="wirechat.broker.redis.writer")
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if isinstance(exc, (RedisError, OSError)):
                    logger.warning("Redis pub/sub connection lost, reconnecting: %s", exc)
                elif exc is not None:
                    logger.error("Redis pub/sub connection failed, reconnecting", exc_info=exc)
        finally:
            reader.cancel()
            writer.cancel()
            await conn.disconnect(nowait=True)
            # The writer also stops by itself once woken on a closed connection, in case
            # a library call swallowed its cancellation.
            self._wake.set()
            await asyncio.gather(reader, writer, return_exceptions=True)
            self._on_disconnected()

    def _on_connected(self) -> None:
        self._server.clear()
        self._in_flight.clear()
        self._ping_due = False
        self._dirty.update(self._channels)
        self._wake.set()
        self._connected.set()
        logger.info("Redis pub/sub connected; listening to %d channels", len(self._channels))

    def _on_disconnected(self) -> None:
        self._connected.clear()
        self._server.clear()
        self._in_flight.clear()
        now = asyncio.get_running_loop().time()
        for channel in self._channels.values():
            if channel.confirmed.is_set():
                channel.confirmed.clear()
                channel.stale.update(channel.subscriptions)
                channel.lost_at = now

    # Per-connection tasks.

    async def _write(self, conn: AbstractConnection) -> None:
        while True:
            await self._wake.wait()
            if not conn.is_connected:
                return
            self._wake.clear()
            subscribe, unsubscribe = self._take_changes()
            # A topic is in at most one list, so the two commands may go in either order.
            if subscribe:
                await conn.send_command("SUBSCRIBE", *subscribe, check_health=False)
            if unsubscribe:
                await conn.send_command("UNSUBSCRIBE", *unsubscribe, check_health=False)
            if self._ping_due:
                self._ping_due = False
                await conn.send_command("PING", check_health=False)

    def _take_changes(self) -> tuple[list[str], list[str]]:
        """Decide the commands that bring the server to the wanted channels; no I/O."""
        subscribe: list[str] = []
        unsubscribe: list[str] = []
        dirty, self._dirty = self._dirty, set()
        for topic in dirty:
            wanted = topic in self._channels
            if wanted and topic not in self._server:
                self._server.add(topic)
                subscribe.append(topic)
            elif not wanted and topic in self._server:
                self._server.discard(topic)
                unsubscribe.append(topic)
            else:
                self._confirm_if_settled(topic)
                continue
            self._in_flight[topic] = self._in_flight.get(topic, 0) + 1
        return subscribe, unsubscribe

    async def _read(self, conn: AbstractConnection) -> None:
        awaiting_pong = False
        while True:
            reply: Any = await conn.read_response(timeout=self._keepalive_interval)
            if reply is None:
                # An explicit read timeout returns None; no pub/sub reply is ever None.
                if awaiting_pong:
                    raise RedisConnectionError("no reply to PING on the pub/sub connection")
                awaiting_pong = True
                self._ping_due = True
                self._wake.set()
                continue
            awaiting_pong = False
            # Replies are [kind, channel, data]; PING answers ["pong", ""], or "PONG"
            # when no channel is subscribed, and needs nothing beyond resetting the timer.
            if not isinstance(reply, list) or len(reply) != 3:
                continue
            kind = reply[0]
            if kind == _MESSAGE:
                channel = self._channels.get(reply[1].decode())
                if channel is not None:
                    self._dispatch(channel.subscriptions, reply[2])
            elif kind in _ACKS:
                self._acknowledged(reply[1].decode())

    @staticmethod
    def _dispatch(subscriptions: Iterable[Subscription], payload: bytes) -> None:
        for subscription in subscriptions:
            subscription.deliver(payload)

    def _acknowledged(self, topic: str) -> None:
        # Redis answers commands on one connection in order, one reply per channel, so a
        # count per channel is enough to know when the last command sent has taken effect.
        remaining = self._in_flight.get(topic, 0) - 1
        if remaining > 0:
            self._in_flight[topic] = remaining
            return
        self._in_flight.pop(topic, None)
        self._confirm_if_settled(topic)

    def _confirm_if_settled(self, topic: str) -> None:
        channel = self._channels.get(topic)
        if channel is None or topic not in self._server or topic in self._in_flight:
            return
        channel.confirmed.set()
        if channel.stale:
            down_for = asyncio.get_running_loop().time() - channel.lost_at
            stale, channel.stale = channel.stale, set()
            for subscription in stale:
                subscription.interrupt(BrokerReset(topic, down_for))
