"""Giving memory back after a wave of disconnects.

When thousands of clients leave at once (a proxy restarts, a network blips),
what their connections held does not return to the operating system by itself:
the sockets' objects sit in reference cycles (tasks, their cancellation
tracebacks, the transport and protocol pointing at each other) until the
collector's rare full pass, and the C allocator keeps freed pages in its heap.
:class:`WaveRelease` watches the connection count from the server's keep-alive
tick and says when the count has fallen to half of its peak and stopped falling,
with the closed connections cleaned up (the wave is over). The server then runs
:func:`release_memory`: one full collection, then what keeps freed memory
resident is undone, and the allocator's free pages are returned (``malloc_trim``,
glibc only). Two things keep a wave's pages resident (docs/capacity.md "After a
wave of disconnects"):

- a Python set or dict keeps the hash table of its largest size after it empties,
  so the server's set of connections, asyncio's set of tasks, a room's set of
  listeners would each hold ~0.5 MiB after a wave of 10,000: :func:`shrink`;
- the event loop's free lists keep the last few hundred handles the wave freed,
  each on its own page of the heap the wave filled: :func:`_refill_free_lists`.

A full collection costs a pause proportional to what is still alive, so it
runs only after a real wave (at least ``min_wave`` connections gone and the
count at most half its peak, both counted from the last release: a few releases
per wave at most), at most once per ``interval`` seconds, never during steady
coming and going.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import sys
import weakref
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Shrinkable", "WaveRelease", "release_memory", "shrink"]

logger = logging.getLogger("wirechat.ws")


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    return trim


_TRIM = _malloc_trim()


Shrinkable = set[Any] | dict[Any, Any]

_SLACK = 4
"""A table is rebuilt when it takes more than this many times a fresh copy's size..."""
_SMALL = 64 * 1024
"""... and at least this many bytes: a smaller one would gain too little to matter."""


def shrink(table: Shrinkable) -> bool:
    """Rebuild ``table`` in place at the size its entries need now; True if it did.

    The object keeps its identity (whoever holds it sees the same set or dict), and
    its entries and their order are kept. Nothing else runs in between: no await, and
    the collector is held off, so no weak reference's callback sees it half-built.
    """
    size = sys.getsizeof(table)
    if size < _SMALL or size <= _SLACK * sys.getsizeof(table.copy()):
        return False  # about the size its entries need: a rebuild would gain nothing
    enabled = gc.isenabled()
    gc.disable()
    try:
        if isinstance(table, dict):
            items = list(table.items())
            table.clear()
            table.update(items)
        else:
            members = list(table)
            table.clear()
            table.update(members)
    finally:
        if enabled:
            gc.enable()
    return True


def _asyncio_tasks() -> Iterable[Shrinkable]:
    """asyncio's registry of tasks, which held every connection's task at the peak
    (a WeakSet of tasks up to Python 3.13; later versions keep no such table)."""
    for name in ("_all_tasks", "_scheduled_tasks"):
        registry = getattr(asyncio.tasks, name, None)
        if isinstance(registry, weakref.WeakSet):
            refs = getattr(registry, "data", None)  # its set of weak references
            if isinstance(refs, set):
                yield refs


_FREE_LIST = 256
"""At least the length of the event loop's free lists (uvloop keeps 250 handles of each
kind, CPython's ``_asyncio`` 255 future iterators)."""


def _refill_free_lists(loop: asyncio.AbstractEventLoop) -> list[list[Any]]:
    """Take the objects the loop keeps in its free lists, then as many new ones.

    The free lists hold what the wave freed last, one object on each of hundreds of
    pages across the heap it filled, and each such page stays resident. Dropping the new
    objects first (they refill the lists) and the taken ones after (the lists are full:
    they go back to the allocator) leaves in the lists objects made together, on few
    pages. The caller drops the groups in order once the loop has let go of them.
    """

    def nothing() -> None:
        return None

    groups: list[list[Any]] = [[], []]
    for group in groups:  # the first takes the free lists' objects, the second is new
        group += [loop.call_soon(nothing) for _ in range(_FREE_LIST)]
        group += [loop.call_later(3600, nothing) for _ in range(_FREE_LIST)]
        group += [loop.create_future().__await__() for _ in range(_FREE_LIST)]
        for handle in group[: 2 * _FREE_LIST]:
            handle.cancel()
    groups.reverse()  # new ones first
    return groups


async def release_memory(tables: Iterable[Shrinkable] = ()) -> int:
    """Collect every generation, shrink ``tables`` and asyncio's, move the loop's free
    lists off the wave's pages, then hand the C heap's free pages back. Returns how
    many tables were rebuilt."""
    gc.collect()  # first: what dies in it (closed sockets' cycles) leaves the tables
    shrunk = sum(shrink(table) for table in (*tables, *_asyncio_tasks()))
    groups = _refill_free_lists(asyncio.get_running_loop())
    await asyncio.sleep(0)  # the loop drops the cancelled handles from its queue
    while groups:
        groups.pop(0).clear()
    if _TRIM is not None:
        _TRIM(0)
    return shrunk


class WaveRelease:
    """Decides, from the open-connection count, when :func:`release_memory` runs."""

    __slots__ = ("_last", "_peak", "_previous", "interval", "min_wave")

    def __init__(self, *, min_wave: int = 1000, interval: float = 2.0) -> None:
        self.min_wave = min_wave
        self.interval = interval
        self._peak = 0
        self._previous = 0
        self._last = float("-inf")

    def observe(self, open_connections: int, now: float, cleaning_up: int = 0) -> bool:
        """Called on every keep-alive tick with the open connections and how many closed
        ones are still being cleaned up; True when a wave is over and memory should be
        released now."""
        falling = open_connections < self._previous
        self._previous = open_connections
        if open_connections > self._peak:
            self._peak = open_connections
            return False
        if falling or cleaning_up:
            # Still leaving: release once, when the wave is over and what the closed
            # connections held (their subscriptions' tasks) has gone.
            return False
        gone = self._peak - open_connections
        if gone < self.min_wave or open_connections > self._peak // 2:
            return False
        if now - self._last < self.interval:
            return False
        self._last = now
        logger.info("releasing memory after %d of %d connections closed", gone, self._peak)
        self._peak = open_connections
        return True
