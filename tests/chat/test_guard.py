"""SessionGuard: the per-call session cache, endings through the broker (two guards on one
broker stand for two processes), and open connections ended on revocation or expiry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from wirechat.broker import BrokerUnavailable, MemoryBroker
from wirechat.chat.guard import SESSION_ENDED, TOKEN_EXPIRED, SessionGuard
from wirechat.rpc import Connection, RPCError


class FakeConnection(Connection):
    """Records what the guard did to it; ``close()`` runs the close callbacks."""

    def __init__(self) -> None:
        self.ended: list[RPCError | None] = []
        self.callbacks: list[Callable[[], None]] = []

    def replace_context(self, ctx: Any) -> None:
        raise AssertionError("the guard never swaps contexts")

    def end_subscriptions(self, error: RPCError | None = None) -> None:
        self.ended.append(error)

    def on_close(self, callback: Callable[[], None]) -> None:
        self.callbacks.append(callback)

    def close(self) -> None:
        for callback in self.callbacks:
            callback()


class Database:
    """The sessions table as the guard sees it; counts the lookups."""

    def __init__(self) -> None:
        self.ended: set[int] = set()
        self.lookups = 0
        self.gate: asyncio.Event | None = None

    async def is_live(self, session_id: int) -> bool:
        self.lookups += 1
        live = session_id not in self.ended
        if self.gate is not None:
            await self.gate.wait()
        return live

    async def ended_among(self, session_ids: list[int]) -> list[int]:
        return [i for i in session_ids if i in self.ended]


@pytest.fixture
def broker() -> MemoryBroker:
    return MemoryBroker()


@pytest.fixture
def db() -> Database:
    return Database()


@pytest.fixture
async def make_guard(broker: MemoryBroker, db: Database) -> AsyncIterator[Callable[..., Any]]:
    guards: list[SessionGuard] = []

    async def make(grace: float = 60.0) -> SessionGuard:
        guard = SessionGuard(broker, db.is_live, db.ended_among, grace=grace, namespace="t:")
        await guard.start()
        guards.append(guard)
        return guard

    yield make
    for guard in guards:
        await guard.aclose()


async def until(predicate: Callable[[], bool], within: float = 2.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


def codes(connection: FakeConnection) -> list[str | None]:
    return [None if e is None else f"{e.code.name}: {e.message}" for e in connection.ended]


async def test_a_session_is_read_from_the_database_once_then_cached(
    make_guard: Callable[..., Any], db: Database
) -> None:
    guard = await make_guard()
    assert guard.cached(1) is None
    assert await guard.is_live(1)
    assert guard.cached(1) is True
    assert await guard.is_live(1)
    assert db.lookups == 1
    db.ended.add(2)
    assert not await guard.is_live(2)
    assert guard.cached(2) is False


async def test_revoke_is_seen_by_every_guard_on_the_broker(
    make_guard: Callable[..., Any], db: Database
) -> None:
    here, there = await make_guard(), await make_guard()
    assert await there.is_live(7)
    db.ended.add(7)
    await here.revoke([7])
    assert here.cached(7) is False  # at once where it was ended
    await until(lambda: there.cached(7) is False)


async def test_an_ending_that_arrives_during_a_lookup_wins(
    make_guard: Callable[..., Any], db: Database
) -> None:
    guard = await make_guard()
    db.gate = asyncio.Event()
    lookup = asyncio.ensure_future(guard.is_live(3))  # reads "live", then waits
    await until(lambda: db.lookups == 1)
    await guard.revoke([3])
    db.gate.set()
    assert await lookup is False
    assert guard.cached(3) is False


async def test_revoke_ends_the_watched_connections_of_those_sessions_only(
    make_guard: Callable[..., Any],
) -> None:
    here, there = await make_guard(), await make_guard()
    mine, other, remote = FakeConnection(), FakeConnection(), FakeConnection()
    far = time.time() + 3600
    here.watch(mine, "ws", 1, far)
    here.watch(other, "sse", 2, far)
    there.watch(remote, "sse", 1, far)
    await here.revoke([1])
    assert codes(mine) == [f"UNAUTHORIZED: {SESSION_ENDED}"]
    await until(lambda: bool(remote.ended))
    assert codes(remote) == [f"UNAUTHORIZED: {SESSION_ENDED}"]
    assert other.ended == []
    assert (here.watched, there.watched) == (1, 0)


async def test_watching_a_connection_of_an_ended_session_ends_it_at_once(
    make_guard: Callable[..., Any],
) -> None:
    guard = await make_guard()
    await guard.revoke([4])
    connection = FakeConnection()
    guard.watch(connection, "ws", 4, time.time() + 3600)
    assert codes(connection) == [f"UNAUTHORIZED: {SESSION_ENDED}"]
    assert guard.watched == 0


async def test_a_websocket_whose_token_expired_is_ended_with_unauthorized_after_the_grace(
    make_guard: Callable[..., Any],
) -> None:
    guard = await make_guard(grace=0.2)
    connection = FakeConnection()
    started = time.monotonic()
    guard.watch(connection, "ws", 1, time.time() + 0.1)
    await until(lambda: bool(connection.ended))
    assert time.monotonic() - started >= 0.25
    assert codes(connection) == [f"UNAUTHORIZED: {TOKEN_EXPIRED}"]
    assert guard.watched == 0


async def test_an_sse_stream_whose_token_expired_is_closed_without_an_error(
    make_guard: Callable[..., Any],
) -> None:
    guard = await make_guard(grace=0.05)
    connection = FakeConnection()
    guard.watch(connection, "sse", 1, time.time())
    await until(lambda: bool(connection.ended))
    assert connection.ended == [None]


async def test_watching_again_with_a_fresh_token_moves_the_connection_and_its_deadline(
    make_guard: Callable[..., Any],
) -> None:
    guard = await make_guard(grace=0.1)
    connection = FakeConnection()
    guard.watch(connection, "ws", 1, time.time())
    guard.watch(connection, "ws", 2, time.time() + 3600)  # an in-band refresh
    await asyncio.sleep(0.3)
    assert connection.ended == []
    await guard.revoke([1])
    assert connection.ended == []
    await guard.revoke([2])
    assert codes(connection) == [f"UNAUTHORIZED: {SESSION_ENDED}"]


async def test_a_closed_connection_is_forgotten(make_guard: Callable[..., Any]) -> None:
    guard = await make_guard(grace=0.05)
    connection = FakeConnection()
    guard.watch(connection, "ws", 1, time.time())
    connection.close()
    assert guard.watched == 0
    await asyncio.sleep(0.15)
    await guard.revoke([1])
    assert connection.ended == []


async def test_after_a_broker_reset_cached_answers_are_dropped_and_watched_sessions_rechecked(
    make_guard: Callable[..., Any], broker: MemoryBroker, db: Database
) -> None:
    guard = await make_guard()
    connection = FakeConnection()
    assert await guard.is_live(5)
    assert await guard.is_live(6)
    guard.watch(connection, "ws", 5, time.time() + 3600)
    # Both end while the subscription is down: nobody hears of it.
    db.ended.update({5, 6})
    broker.simulate_reset()
    await until(lambda: bool(connection.ended))
    assert codes(connection) == [f"UNAUTHORIZED: {SESSION_ENDED}"]
    assert guard.cached(6) is None
    assert not await guard.is_live(6)


async def test_a_malformed_payload_on_the_topic_is_ignored(
    make_guard: Callable[..., Any], broker: MemoryBroker
) -> None:
    guard = await make_guard()
    await broker.publish(guard.topic, b"Enot,numbers")
    await broker.publish(guard.topic, b"?")
    await guard.revoke([8])
    assert guard.cached(8) is False
    assert await guard.is_live(9)


class _Unreachable:
    async def __aenter__(self) -> None:
        raise BrokerUnavailable("subscribe")

    async def __aexit__(self, *exc: object) -> None:
        return None


class DownAtFirst:
    """A memory broker whose first ``failures`` subscriptions cannot be entered."""

    def __init__(self, inner: MemoryBroker, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def subscribe(self, topic: str) -> Any:
        if self.failures:
            self.failures -= 1
            return _Unreachable()
        return self.inner.subscribe(topic)

    async def publish(self, topic: str, payload: bytes) -> None:
        await self.inner.publish(topic, payload)


async def test_a_broker_down_at_start_does_not_hold_the_process_and_is_caught_up_with(
    broker: MemoryBroker, db: Database
) -> None:
    guard = SessionGuard(
        DownAtFirst(broker, failures=2),  # type: ignore[arg-type]
        db.is_live,
        db.ended_among,
        grace=60,
    )
    await asyncio.wait_for(guard.start(), 1)
    connection = FakeConnection()
    guard.watch(connection, "ws", 5, time.time() + 3600)
    db.ended.add(5)  # ended while the guard could not hear of it
    try:
        await until(lambda: bool(connection.ended))
        assert codes(connection) == [f"UNAUTHORIZED: {SESSION_ENDED}"]
    finally:
        await guard.aclose()
