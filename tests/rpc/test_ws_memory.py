"""WaveRelease: memory is released once after a wave of disconnects, not during steady churn."""

from __future__ import annotations

import asyncio
import sys
import weakref
from typing import Any

from wirechat.rpc.ws.memory import WaveRelease, release_memory, shrink


class _Wave:
    """A WaveRelease whose every "release now" is counted, as the server would run it."""

    def __init__(self, min_wave: int, interval: float) -> None:
        self.policy = WaveRelease(min_wave=min_wave, interval=interval)
        self.released: list[float] = []

    def observe(self, open_connections: int, now: float, cleaning_up: int = 0) -> bool:
        if self.policy.observe(open_connections, now, cleaning_up):
            self.released.append(1.0)
            return True
        return False


def _wave(min_wave: int, interval: float) -> tuple[_Wave, list[float]]:
    wave = _Wave(min_wave, interval)
    return wave, wave.released


def test_releases_once_when_a_wave_has_ended() -> None:
    wave, released = _wave(min_wave=1000, interval=10)
    for t, n in enumerate([0, 5000, 10000, 10000, 6000, 2000, 1]):
        assert not wave.observe(n, float(t))  # rising, then still falling
    assert wave.observe(1, 7.0)  # no longer falling: the wave is over
    assert released == [1.0]
    assert not wave.observe(1, 8.0)  # once per wave


def test_waits_for_the_closed_connections_clean_up() -> None:
    wave, released = _wave(min_wave=1000, interval=10)
    wave.observe(10000, 0.0)
    assert not wave.observe(10, 1.0, cleaning_up=9990)
    assert not wave.observe(10, 2.0, cleaning_up=3)  # no longer falling, not yet clean
    assert wave.observe(10, 3.0, cleaning_up=0)
    assert released == [1.0]


def test_steady_churn_never_releases() -> None:
    wave, released = _wave(min_wave=1000, interval=10)
    for t in range(200):
        wave.observe(10000 - (t % 2) * 600, float(t))  # 600 come and go, again and again
    assert released == []


def test_small_waves_and_quick_repeats_are_ignored() -> None:
    wave, released = _wave(min_wave=1000, interval=10)
    wave.observe(1500, 0.0)
    wave.observe(600, 1.0)
    assert not wave.observe(600, 2.0)  # 900 gone: under min_wave
    wave.observe(5000, 3.0)
    wave.observe(100, 4.0)
    assert wave.observe(100, 5.0)
    wave.observe(5000, 6.0)
    wave.observe(100, 7.0)
    assert not wave.observe(100, 8.0)  # within the interval of the last release
    assert wave.observe(100, 15.5)
    assert len(released) == 2


async def test_release_memory_runs_here() -> None:
    await release_memory()  # a full collection, and malloc_trim where the C library has it


def _emptied_set(peak: int, kept: int) -> set[int]:
    table = set(range(peak))
    for i in range(kept, peak):
        table.discard(i)
    return table


def test_shrink_rebuilds_an_emptied_set_in_place() -> None:
    table = _emptied_set(10_000, 5)
    alias = table
    peak_size = sys.getsizeof(table)
    assert shrink(table)
    assert alias is table and table == {0, 1, 2, 3, 4}
    assert sys.getsizeof(table) < peak_size // 100


def test_shrink_keeps_a_dicts_entries_and_their_order() -> None:
    table: dict[Any, Any] = {i: str(i) for i in range(10_000)}
    for i in range(10_000):
        if i not in (42, 7, 9_999):
            del table[i]
    table["late"] = "x"
    peak_size = sys.getsizeof(table)
    assert shrink(table)
    assert list(table.items()) == [(7, "7"), (42, "42"), (9_999, "9999"), ("late", "x")]
    assert sys.getsizeof(table) < peak_size // 100


def test_a_table_that_is_still_full_or_small_is_left_alone() -> None:
    assert not shrink(set(range(10_000)))
    assert not shrink({i: i for i in range(10_000)})
    assert not shrink(_emptied_set(20, 1))  # small already: nothing to gain
    assert not shrink(set())


def test_release_shrinks_the_tables_and_asyncios_task_registry() -> None:
    async def main() -> tuple[int, int, int]:
        tasks = [asyncio.ensure_future(asyncio.sleep(0)) for _ in range(20_000)]
        for task in tasks:
            await task
        del tasks, task
        registry = getattr(asyncio.tasks, "_all_tasks", None)
        before = sys.getsizeof(getattr(registry, "data", set()))
        table = _emptied_set(10_000, 1)
        shrunk = await release_memory([table])
        after = sys.getsizeof(getattr(registry, "data", set()))
        return shrunk, before - after, sys.getsizeof(table)

    shrunk, registry_freed, table_size = asyncio.run(main())
    assert table_size < 1_000
    if isinstance(getattr(asyncio.tasks, "_all_tasks", None), weakref.WeakSet):
        assert shrunk == 2 and registry_freed > 100_000  # Python <= 3.13 keeps such a table
    else:
        assert shrunk == 1


def test_release_memory_on_the_servers_loop_leaves_nothing_scheduled() -> None:
    import uvloop

    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        fired: list[int] = []
        loop.call_later(0.05, fired.append, 1)  # a timer of the application's survives
        await release_memory()
        await asyncio.sleep(0.1)
        return len(fired), len(asyncio.all_tasks())

    assert uvloop.run(main()) == (1, 1)
