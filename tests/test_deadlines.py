"""Deadlines: many deadlines on one loop timer, in order, moved, dropped, and bounded."""

from __future__ import annotations

import asyncio
import weakref

import pytest

from wirechat.deadlines import Deadlines


async def _settle(seconds: float = 0.08) -> None:
    await asyncio.sleep(seconds)


async def test_keys_expire_in_deadline_order_once_each() -> None:
    fired: list[str] = []
    deadlines: Deadlines[str] = Deadlines(fired.append)
    now = asyncio.get_running_loop().time()
    deadlines.set("c", now + 0.03)
    deadlines.set("a", now + 0.01)
    deadlines.set("b", now + 0.02)
    assert len(deadlines) == 3 and "a" in deadlines
    await _settle()
    assert fired == ["a", "b", "c"]
    assert len(deadlines) == 0 and "a" not in deadlines


async def test_a_moved_deadline_counts_and_a_dropped_one_never_fires() -> None:
    fired: list[str] = []
    deadlines: Deadlines[str] = Deadlines(fired.append)
    now = asyncio.get_running_loop().time()
    deadlines.set("later", now + 0.01)
    deadlines.set("later", now + 0.05)  # moved out: the first entry is stale
    deadlines.set("dropped", now + 0.01)
    deadlines.discard("dropped")
    deadlines.discard("never set")
    deadlines.set("sooner", now + 3600)
    deadlines.set("sooner", now + 0.02)  # moved in: the timer is re-armed earlier
    await asyncio.sleep(0.035)
    assert fired == ["sooner"]
    await _settle()
    assert fired == ["sooner", "later"]


async def test_one_timer_serves_every_key() -> None:
    deadlines: Deadlines[int] = Deadlines(lambda key: None)
    now = asyncio.get_running_loop().time()
    for i in range(100):
        deadlines.set(i, now + 10 + i)
    timer = deadlines._timer
    assert timer is not None and timer.when() == pytest.approx(now + 10)
    deadlines.set(1000, now + 5)
    assert deadlines._timer is not timer and timer.cancelled()
    deadlines.clear()
    assert deadlines._timer is None and len(deadlines) == 0


async def test_the_last_key_dropped_cancels_the_timer() -> None:
    deadlines: Deadlines[str] = Deadlines(lambda key: None)
    deadlines.set("only", asyncio.get_running_loop().time() + 60)
    timer = deadlines._timer
    assert timer is not None
    deadlines.discard("only")
    assert timer.cancelled() and deadlines._timer is None


async def test_expired_may_set_keys_and_a_failing_one_does_not_stop_the_rest() -> None:
    fired: list[str] = []

    def expired(key: str) -> None:
        fired.append(key)
        if key == "again":
            deadlines.set("again-2", asyncio.get_running_loop().time() + 0.01)
        if key == "broken":
            raise RuntimeError("expired failed")

    deadlines: Deadlines[str] = Deadlines(expired)
    now = asyncio.get_running_loop().time()
    deadlines.set("broken", now + 0.01)
    deadlines.set("again", now + 0.02)
    await _settle(0.1)
    assert fired == ["broken", "again", "again-2"]


async def test_a_wave_of_departures_does_not_leave_a_heap_of_its_size() -> None:
    deadlines: Deadlines[int] = Deadlines(lambda key: None)
    now = asyncio.get_running_loop().time()
    for i in range(20_000):
        deadlines.set(i, now + 600 + i % 7)
    for i in range(1, 20_000):
        deadlines.discard(i)
    assert len(deadlines) == 1
    assert len(deadlines._heap) <= 2 * len(deadlines) + 64
    for i in range(3):  # re-filing a key again and again is bounded too
        for _ in range(5_000):
            deadlines.set(0, now + 600 + i)
    assert len(deadlines._heap) <= 2 * len(deadlines) + 64


async def test_a_dropped_key_is_not_kept_alive() -> None:
    class Key:
        pass

    deadlines: Deadlines[Key] = Deadlines(lambda key: None)
    now = asyncio.get_running_loop().time()
    keys = [Key() for _ in range(10)]
    refs = [weakref.ref(key) for key in keys]
    for i, key in enumerate(keys):
        deadlines.set(key, now + 60 + i)
    for key in keys[1:]:
        deadlines.discard(key)
    deadlines.set(keys[0], now + 30)  # moved: its old entry is stale
    del keys, key
    assert [ref() is None for ref in refs] == [False] + [True] * 9
