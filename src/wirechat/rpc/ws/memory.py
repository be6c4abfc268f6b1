"""Giving memory back after a wave of disconnects.

When thousands of clients leave at once (a proxy restarts, a network blips),
what their connections held does not return to the operating system by itself:
the sockets' objects sit in reference cycles (tasks, their cancellation
tracebacks, the transport and protocol pointing at each other) until the
collector's rare full pass, and the C allocator keeps freed pages in its heap.
:class:`WaveRelease` watches the connection count from the server's keep-alive
tick and, once the count has fallen to half of its peak and stopped falling (the
wave is over), runs one full collection and returns the allocator's free pages
(``malloc_trim``, glibc only).

A full collection costs a pause proportional to what is still alive, so it
runs only after a real wave (at least ``min_wave`` connections gone and the
count at most half its peak, both counted from the last release: a few releases
per wave at most), at most once per ``interval`` seconds, never during steady
coming and going.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable

__all__ = ["WaveRelease", "release_memory"]

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


def release_memory() -> None:
    """Collect every generation, then hand the C heap's free pages back."""
    gc.collect()
    if _TRIM is not None:
        _TRIM(0)


class WaveRelease:
    """Decides, from the open-connection count, when :func:`release_memory` runs."""

    __slots__ = ("_last", "_peak", "_previous", "interval", "min_wave", "release")

    def __init__(
        self,
        *,
        min_wave: int = 1000,
        interval: float = 2.0,
        release: Callable[[], None] = release_memory,
    ) -> None:
        self.min_wave = min_wave
        self.interval = interval
        self.release = release
        self._peak = 0
        self._previous = 0
        self._last = float("-inf")

    def observe(self, open_connections: int, now: float) -> bool:
        """Called on every keep-alive tick; True when it released memory."""
        falling = open_connections < self._previous
        self._previous = open_connections
        if open_connections > self._peak:
            self._peak = open_connections
            return False
        if falling:
            return False  # still leaving: release once, when the wave is over
        gone = self._peak - open_connections
        if gone < self.min_wave or open_connections > self._peak // 2:
            return False
        if now - self._last < self.interval:
            return False
        self.release()
        self._last = now
        logger.info("released memory after %d of %d connections closed", gone, self._peak)
        self._peak = open_connections
        return True
