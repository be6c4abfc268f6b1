"""RedisBroker beyond the shared contract: one connection per process, outages, cleanup.

Outages are staged with ``RedisProxy``, a TCP proxy in front of the test Redis, so the
shared Redis is never stopped or paused. The one ``CLIENT KILL`` kills only this test's
pub/sub connection (found by client name), not other suites' running alongside.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis

from support.net import free_port
from wirechat.broker import BrokerReset, BrokerUnavailable
from wirechat.broker.redis import RedisBroker

from .conftest import next_payload, other_tasks, wait_until

pytestmark = pytest.mark.redis


class RedisProxy:
    """Forward TCP to the test Redis, or fail the way networks and servers do.

    ``stop()``/``start()`` act like Redis going down and coming back on the same port;
    ``mode = "blackhole"`` keeps sockets open but drops every byte (a vanished peer);
    ``mode = "refuse"`` accepts then closes at once. ``accepted`` records the loop time of
    each incoming connection.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = "forward"
        self.accepted: list[float] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()
        self._server = None

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.accepted.append(asyncio.get_running_loop().time())
        if self.mode == "refuse":
            client_w.transport.abort()
            return
        upstream_r, upstream_w = await asyncio.open_connection(*self.target)
        self._writers.update((client_w, upstream_w))
        with contextlib.suppress(OSError):
            await asyncio.gather(self._pipe(client_r, upstream_w), self._pipe(upstream_r, client_w))
        for writer in (client_w, upstream_w):
            self._writers.discard(writer)
            writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if self.mode == "forward":
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[RedisProxy]:
    target = urlsplit(redis_url)
    proxy = RedisProxy((target.hostname or "127.0.0.1", target.port or 6379))
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def brokers() -> AsyncIterator[list[RedisBroker]]:
    """Collects the brokers a test builds and closes them afterwards."""
    created: list[RedisBroker] = []
    yield created
    for broker in created:
        await broker.aclose()


async def numsub(admin: aioredis.Redis, topic: str) -> int:
    [(_, count)] = await admin.pubsub_numsub(topic)
    return int(count)


async def kill_pubsub_connection(admin: aioredis.Redis, client_name: str) -> None:
    """CLIENT KILL TYPE pubsub, narrowed to the connection named ``client_name``."""
    [client] = [c for c in await admin.client_list(_type="pubsub") if c["name"] == client_name]
    assert await admin.client_kill_filter(_id=client["id"], _type="pubsub") == 1


class ChannelTests:
    """A process subscribes a channel once, while it has local subscribers."""


async def test_process_subscribes_a_channel_once_and_unsubscribes_after_last_leaves(
    redis_url: str, admin: aioredis.Redis, brokers: list[RedisBroker], topic: str
) -> None:
    broker = RedisBroker(redis_url)
    brokers.append(broker)
    async with broker.subscribe(topic) as first:
        assert await admin.pubsub_channels(topic) == [topic.encode()]
        async with broker.subscribe(topic):
            # Two local subscribers share the process's one pub/sub connection.
            assert await numsub(admin, topic) == 1
        assert await numsub(admin, topic) == 1
        await broker.publish(topic, b"still listening")
        assert await next_payload(first) == b"still listening"

    async def unsubscribed() -> bool:
        return await admin.pubsub_channels(topic) == []

    await wait_until(unsubscribed)


async def test_two_brokers_act_as_two_processes(
    redis_url: str, admin: aioredis.Redis, brokers: list[RedisBroker], topic: str
) -> None:
    a, b = RedisBroker(redis_url), RedisBroker(redis_url)
    brokers.extend((a, b))
    async with b.subscribe(topic) as on_b:
        await a.publish(topic, b"from a")
        assert await next_payload(on_b) == b"from a"
        async with a.subscribe(topic) as on_a:
            assert await numsub(admin, topic) == 2
            await b.publish(topic, b"from b")
            assert await next_payload(on_a) == b"from b"
            assert await next_payload(on_b) == b"from b"


async def test_payloads_interoperate_with_plain_redis_clients(
    redis_url: str, admin: aioredis.Redis, brokers: list[RedisBroker], topic: str
) -> None:
    broker = RedisBroker(redis_url)
    brokers.append(broker)
    payload = b'\x00\xff{"k":"\xc3\xa9"}'
    async with broker.subscribe(topic) as sub:
        await admin.publish(topic, payload)
        assert await next_payload(sub) == payload
    async with admin.pubsub() as raw:
        await raw.subscribe(topic)
        await broker.publish(topic, payload)
        message = await raw.get_message(ignore_subscribe_messages=True, timeout=2)
        while message is None:
            message = await raw.get_message(ignore_subscribe_messages=True, timeout=2)
        assert message["data"] == payload


async def test_url_options_cannot_break_the_pubsub_connection(
    redis_url: str, brokers: list[RedisBroker], topic: str
) -> None:
    broker = RedisBroker(f"{redis_url}?socket_timeout=5&protocol=3&decode_responses=true")
    brokers.append(broker)
    async with broker.subscribe(topic) as sub:
        await broker.publish(topic, b"\xff raw")
        assert await next_payload(sub) == b"\xff raw"


class ResetTests:
    """A lost pub/sub connection is re-established and every live subscriber told."""


async def test_killed_pubsub_connection_resets_subscriptions_then_delivers_again(
    redis_url: str, admin: aioredis.Redis, brokers: list[RedisBroker], topic: str
) -> None:
    name = f"wirechat-test-{uuid.uuid4().hex[:12]}"
    # A long first backoff keeps the broker visibly unhealthy while it waits to reconnect.
    broker = RedisBroker(redis_url, client_name=name, backoff_initial=0.5)
    brokers.append(broker)
    async with broker.subscribe(topic) as sub:
        await broker.publish(topic, b"before")
        await wait_until(lambda: sub.pending == 1)
        assert broker.healthy

        await kill_pubsub_connection(admin, name)
        await wait_until(lambda: not broker.healthy)
        await wait_until(lambda: broker.healthy)

        # Everything received before the loss comes first; then the reset marks the gap.
        assert await next_payload(sub) == b"before"
        with pytest.raises(BrokerReset) as excinfo:
            await next_payload(sub)
        assert excinfo.value.topic == topic
        assert excinfo.value.down_for >= 0.5
        # The channel is listened to again before the reset is raised.
        assert await numsub(admin, topic) == 1

    async with broker.subscribe(topic) as sub:
        await broker.publish(topic, b"after")
        assert await next_payload(sub) == b"after"


async def test_subscription_entered_after_reconnect_is_not_reset(
    redis_url: str, admin: aioredis.Redis, brokers: list[RedisBroker], topic: str
) -> None:
    name = f"wirechat-test-{uuid.uuid4().hex[:12]}"
    broker = RedisBroker(redis_url, client_name=name)
    brokers.append(broker)
    async with broker.subscribe(topic) as old:
        await kill_pubsub_connection(admin, name)
        with pytest.raises(BrokerReset):
            await next_payload(old)
        async with broker.subscribe(topic) as new:
            await broker.publish(topic, b"one")
            await broker.publish(topic, b"two")
            assert [await next_payload(new), await next_payload(new)] == [b"one", b"two"]


async def test_redis_outage_fails_fast_then_recovers_with_reset(
    proxy: RedisProxy, brokers: list[RedisBroker], topic: str
) -> None:
    broker = RedisBroker(proxy.url, timeout=0.5, backoff_initial=0.05, backoff_max=0.2)
    brokers.append(broker)
    async with broker.subscribe(topic) as sub:
        await proxy.stop()
        await wait_until(lambda: not broker.healthy)

        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(BrokerUnavailable):
            await broker.publish(topic, b"lost")
        with pytest.raises(BrokerUnavailable):
            async with broker.subscribe(f"{topic}:new"):
                pass
        assert await broker.ping() is False
        assert loop.time() - started < 2.0

        await proxy.start()
        with pytest.raises(BrokerReset):
            await next_payload(sub, within=3)
        assert broker.healthy
        assert await broker.ping() is True

    async with broker.subscribe(topic) as sub:
        await broker.publish(topic, b"back")
        assert await next_payload(sub) == b"back"


async def test_silent_connection_loss_is_detected_by_keepalive(
    proxy: RedisProxy, brokers: list[RedisBroker], topic: str
) -> None:
    broker = RedisBroker(proxy.url, timeout=0.5, keepalive_interval=0.2, backoff_initial=0.05)
    brokers.append(broker)
    async with broker.subscribe(topic) as sub:
        proxy.mode = "blackhole"
        # Idle 0.2 s, PING, no answer within another 0.2 s: the connection counts as lost.
        await wait_until(lambda: not broker.healthy, within=2)
        proxy.mode = "forward"
        with pytest.raises(BrokerReset):
            await next_payload(sub, within=3)
        assert broker.healthy


async def test_reconnect_backs_off_exponentially_up_to_the_cap(
    proxy: RedisProxy, brokers: list[RedisBroker], topic: str
) -> None:
    proxy.mode = "refuse"
    broker = RedisBroker(proxy.url, timeout=0.2, backoff_initial=0.05, backoff_max=0.2)
    brokers.append(broker)
    # Entering a subscription starts the pub/sub connection; PUBLISH and PING would also
    # open pooled connections through the proxy and blur the count.
    with pytest.raises(BrokerUnavailable):
        async with broker.subscribe(topic):
            pass
    await wait_until(lambda: len(proxy.accepted) >= 6, within=3)
    gaps = [b - a for a, b in zip(proxy.accepted, proxy.accepted[1:], strict=False)][:5]
    expected = [0.05, 0.1, 0.2, 0.2, 0.2]
    for gap, delay in zip(gaps, expected, strict=True):
        assert delay * 0.9 <= gap < delay + 0.15
    assert not broker.healthy


class LifecycleTests:
    """Failing fast when Redis is unreachable, and leaving nothing behind."""


async def test_unreachable_redis_fails_fast_and_closes_cleanly(topic: str) -> None:
    broker = RedisBroker(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(BrokerUnavailable):
        await broker.publish(topic, b"x")
    assert loop.time() - started < 1.0
    with pytest.raises(BrokerUnavailable):
        async with broker.subscribe(topic):
            pass
    assert broker.healthy is False
    assert await broker.ping() is False
    await broker.aclose()
    assert other_tasks() == set()


async def test_cancelled_subscribe_does_not_subscribe_the_channel(
    proxy: RedisProxy, admin: aioredis.Redis, brokers: list[RedisBroker], topic: str
) -> None:
    broker = RedisBroker(proxy.url, timeout=5, backoff_initial=0.05, backoff_max=0.1)
    brokers.append(broker)
    await proxy.stop()

    async def enter() -> None:
        async with broker.subscribe(topic):
            pytest.fail("entered while Redis was down")

    entering = asyncio.create_task(enter())
    await asyncio.sleep(0.1)
    entering.cancel()
    with pytest.raises(asyncio.CancelledError):
        await entering

    await proxy.start()
    # Once another channel is confirmed, the cancelled one would have been sent with it.
    async with broker.subscribe(f"{topic}:probe"):
        assert await numsub(admin, topic) == 0


async def test_aclose_cancels_background_tasks(
    redis_url: str, admin: aioredis.Redis, topic: str
) -> None:
    name = f"wirechat-test-{uuid.uuid4().hex[:12]}"
    broker = RedisBroker(redis_url, client_name=name)
    async with broker.subscribe(topic) as sub:
        await broker.publish(topic, b"x")
        assert await next_payload(sub) == b"x"
        assert {task.get_name() for task in other_tasks()} == {
            "wirechat.broker.redis.supervisor",
            "wirechat.broker.redis.reader",
            "wirechat.broker.redis.writer",
        }
    await broker.aclose()
    assert other_tasks() == set()
    assert name not in {client["name"] for client in await admin.client_list()}


async def test_aclose_while_reconnecting_leaves_no_tasks(proxy: RedisProxy, topic: str) -> None:
    broker = RedisBroker(proxy.url, backoff_initial=0.05)
    async with broker.subscribe(topic):
        await proxy.stop()
        await wait_until(lambda: not broker.healthy)
        await broker.aclose()
    assert other_tasks() == set()
