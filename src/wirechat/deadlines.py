"""Many deadlines, one event-loop timer.

Every open connection has a deadline (its token's expiry), and a loop timer for each
costs a handle, a libuv timer and a slot in the loop's set of timers, none of which a
wave of disconnects gives back in full (docs/capacity.md "After a wave of disconnects").
:class:`Deadlines` keeps the deadlines in a heap and arms one timer, for the earliest.

A key that is moved or dropped leaves its old heap entry behind (a deadline and a
number, not the key), to be skipped when it comes up; the heap is rebuilt from the live
deadlines once such entries outnumber them, so a wave of departures does not leave a
heap of the wave's size.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Deadlines"]

K = TypeVar("K", bound=Hashable)

_SLACK = 64
"""Stale heap entries tolerated beyond the live ones before the heap is rebuilt."""


class Deadlines(Generic[K]):
    """Calls ``expired(key)`` once each key's deadline (event-loop time) has passed.

    Use from the event loop's thread. ``expired`` runs from the loop's timer; the key is
    already dropped when it runs, and it may set or drop any key.
    """

    def __init__(self, expired: Callable[[K], None]) -> None:
        self._expired = expired
        self._numbers = itertools.count()
        self._due: dict[K, int] = {}
        """Each key's entry number."""
        self._entries: dict[int, tuple[float, K]] = {}
        """The live entries: number -> (deadline, key)."""
        self._heap: list[tuple[float, int]] = []
        """(deadline, number), live or stale: a stale entry holds no key, so what a
        departed key refers to (a closed connection) is freed at once."""
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: object) -> bool:
        return key in self._due

    def set(self, key: K, deadline: float) -> None:
        """Call ``expired(key)`` at ``deadline`` (``loop.time()`` clock), replacing any
        deadline the key had."""
        old = self._due.get(key)
        if old is not None:
            del self._entries[old]
        number = next(self._numbers)
        self._due[key] = number
        self._entries[number] = (deadline, key)
        heapq.heappush(self._heap, (deadline, number))
        self._compact()
        self._arm()

    def discard(self, key: K) -> None:
        """Forget ``key``'s deadline, if it has one."""
        number = self._due.pop(key, None)
        if number is None:
            return
        del self._entries[number]
        self._compact()
        if not self._due and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def clear(self) -> None:
        self._due.clear()
        self._entries.clear()
        self._heap = []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def tables(self) -> tuple[dict[K, int], dict[int, tuple[float, K]]]:
        """The tables sized by the number of keys (shrunk after a wave of departures)."""
        return self._due, self._entries

    def _compact(self) -> None:
        if len(self._heap) > 2 * len(self._due) + _SLACK:
            self._heap = [(when, number) for number, (when, _key) in self._entries.items()]
            heapq.heapify(self._heap)

    def _arm(self) -> None:
        """Keep one timer, at the earliest live deadline."""
        heap, entries = self._heap, self._entries
        while heap and heap[0][1] not in entries:
            heapq.heappop(heap)  # moved or dropped since
        if not heap:
            return
        earliest = heap[0][0]
        timer = self._timer
        if timer is not None:
            if timer.when() <= earliest:
                return  # fires first anyway and re-arms then
            timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(earliest, self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        heap, entries = self._heap, self._entries
        try:
            while heap and heap[0][0] <= now:
                _when, number = heapq.heappop(heap)
                entry = entries.pop(number, None)
                if entry is None:
                    continue  # moved or dropped since
                key = entry[1]
                del self._due[key]
                self._expired(key)
        finally:
            self._arm()  # even if ``expired`` raised: the other keys still expire
